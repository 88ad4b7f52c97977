import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// `actor` says who made a change the history records: the name of the API token (`token:NAME`),
// `send-test-event` for a smoke test, null for Resend's events and the command line.
// The partial index serves GET /v1/changes, which walks only the changes (suppressed, lifted) in
// id order, i.e. commit order: without it a poller's page would read every soft bounce and
// duplicate decision in between, and the index costs a write only for the rows it holds.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE suppression_events ADD COLUMN actor TEXT`.execute(db);
  await sql`CREATE INDEX suppression_events_changes ON suppression_events (id)
    WHERE decision IN ('suppressed', 'lifted')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX suppression_events_changes`.execute(db);
  await sql`ALTER TABLE suppression_events DROP COLUMN actor`.execute(db);
}
