import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// Each suppression reason is now kept per source (resend, resend_contact, api, import), with the
// newest time something suppressed it and the newest time something lifted it, so a late retry
// cannot undo a suppression and `contact.updated` lifts only an unsubscribe that Resend's contact
// state set. Rows carry over with the same active/lifted state: a migration changes nobody's
// mailability (no outbox job would tell the sinks).
const SOURCE_OF_EVENT = `CASE WHEN event_type LIKE 'contact.%' THEN 'resend_contact'
  WHEN event_type LIKE 'api.%' THEN 'api' WHEN event_type = 'import' THEN 'import' ELSE 'resend' END`;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    sql`ALTER TABLE suppression_events ADD COLUMN source TEXT`,
    sql`UPDATE suppression_events SET source = ${sql.raw(SOURCE_OF_EVENT)}`,
    sql`CREATE TABLE suppression_reasons_new (
      email TEXT NOT NULL,
      reason TEXT NOT NULL,
      source TEXT NOT NULL,
      active INTEGER NOT NULL,
      suppressed_at INTEGER,
      lifted_at INTEGER,
      PRIMARY KEY (email, reason, source)
    ) STRICT, WITHOUT ROWID`,
    // The source of an old reason is that of its newest suppressing event in the history; with
    // none (a lift remembered alone), the one that could have set it. An active row's newest
    // event time was its newest suppression; an inactive row's was its lift.
    sql`INSERT INTO suppression_reasons_new (email, reason, source, active, suppressed_at, lifted_at)
      SELECT r.email, r.reason,
        CASE WHEN r.reason = '*' THEN 'api' ELSE coalesce(
          (SELECT h.source FROM suppression_events h
            WHERE h.email = r.email AND h.reason = r.reason
              AND h.decision IN ('suppressed', 'already_suppressed')
            ORDER BY h.occurred_at DESC, h.id DESC LIMIT 1),
          CASE r.reason WHEN 'unsubscribe' THEN 'resend_contact' WHEN 'manual' THEN 'api'
            WHEN 'imported' THEN 'import' ELSE 'resend' END) END,
        r.active,
        CASE WHEN r.active = 1 THEN r.last_event_at
          WHEN r.since < r.last_event_at THEN r.since ELSE NULL END,
        CASE WHEN r.active = 1 THEN NULL ELSE r.last_event_at END
      FROM suppression_reasons r`,
    sql`DROP TABLE suppression_reasons`,
    sql`ALTER TABLE suppression_reasons_new RENAME TO suppression_reasons`,
  ]) {
    await statement.execute(db);
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const statement of [
    sql`CREATE TABLE suppression_reasons_003 (
      email TEXT NOT NULL,
      reason TEXT NOT NULL,
      active INTEGER NOT NULL,
      since INTEGER,
      last_event_at INTEGER NOT NULL,
      PRIMARY KEY (email, reason)
    ) STRICT, WITHOUT ROWID`,
    sql`INSERT INTO suppression_reasons_003 (email, reason, active, since, last_event_at)
      SELECT email, reason, max(active), max(suppressed_at),
        max(max(coalesce(suppressed_at, lifted_at), coalesce(lifted_at, suppressed_at)))
      FROM suppression_reasons GROUP BY email, reason`,
    sql`DROP TABLE suppression_reasons`,
    sql`ALTER TABLE suppression_reasons_003 RENAME TO suppression_reasons`,
    sql`ALTER TABLE suppression_events DROP COLUMN source`,
  ]) {
    await statement.execute(db);
  }
}
