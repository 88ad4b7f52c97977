import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// Where a backfill from a service's API (`import --from resend|mailchimp`) stopped, so an
// interrupted run resumes at its last committed page instead of reading everything again, and
// when the last complete pass began, so the next run reads only what changed since (Mailchimp's
// since_last_changed) or stops where the previous pass began (Resend lists newest first).
// One row per list read: `source` names the listing ("resend.suppressions", "resend.contacts",
// "mailchimp.unsubscribed", "mailchimp.cleaned"), `scope` what it is read from ("" for Resend's
// account, "SINK/LIST_ID" for a Mailchimp audience).
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE import_cursors (
    source TEXT NOT NULL,
    scope TEXT NOT NULL,
    cursor TEXT,
    pass_started_at INTEGER,
    last_complete_at INTEGER,
    rows INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, scope)
  ) STRICT`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE import_cursors`.execute(db);
}
