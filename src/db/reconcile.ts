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
 * Active reasons per suppressed address, for a sink whose `reasons` filter decides which of our
 * addresses it should hold.
 */
export async function activeReasons(db: Db): Promise<Map<string, Reason[]>> {
  const r = await sql<{ email: string; reason: Reason }>`SELECT email, reason FROM suppression_reasons
    WHERE active = 1 AND reason != '*'`.execute(db.read);
  const out = new Map<string, Reason[]>();
  for (const row of r.rows) {
    const list = out.get(row.email);
    if (list) list.push(row.reason);
    else out.set(row.email, [row.reason]);
  }
  return out;
}

/**
 * Queues a suppress job for `sink` for each of `emails` that is suppressed now and has no job
 * waiting on that sink, as `jobs backfill` does: with the sink's `reasons` filter, only
 * addresses with one of them in force, each with its strongest reason if the filter has it (else
 * the first of the filter's); never a suppression a smoke test began. In chunks, so the daemon's
 * commits run in between. Returns how many were queued.
 */
export async function queueSuppressJobs(
  db: Db,
  sink: string,
  emails: string[],
  opts: { eventType: string; now: number; reasons?: readonly Reason[] | null },
): Promise<number> {
  const { eventType, now } = opts;
  const filter = opts.reasons ? jsonParam(opts.reasons) : null;
  const inFilter = sql`(SELECT value FROM json_each(${filter}))`;
  let queued = 0;
  for (let i = 0; i < emails.length; i += 5000) {
    const part = jsonParam(emails.slice(i, i + 5000));
    const reason =
      filter === null
        ? sql`s.reason`
        : sql`coalesce(CASE WHEN s.reason IN ${inFilter} THEN s.reason END, (SELECT min(r.reason)
            FROM suppression_reasons r WHERE r.email = s.email AND r.active = 1 AND r.reason IN ${inFilter}))`;
    const filtered =
      filter === null
        ? sql`1`
        : sql`EXISTS (SELECT 1 FROM suppression_reasons r WHERE r.email = s.email AND r.active = 1
            AND r.reason IN ${inFilter})`;
    const r = await withBusyRetry(() =>
      sql`INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts,
          next_attempt_at, created_at, updated_at)
        SELECT ${sink}, s.email, 'suppress', ${reason}, ${eventType}, s.suppressed_at, 'pending', 0, ${now}, ${now}, ${now}
        FROM suppressions s
        WHERE s.email IN (SELECT value FROM json_each(${part})) AND s.suppressed = 1 AND ${filtered}
          AND NOT EXISTS (SELECT 1 FROM sync_jobs j WHERE j.sink = ${sink} AND j.email = s.email
            AND j.status IN ('pending', 'running'))
          AND NOT EXISTS (SELECT 1 FROM suppression_events e WHERE e.email = s.email
            AND e.occurred_at = s.suppressed_at AND e.decision = 'suppressed' AND e.actor = 'send-test-event')`.execute(
        db.write,
      ),
    );
    queued += Number(r.numAffectedRows ?? 0);
  }
  return queued;
}
