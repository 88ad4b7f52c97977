import { type Intent, intentKey } from "../suppression/intents.ts";
import { applyIntent, emptyState } from "../suppression/policy.ts";
import { claim } from "./write_claims.ts";
import { type Change, enqueueJobs, inForce } from "./write_enqueue.ts";
import { erasedAmong } from "./write_erased.ts";
import type { BatchRules, Tx, WriteItem, WriteResult } from "./write_item.ts";
import { type HistoryRow, writeHistory, writeStates } from "./write_persist.ts";
import { quarantine } from "./write_quarantine.ts";
import { loadStates, reasonsKey } from "./write_state.ts";

/**
 * Applies one batch inside its transaction, step by step: claim the idempotency keys, keep the
 * quarantined bytes, load the addresses' state, let the policy decide, write the result and the
 * outbox. One result per item, in order.
 */
export async function applyBatch(
  tx: Tx,
  items: readonly WriteItem[],
  rules: BatchRules,
): Promise<WriteResult[]> {
  const accepted = await claim(tx, items);
  const live = items.filter((_, n) => accepted[n]);
  await quarantine(tx, live);

  // An address erased with --keep-suppressed is left out: nothing about it is stored again.
  const erased = await erasedAmong(
    tx,
    rules.hashKey ?? null,
    live.flatMap((i) => i.intents),
  );
  const kept = (intent: Intent) => intent.kind === "invalid_address" || !erased.has(intent.email);
  const intents = live.flatMap((i) => i.intents).filter(kept);
  const states = await loadStates(tx, intents, rules.softBounce);
  const loaded = new Map([...states].map(([email, st]) => [email, { row: st.row, reasons: reasonsKey(st) }]));
  // What filtered sinks saw before this batch (the policy updates `states` in place).
  const before = new Map([...states].map(([email, st]) => [email, inForce(st)]));

  // Decide in arrival order, against state that includes the batch's earlier decisions.
  const history: HistoryRow[] = [];
  const changes = new Map<string, Change>();
  const touched = new Map<string, Change>();
  const changedPerItem = live.map((item) => {
    let changed = 0;
    for (const intent of item.intents.filter(kept)) {
      const state = states.get(intentKey(intent)) ?? emptyState();
      const result = applyIntent(state, intent, rules.softBounce, tx.now);
      for (const h of result.history) history.push({ ...h, svix_id: item.svixId, actor: item.actor ?? null });
      const skip = item.skipSinks ?? [];
      if (intent.kind !== "invalid_address") {
        // A smoke test's touch counts as a test only if nothing real touched the address too.
        const test = item.test === true && (touched.get(intent.email)?.test ?? true);
        touched.set(intent.email, { action: null, intent, test, skip });
      }
      if (result.change) {
        changes.set(intentKey(intent), { action: result.change, intent, test: item.test === true, skip });
        changed++;
      }
    }
    return changed;
  });

  await writeHistory(tx, history);
  await writeStates(tx, states, loaded);
  await enqueueJobs(tx, rules.sinks, { changes, touched, before, states });

  let n = 0;
  return items.map((item, idx) => {
    if (!accepted[idx]) return { status: "duplicate", changed: 0 };
    return { status: item.status, changed: changedPerItem[n++] ?? 0 };
  });
}
