import { type AddressState, type HistoryEntry, isActive } from "../suppression/policy.ts";
import type { SuppressionTable } from "./schema.ts";
import type { Tx } from "./write_item.ts";
import { reasonsKey } from "./write_state.ts";
import * as SQL from "./writer_sql.ts";

export type HistoryRow = HistoryEntry & { svix_id: string | null; actor: string | null };

/** Appends the policy's decisions to the history. */
export async function writeHistory(tx: Tx, history: readonly HistoryRow[]): Promise<void> {
  if (history.length === 0) return;
  const rows = history.map((h) => [
    h.email,
    h.decision,
    h.reason,
    h.source,
    h.event_type,
    h.svix_id,
    h.occurred_at,
    h.note,
    h.actor,
  ]);
  await tx.exec(SQL.INSERT_HISTORY, rows, tx.now);
}

/**
 * Writes back the summary rows and the per-reason rows the policy changed, compared with what
 * `loaded` held: most deliveries change nothing.
 */
export async function writeStates(
  tx: Tx,
  states: ReadonlyMap<string, AddressState>,
  loaded: ReadonlyMap<string, { row: SuppressionTable | null; reasons: string }>,
): Promise<void> {
  const rows = [...states.entries()]
    .filter(([email, s]) => s.row !== null && loaded.get(email)?.row !== s.row)
    .map(([, { row: r }]) => r as SuppressionTable)
    .map((r) => [
      r.email,
      r.suppressed,
      r.reason,
      r.first_suppressed_at,
      r.suppressed_at,
      r.last_event_at,
      r.updated_at,
      r.note,
    ]);
  if (rows.length > 0) await tx.exec(SQL.UPSERT_SUPPRESSIONS, rows);
  const reasons = [...states.entries()]
    .filter(([email, s]) => loaded.get(email)?.reasons !== reasonsKey(s))
    .flatMap(([email, s]) =>
      [...s.reasons.values()].map((r) => [
        email,
        r.reason,
        r.source,
        isActive(s, r) ? 1 : 0,
        r.suppressedAt,
        r.liftedAt,
      ]),
    );
  if (reasons.length > 0) await tx.exec(SQL.UPSERT_REASONS, reasons);
}
