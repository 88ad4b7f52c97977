import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    sql`CREATE TABLE webhook_events (
      svix_id TEXT PRIMARY KEY NOT NULL,
      type TEXT NOT NULL,
      status TEXT NOT NULL,
      occurred_at INTEGER,
      received_at INTEGER NOT NULL
    ) STRICT`,
    sql`CREATE INDEX webhook_events_received ON webhook_events (received_at)`,
    sql`CREATE TABLE quarantine (
      svix_id TEXT PRIMARY KEY NOT NULL,
      received_at INTEGER NOT NULL,
      reason TEXT NOT NULL,
      body BLOB NOT NULL,
      reprocessed_at INTEGER
    ) STRICT`,
    sql`CREATE TABLE suppressions (
      email TEXT PRIMARY KEY NOT NULL,
      suppressed INTEGER NOT NULL,
      reason TEXT NOT NULL,
      first_suppressed_at INTEGER NOT NULL,
      suppressed_at INTEGER NOT NULL,
      last_event_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      note TEXT
    ) STRICT, WITHOUT ROWID`,
    sql`CREATE TABLE suppression_reasons (
      email TEXT NOT NULL,
      reason TEXT NOT NULL,
      active INTEGER NOT NULL,
      since INTEGER,
      last_event_at INTEGER NOT NULL,
      PRIMARY KEY (email, reason)
    ) STRICT, WITHOUT ROWID`,
    sql`CREATE INDEX suppressions_listing ON suppressions (suppressed, updated_at, email)`,
    sql`CREATE TABLE suppression_events (
      id INTEGER PRIMARY KEY,
      email TEXT NOT NULL,
      decision TEXT NOT NULL,
      reason TEXT,
      event_type TEXT NOT NULL,
      svix_id TEXT,
      occurred_at INTEGER NOT NULL,
      recorded_at INTEGER NOT NULL,
      note TEXT
    ) STRICT`,
    sql`CREATE INDEX suppression_events_email ON suppression_events (email, occurred_at)`,
    sql`CREATE TABLE sync_jobs (
      id INTEGER PRIMARY KEY,
      sink TEXT NOT NULL,
      email TEXT NOT NULL,
      action TEXT NOT NULL,
      reason TEXT NOT NULL,
      event_type TEXT NOT NULL,
      occurred_at INTEGER NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at INTEGER NOT NULL,
      lease_owner TEXT,
      lease_until INTEGER,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT`,
    sql`CREATE INDEX sync_jobs_due ON sync_jobs (status, next_attempt_at)`,
    sql`CREATE INDEX sync_jobs_address ON sync_jobs (sink, email, status)`,
  ]) {
    await statement.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    "sync_jobs",
    "suppression_events",
    "suppression_reasons",
    "suppressions",
    "quarantine",
    "webhook_events",
  ]) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
}
