import type { Intent } from "../suppression/intents.ts";
import type { AddressState } from "../suppression/policy.ts";
import type { SinkTarget, Tx } from "./write_item.ts";
import * as SQL from "./writer_sql.ts";

export type Change = {
  action: "suppress" | "lift";
  intent: Intent;
  test: boolean;
  /** Sinks the change came from (WriteItem.skipSinks): no job for them. */
  skip: readonly string[];
};

/**
 * One job per sink per changed address, in the same transaction as the change. Pending jobs for
 * the same address are superseded: only the latest state needs to reach the sink.
 */
export async function enqueueJobs(
  tx: Tx,
  sinks: readonly SinkTarget[],
  changes: ReadonlyMap<string, Change>,
  states: ReadonlyMap<string, AddressState>,
): Promise<void> {
  // A test's change neither queues jobs nor supersedes the real ones waiting for its address.
  const real = [...changes].filter(([, c]) => !c.test);
  if (real.length === 0 || sinks.length === 0) return;
  const whole = real.filter(([, c]) => c.skip.length === 0).map(([email]) => email);
  if (whole.length > 0) await tx.exec(SQL.SUPERSEDE_JOBS, whole, tx.now);
  // A change that skips its origin supersedes only the jobs of the sinks it goes to.
  const pairs = real.flatMap(([email, c]) =>
    c.skip.length === 0 ? [] : sinks.filter((s) => !c.skip.includes(s.name)).map((s) => [s.name, email]),
  );
  if (pairs.length > 0) await tx.exec(SQL.SUPERSEDE_SINK_JOBS, pairs, tx.now);
  const jobs: unknown[] = [];
  for (const [email, { action, intent, test, skip }] of changes) {
    if (test) continue;
    const reason = states.get(email)?.row?.reason ?? "manual";
    for (const sink of sinks) {
      if (action === "lift" && !sink.lifts) continue;
      if (skip.includes(sink.name)) continue;
      jobs.push([sink.name, email, action, reason, intent.eventType, intent.occurredAt]);
    }
  }
  if (jobs.length > 0) await tx.exec(SQL.INSERT_JOBS, jobs, tx.now);
}
