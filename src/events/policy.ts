import type { Decision, Reason, SuppressionTable } from "../db/schema.ts";
import type { Intent } from "./intents.ts";

/**
 * The suppression policy: given what we know of one address and one intent, decide. Pure and
 * synchronous, so the writer can run it inside its transaction for a whole batch and tests can
 * run it on a table of cases.
 */

export interface SoftBounceRule {
  /** Soft bounces within `days` that suppress; 0 turns the rule off. */
  count: number;
  days: number;
}

export interface AddressState {
  row: SuppressionTable | null;
  /** Recent soft bounces and resets, any order. */
  soft: { decision: "soft_bounce" | "soft_bounce_reset"; at: number }[];
}

export interface HistoryEntry {
  email: string;
  decision: Decision;
  reason: Reason | null;
  event_type: string;
  occurred_at: number;
  note: string | null;
}

export interface PolicyResult {
  history: HistoryEntry[];
  /** Set when the address's mailability changed: the outbox needs to hear of it. */
  change: "suppress" | "lift" | null;
}

const DAY = 86_400_000;

/**
 * When an address is already suppressed and another reason arrives, the stronger one is kept, so
 * a lift of a weaker kind (an unsubscribe revoked) cannot clear a stronger one (a spam complaint).
 */
const STRENGTH: Record<Reason, number> = {
  complaint: 6,
  manual: 5,
  hard_bounce: 4,
  provider_suppressed: 3,
  unsubscribe: 2,
  soft_bounce_limit: 1,
  imported: 1,
};

export function applyIntent(
  state: AddressState,
  intent: Intent,
  rule: SoftBounceRule,
  now: number,
): PolicyResult {
  switch (intent.kind) {
    case "invalid_address":
      return {
        history: [
          entry(intent.raw, "invalid_address", null, intent, "not an email address; nothing suppressed"),
        ],
        change: null,
      };
    case "suppress":
      return suppress(state, intent.email, intent.reason, intent, now, intent.note ?? null);
    case "lift":
      return lift(state, intent, now);
    case "soft_bounce":
      return softBounce(state, intent, rule, now);
    case "delivered":
      return delivered(state, intent, rule);
  }
}

function suppress(
  state: AddressState,
  email: string,
  reason: Reason,
  intent: Intent,
  now: number,
  note: string | null,
): PolicyResult {
  const at = intent.occurredAt;
  const row = state.row;
  if (row === null) {
    state.row = {
      email,
      suppressed: 1,
      reason,
      first_suppressed_at: at,
      suppressed_at: at,
      last_event_at: at,
      updated_at: now,
      lifted_reasons: null,
      note,
    };
    return { history: [entry(email, "suppressed", reason, intent, note)], change: "suppress" };
  }
  if (row.suppressed === 1) {
    const stronger = STRENGTH[reason] > STRENGTH[row.reason];
    state.row = {
      ...row,
      reason: stronger ? reason : row.reason,
      last_event_at: Math.max(row.last_event_at, at),
      updated_at: stronger ? now : row.updated_at,
      note: stronger && note !== null ? note : row.note,
    };
    return { history: [entry(email, "already_suppressed", reason, intent, note)], change: null };
  }
  // Lifted. A suppression older than the lift stays lifted if that lift covered its kind: an
  // older event never overrides a newer state.
  if (at < row.last_event_at && covers(row.lifted_reasons, reason)) {
    return {
      history: [entry(email, "stale", reason, intent, "older than the lift now in force")],
      change: null,
    };
  }
  state.row = {
    ...row,
    suppressed: 1,
    reason,
    suppressed_at: at,
    last_event_at: Math.max(row.last_event_at, at),
    updated_at: now,
    lifted_reasons: null,
    note,
  };
  return { history: [entry(email, "suppressed", reason, intent, note)], change: "suppress" };
}

function lift(state: AddressState, intent: Extract<Intent, { kind: "lift" }>, now: number): PolicyResult {
  const row = state.row;
  const why = (text: string): PolicyResult => ({
    history: [entry(intent.email, "lift_ignored", row?.reason ?? null, intent, text)],
    change: null,
  });
  if (row === null || row.suppressed === 0) return why("address was not suppressed");
  if (!covers(intent.reasons === "*" ? "*" : intent.reasons.join(","), row.reason)) {
    return why(`suppressed for ${row.reason}, which this event does not lift`);
  }
  // An API lift is an operator's decision now; an event only lifts what began before it.
  if (intent.reasons !== "*" && row.suppressed_at >= intent.occurredAt) {
    return why("the suppression is newer than this event");
  }
  state.row = {
    ...row,
    suppressed: 0,
    last_event_at: Math.max(row.last_event_at, intent.occurredAt),
    updated_at: now,
    lifted_reasons: intent.reasons === "*" ? "*" : intent.reasons.join(","),
    note: intent.note ?? row.note,
  };
  return {
    history: [entry(intent.email, "lifted", row.reason, intent, intent.note ?? null)],
    change: "lift",
  };
}

function softBounce(
  state: AddressState,
  intent: Extract<Intent, { kind: "soft_bounce" }>,
  rule: SoftBounceRule,
  now: number,
): PolicyResult {
  state.soft.push({ decision: "soft_bounce", at: intent.occurredAt });
  // Bounces arrive out of order: a late one may complete a window that ends at a newer bounce, so
  // count every window of `days` that contains this bounce (each ends at a bounce at or after it).
  const latest = intent.occurredAt + rule.days * DAY;
  let counted = 0;
  for (const s of state.soft) {
    if (s.decision === "soft_bounce" && s.at >= intent.occurredAt && s.at < latest)
      counted = Math.max(counted, countSoftBounces(state, s.at, rule));
  }
  const note =
    rule.count > 0 ? `${counted} of ${rule.count} within ${rule.days} days` : "soft-bounce limit is off";
  const history = [entry(intent.email, "soft_bounce", null, intent, note)];
  if (rule.count === 0 || counted < rule.count) return { history, change: null };
  const result = suppress(state, intent.email, "soft_bounce_limit", intent, now, note);
  return { history: [...history, ...result.history], change: result.change };
}

function delivered(
  state: AddressState,
  intent: Extract<Intent, { kind: "delivered" }>,
  rule: SoftBounceRule,
): PolicyResult {
  // Only a delivery that resets something is worth a history row: every delivered email would
  // otherwise be one.
  if (rule.count === 0 || countSoftBounces(state, intent.occurredAt, rule) === 0)
    return { history: [], change: null };
  state.soft.push({ decision: "soft_bounce_reset", at: intent.occurredAt });
  return {
    history: [entry(intent.email, "soft_bounce_reset", null, intent, "delivered: soft-bounce count reset")],
    change: null,
  };
}

/** Soft bounces in the window ending at `at`, after the last reset at or before `at`. */
export function countSoftBounces(state: AddressState, at: number, rule: SoftBounceRule): number {
  let since = at - rule.days * DAY;
  for (const s of state.soft)
    if (s.decision === "soft_bounce_reset" && s.at <= at && s.at > since) since = s.at;
  return state.soft.filter((s) => s.decision === "soft_bounce" && s.at > since && s.at <= at).length;
}

function covers(lifted: string | null, reason: Reason): boolean {
  return lifted === "*" || (lifted ?? "").split(",").includes(reason);
}

function entry(
  email: string,
  decision: Decision,
  reason: Reason | null,
  intent: Intent,
  note: string | null,
): HistoryEntry {
  return { email, decision, reason, event_type: intent.eventType, occurred_at: intent.occurredAt, note };
}

/** How far back the writer must load soft-bounce history to decide intents at `earliest`. */
export function softWindowStart(earliest: number, rule: SoftBounceRule): number {
  return earliest - rule.days * DAY;
}
