import type { Db } from "./client.ts";
import { withBusyRetry } from "./connection.ts";

/** Rows that name one address, per table. */
export interface AddressRows {
  suppressions: number;
  reasons: number;
  history: number;
  jobs: number;
  /** An erased suppression kept by hash (`forget --keep-suppressed`); 0 without privacy.hashKey. */
  erased: number;
}

const TABLES = [
  ["suppressions", "suppressions"],
  ["reasons", "suppression_reasons"],
  ["history", "suppression_events"],
  ["jobs", "sync_jobs"],
] as const satisfies readonly (readonly [keyof AddressRows, string])[];

/** What `forget` would erase (each count an index lookup on the address). */
export async function countAddressRows(db: Db, email: string, hash?: string): Promise<AddressRows> {
  const out: AddressRows = { suppressions: 0, reasons: 0, history: 0, jobs: 0, erased: 0 };
  for (const [key, table] of TABLES) {
    const r = await db.reader.execute({
      sql: `SELECT count(*) AS n FROM ${table} WHERE email = ?`,
      args: [email],
    });
    out[key] = Number(r.rows[0]?.n ?? 0);
  }
  if (hash !== undefined) {
    const r = await db.reader.execute({
      sql: "SELECT count(*) AS n FROM erased_suppressions WHERE hash = ?",
      args: [hash],
    });
    out.erased = Number(r.rows[0]?.n ?? 0);
  }
  return out;
}

/**
 * Erases every row that names `email` (an erasure request): its suppression, per-reason state,
 * history and sync jobs, in one transaction on the write connection, between two of the Writer's
 * commits. Afterwards the address may be mailed again, until an event suppresses it anew.
 * Quarantined bodies are raw webhooks that may name it among others; they are counted by the
 * caller and left for `events reprocess` and retention. With `hash`, an erased suppression kept
 * by it goes too: the address is then forgotten entirely.
 */
export function forgetAddress(db: Db, email: string, hash?: string): Promise<AddressRows> {
  // A running daemon may hold the lock for a commit: wait it out, as the Writer does.
  return withBusyRetry(() =>
    db.writer.exclusive(async (client) => {
      const tx = await client.transaction("write");
      try {
        const out: AddressRows = { suppressions: 0, reasons: 0, history: 0, jobs: 0, erased: 0 };
        if (hash !== undefined)
          out.erased = (
            await tx.execute({ sql: "DELETE FROM erased_suppressions WHERE hash = ?", args: [hash] })
          ).rowsAffected;
        for (const [key, table] of TABLES) {
          out[key] = (
            await tx.execute({ sql: `DELETE FROM ${table} WHERE email = ?`, args: [email] })
          ).rowsAffected;
        }
        await tx.commit();
        return out;
      } finally {
        tx.close();
      }
    }),
  );
}

/** Quarantined webhook bodies that contain `email` (a scan: the quarantine is small by nature). */
export async function quarantinedMentions(db: Db, email: string): Promise<string[]> {
  const r = await db.reader.execute({
    sql: "SELECT svix_id FROM quarantine WHERE instr(lower(CAST(body AS TEXT)), ?) > 0 ORDER BY svix_id",
    args: [email],
  });
  return r.rows.map((row) => row.svix_id as string);
}
