import { createHmac } from "node:crypto";
import type { Reason } from "../suppression/types.ts";
import type { Db } from "./client.ts";
import { withBusyRetry } from "./connection.ts";
import { jsonParam } from "./json_param.ts";

/**
 * An erased address's key: HMAC-SHA256 of the normalised address under `privacy.hashKey`, in hex.
 * Without the key, a list of candidate addresses cannot be hashed to find who is on the list.
 */
export function addressHash(key: string, email: string): string {
  return createHmac("sha256", key).update(email, "utf8").digest("hex");
}

/** What `forget --keep-suppressed` removed, per table, and the reason kept with the hash. */
export interface ErasedRows {
  suppressions: number;
  reasons: number;
  history: number;
  jobs: number;
  /** Jobs not yet sent (pending, running, dead): those sinks never heard of this suppression. */
  unsentJobs: { sink: string; status: string }[];
  reason: Reason;
  /** Whether the address was suppressed before (if not, it is now, as `manual`). */
  wasSuppressed: boolean;
}

const ADDRESS_TABLES = [
  ["suppressions", "suppressions"],
  ["reasons", "suppression_reasons"],
  ["history", "suppression_events"],
  ["jobs", "sync_jobs"],
] as const;

/**
 * Erases every row that names `email` and keeps it suppressed by its hash alone, in one
 * transaction: the reason in force is kept with the hash (`manual` if it was not suppressed, since
 * the person asked never to be mailed). No job tells the sinks anything: a lift would resubscribe
 * nobody, and a new job would store the address again.
 */
export function eraseKeepingSuppressed(
  db: Db,
  email: string,
  hash: string,
  now: number,
): Promise<ErasedRows> {
  return withBusyRetry(() =>
    db.writer.exclusive(async (client) => {
      const tx = await client.transaction("write");
      try {
        const row = (
          await tx.execute({
            sql: "SELECT suppressed, reason FROM suppressions WHERE email = ?",
            args: [email],
          })
        ).rows[0];
        const wasSuppressed = row?.suppressed === 1;
        const reason = (wasSuppressed ? row?.reason : "manual") as Reason;
        const unsent = await tx.execute({
          sql: "SELECT sink, status FROM sync_jobs WHERE email = ? AND status IN ('pending', 'running', 'dead') ORDER BY sink",
          args: [email],
        });
        const out: ErasedRows = {
          suppressions: 0,
          reasons: 0,
          history: 0,
          jobs: 0,
          unsentJobs: unsent.rows.map((r) => ({ sink: r.sink as string, status: r.status as string })),
          reason,
          wasSuppressed,
        };
        for (const [key, table] of ADDRESS_TABLES) {
          out[key] = (
            await tx.execute({ sql: `DELETE FROM ${table} WHERE email = ?`, args: [email] })
          ).rowsAffected;
        }
        // A second erasure keeps the first reason and time.
        await tx.execute({
          sql: "INSERT INTO erased_suppressions (hash, reason, erased_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING",
          args: [hash, reason, now],
        });
        await tx.commit();
        return out;
      } finally {
        tx.close();
      }
    }),
  );
}

/** The erased suppression of one address hash, if any (one primary-key lookup). */
export async function findErased(
  db: Db,
  hash: string,
): Promise<{ reason: Reason; erased_at: number } | undefined> {
  const r = await db.reader.execute({
    sql: "SELECT reason, erased_at FROM erased_suppressions WHERE hash = ?",
    args: [hash],
  });
  const row = r.rows[0];
  return row ? { reason: row.reason as Reason, erased_at: row.erased_at as number } : undefined;
}

/** Which of these hashes are erased suppressions, with their reasons (bulk check). */
export async function erasedAmong(
  db: Db,
  hashes: readonly string[],
): Promise<Map<string, { reason: Reason; erased_at: number }>> {
  const out = new Map<string, { reason: Reason; erased_at: number }>();
  if (hashes.length === 0) return out;
  const r = await db.reader.execute({
    sql: "SELECT hash, reason, erased_at FROM erased_suppressions WHERE hash IN (SELECT value FROM json_each(?))",
    args: [jsonParam(hashes)],
  });
  for (const row of r.rows)
    out.set(row.hash as string, { reason: row.reason as Reason, erased_at: row.erased_at as number });
  return out;
}
