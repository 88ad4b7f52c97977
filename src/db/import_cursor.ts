import { sql } from "kysely";
import type { Db } from "./client.ts";
import { withBusyRetry } from "./connection.ts";
import { jsonParam } from "./json_param.ts";

/** Where a backfill of one listing stands (see migration 007). */
export interface ImportCursor {
  source: string;
  scope: string;
  /** Where the running pass stopped; null: at the start (no pass running). */
  cursor: string | null;
  /** When the running pass began; null when none is running. */
  passStartedAt: number | null;
  /** When the last complete pass began; null before the first one finished. */
  lastCompleteAt: number | null;
  /** Rows read by the running pass so far. */
  rows: number;
}

export async function readCursor(db: Db, source: string, scope: string): Promise<ImportCursor> {
  const r = await sql<{
    cursor: string | null;
    pass_started_at: number | null;
    last_complete_at: number | null;
    rows: number;
  }>`SELECT cursor, pass_started_at, last_complete_at, rows FROM import_cursors
     WHERE source = ${source} AND scope = ${scope}`.execute(db.read);
  const row = r.rows[0];
  return {
    source,
    scope,
    cursor: row?.cursor ?? null,
    passStartedAt: row?.pass_started_at ?? null,
    lastCompleteAt: row?.last_complete_at ?? null,
    rows: row?.rows ?? 0,
  };
}

/**
 * Saves the position after a page was committed. Written after the rows' own commit: a crash in
 * between makes the next run read that page again, which the backfill's de-duplication turns
 * into no writes.
 */
export async function saveCursor(db: Db, c: ImportCursor, now: number): Promise<void> {
  await withBusyRetry(() =>
    sql`INSERT INTO import_cursors (source, scope, cursor, pass_started_at, last_complete_at, rows, updated_at)
      VALUES (${c.source}, ${c.scope}, ${c.cursor}, ${c.passStartedAt}, ${c.lastCompleteAt}, ${c.rows}, ${now})
      ON CONFLICT (source, scope) DO UPDATE SET cursor = excluded.cursor,
        pass_started_at = excluded.pass_started_at, last_complete_at = excluded.last_complete_at,
        rows = excluded.rows, updated_at = excluded.updated_at`.execute(db.write),
  );
}

/** Every cursor, for `status`-like listings and tests. */
export async function listCursors(db: Db): Promise<ImportCursor[]> {
  const r = await sql<{
    source: string;
    scope: string;
    cursor: string | null;
    pass_started_at: number | null;
    last_complete_at: number | null;
    rows: number;
  }>`SELECT source, scope, cursor, pass_started_at, last_complete_at, rows FROM import_cursors
     ORDER BY source, scope`.execute(db.read);
  return r.rows.map((row) => ({
    source: row.source,
    scope: row.scope,
    cursor: row.cursor,
    passStartedAt: row.pass_started_at,
    lastCompleteAt: row.last_complete_at,
    rows: row.rows,
  }));
}

/** One (reason, source) of an address as the suppression_reasons table holds it. */
export interface KnownReason {
  reason: string;
  source: string;
  active: boolean;
  suppressedAt: number | null;
  liftedAt: number | null;
}

/**
 * Every reason row of these addresses, so a backfill writes only what would change something:
 * a second run (or a page read again after a crash) then writes nothing at all, history included.
 */
export async function knownReasons(db: Db, emails: string[]): Promise<Map<string, KnownReason[]>> {
  const out = new Map<string, KnownReason[]>();
  if (emails.length === 0) return out;
  const r = await sql<{
    email: string;
    reason: string;
    source: string;
    active: number;
    suppressed_at: number | null;
    lifted_at: number | null;
  }>`SELECT email, reason, source, active, suppressed_at, lifted_at FROM suppression_reasons
     WHERE email IN (SELECT value FROM json_each(${jsonParam(emails)}))`.execute(db.read);
  for (const row of r.rows) {
    const list = out.get(row.email) ?? [];
    list.push({
      reason: row.reason,
      source: row.source,
      active: row.active === 1,
      suppressedAt: row.suppressed_at,
      liftedAt: row.lifted_at,
    });
    out.set(row.email, list);
  }
  return out;
}
