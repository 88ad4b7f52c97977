import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// Every commit that changes an address supersedes that address's pending sync jobs
// (`status = 'pending' AND email IN (…)`). Without an index that starts with the address, SQLite
// walked every pending job for each commit: about 8 ms per commit with 50,000 jobs queued, all of
// it blocking the event loop during a burst. With this index each address is one lookup.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX sync_jobs_by_email ON sync_jobs (email, status)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX sync_jobs_by_email`.execute(db);
}
