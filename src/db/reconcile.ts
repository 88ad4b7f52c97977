import { sql } from "kysely";
import type { Reason } from "../suppression/types.ts";
import type { Db } from "./client.ts";
import { withBusyRetry } from "./connection.ts";
import { jsonParam } from "./json_param.ts";

/**
 * Every suppressed address with its reason in force, for a comparison with a service's lists
 * (reconcile). Read once into memory: 100,000 addresses are a few megabytes.
 */
export async function suppressedAddresses(db: Db): Promise<Map<string, Reason>> {
  const r = await sql<{ email: string; reason: Reason }>`SELECT email, reason FROM suppressions
    WHERE suppressed = 1`.execute(db.read);
  return new Map(r.rows.map((row) => [row.email, row.reason]));
}

/**
 * Queues a suppress job for `sink` for each of `emails` that is suppressed now and has no job
 * waiting on that sink (as `jobs backfill` does), in chunks, so the daemon's commits run in
 * between. Returns how many were queued.
 */
export async function queueSuppressJobs(
  db: Db,
  sink: string,
  emails: string[],
  eventType: string,
  now: number,
): Promise<number> {
  let queued = 0;
  for (let i = 0; i < emails.length; i += 5000) {
    const part = jsonParam(emails.slice(i, i + 5000));
    const r = await withBusyRetry(() =>
      sql`INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts,
          next_attempt_at, created_at, updated_at)
        SELECT ${sink}, s.email, 'suppress', s.reason, ${eventType}, s.suppressed_at, 'pending', 0, ${now}, ${now}, ${now}
        FROM suppressions s
        WHERE s.email IN (SELECT value FROM json_each(${part})) AND s.suppressed = 1
          AND NOT EXISTS (SELECT 1 FROM sync_jobs j WHERE j.sink = ${sink} AND j.email = s.email
            AND j.status IN ('pending', 'running'))`.execute(db.write),
    );
    queued += Number(r.numAffectedRows ?? 0);
  }
  return queued;
}
