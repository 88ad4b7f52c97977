import type { Intent } from "../suppression/intents.ts";
import { type AddressState, activeReasons } from "../suppression/policy.ts";
import type { Reason } from "../suppression/types.ts";
import type { SinkTarget, Tx } from "./write_item.ts";
import * as SQL from "./writer_sql.ts";

/**
 * What an item did to an address (`action` null: it touched it without changing its
 * mailability), and where the resulting jobs come from.
 */
export type Change = {
  action: "suppress" | "lift" | null;
  intent: Intent;
  test: boolean;
  /** The item's `skipSinks`: where it came from. */
  skip: readonly string[];
};

/** The reasons in force, strongest first. */
export function inForce(state: AddressState): Reason[] {
  return activeReasons(state).map((r) => r.reason as Reason);
}

/**
 * One job per sink per changed address, in the same transaction as the change. Pending jobs for
 * the same address and sink are superseded: only the latest state needs to reach the sink. A
 * sink without a reason filter hears of every change of mailability; a filtered one when its
 * view changes (suppressed while one of its reasons is in force), with the strongest of its
 * reasons. A sink the item came from (`skipSinks`) is not sent its own change back, and its
 * waiting jobs are left as they are: they carry our earlier changes, which it has not heard of
 * (a lift removing our tag still applies after the member unsubscribed there).
 */
export async function enqueueJobs(
  tx: Tx,
  sinks: readonly SinkTarget[],
  batch: {
    /** The last change of mailability per address. */
    changes: ReadonlyMap<string, Change>;
    /** The last item that touched each address. */
    touched: ReadonlyMap<string, Change>;
    /** The reasons in force before the batch. */
    before: ReadonlyMap<string, Reason[]>;
    states: ReadonlyMap<string, AddressState>;
  },
): Promise<void> {
  if (sinks.length === 0) return;
  const supersede: [string, string][] = [];
  const jobs: unknown[] = [];
  for (const [email, touched] of batch.touched) {
    const state = batch.states.get(email);
    const after = state ? inForce(state) : [];
    const was = batch.before.get(email) ?? [];
    for (const sink of sinks) {
      // Unfiltered sinks follow the address's last change of mailability, filtered ones their own
      // view, from the last item that touched the address. A test's change neither queues jobs
      // nor supersedes the real ones waiting for its address.
      const from = sink.reasons == null ? batch.changes.get(email) : touched;
      if (!from || from.test || from.skip.includes(sink.name)) continue;
      let action: "suppress" | "lift";
      let reason: Reason;
      if (sink.reasons == null) {
        action = from.action as "suppress" | "lift";
        reason = state?.row?.reason ?? "manual";
      } else {
        const wanted = sink.reasons;
        const now = after.find((r) => wanted.includes(r));
        const then = was.find((r) => wanted.includes(r));
        if (now !== undefined && then === undefined) action = "suppress";
        else if (now === undefined && then !== undefined) action = "lift";
        else continue;
        reason = (now ?? then) as Reason;
      }
      supersede.push([sink.name, email]);
      if (action === "lift" && !sink.lifts) continue;
      jobs.push([sink.name, email, action, reason, from.intent.eventType, from.intent.occurredAt]);
    }
  }
  if (supersede.length > 0) await tx.exec(SQL.SUPERSEDE_SINK_JOBS, supersede, tx.now);
  if (jobs.length > 0) await tx.exec(SQL.INSERT_JOBS, jobs, tx.now);
}
