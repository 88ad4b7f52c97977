import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// Counting suppressions by reason (for /metrics and `suppressd status`) scanned the whole table:
// 1.5–3 s for a million rows, all of it blocking the event loop. With this covering index one
// reason's count reads only that reason's index entries (about 20 ms per 250,000 rows here).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX suppressions_by_reason ON suppressions (suppressed, reason)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX suppressions_by_reason`.execute(db);
}
