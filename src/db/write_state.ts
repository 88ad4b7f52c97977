import { type Intent, intentKey } from "../suppression/intents.ts";
import { type AddressState, emptyState, reasonKey, type SoftBounceRule } from "../suppression/policy.ts";
import type { Source } from "../suppression/sources.ts";
import type { Reason } from "../suppression/types.ts";
import type { SuppressionTable } from "./schema.ts";
import type { Tx } from "./write_item.ts";
import * as SQL from "./writer_sql.ts";

/** The state the policy needs, for every address the intents name, loaded at once. */
export async function loadStates(
  tx: Tx,
  intents: readonly Intent[],
  softBounce: SoftBounceRule,
): Promise<Map<string, AddressState>> {
  const states = new Map<string, AddressState>();
  const emails = [...new Set(intents.filter((i) => i.kind !== "invalid_address").map(intentKey))];
  if (emails.length === 0) return states;
  for (const email of emails) states.set(email, emptyState());
  for (const row of (await tx.exec(SQL.SELECT_SUPPRESSIONS, emails)).rows) {
    const state = states.get(row.email as string);
    if (state) state.row = suppressionRow(row);
  }
  for (const r of (await tx.exec(SQL.SELECT_REASONS, emails)).rows) {
    const reason = r.reason as Reason | "*";
    const source = r.source as Source;
    states.get(r.email as string)?.reasons.set(reasonKey(reason, source), {
      reason,
      source,
      suppressedAt: r.suppressed_at as number | null,
      liftedAt: r.lifted_at as number | null,
    });
  }
  // The soft-bounce limit is recomputed from the bounces since its last lift whenever a soft
  // bounce, a delivery or an API lift of everything arrives (see policy.ts).
  const soft = intents.filter(
    (i) => i.kind === "soft_bounce" || i.kind === "delivered" || (i.kind === "lift" && i.reasons === "*"),
  );
  if (soft.length > 0 && softBounce.count > 0) {
    for (const r of (await tx.exec(SQL.SELECT_SOFT_BOUNCES, [...new Set(soft.map(intentKey))])).rows)
      states.get(r.email as string)?.soft.push(r.occurred_at as number);
  }
  return states;
}

/** Copies only the columns: a libsql Row also carries indexed keys and `length`. */
function suppressionRow(r: Record<string, unknown>): SuppressionTable {
  return {
    email: r.email as string,
    suppressed: r.suppressed as 0 | 1,
    reason: r.reason as SuppressionTable["reason"],
    first_suppressed_at: r.first_suppressed_at as number,
    suppressed_at: r.suppressed_at as number,
    last_event_at: r.last_event_at as number,
    updated_at: r.updated_at as number,
    note: r.note as string | null,
  };
}

/** A snapshot of an address's reasons, to tell whether the policy changed them. */
export function reasonsKey(state: AddressState): string {
  return JSON.stringify([...state.reasons.values()]);
}
