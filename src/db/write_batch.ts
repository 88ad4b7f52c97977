import { intentKey } from "../suppression/intents.ts";
import { applyIntent, emptyState } from "../suppression/policy.ts";
import { claim } from "./write_claims.ts";
import { type Change, enqueueJobs } from "./write_enqueue.ts";
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

  const intents = live.flatMap((i) => i.intents);
  const states = await loadStates(tx, intents, rules.softBounce);
  const loaded = new Map([...states].map(([email, st]) => [email, { row: st.row, reasons: reasonsKey(st) }]));

  // Decide in arrival order, against state that includes the batch's earlier decisions.
  const history: HistoryRow[] = [];
  const changes = new Map<string, Change>();
  const changedPerItem = live.map((item) => {
    let changed = 0;
    for (const intent of item.intents) {
      const state = states.get(intentKey(intent)) ?? emptyState();
      const result = applyIntent(state, intent, rules.softBounce, tx.now);
      for (const h of result.history) history.push({ ...h, svix_id: item.svixId, actor: item.actor ?? null });
      if (result.change) {
        changes.set(intentKey(intent), {
          action: result.change,
          intent,
          test: item.test === true,
          skip: item.skipSinks ?? [],
        });
        changed++;
      }
    }
    return changed;
  });

  await writeHistory(tx, history);
  await writeStates(tx, states, loaded);
  await enqueueJobs(tx, rules.sinks, changes, states);

  let n = 0;
  return items.map((item, idx) => {
    if (!accepted[idx]) return { status: "duplicate", changed: 0 };
    return { status: item.status, changed: changedPerItem[n++] ?? 0 };
  });
}
