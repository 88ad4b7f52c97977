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

/**
 * One kind of suppression of one address. An address may be suppressed for several reasons at
 * once; each is lifted on its own, and the address is mailable only when none is active. A lift
 * is remembered (active false, `at` its time) even when nothing was active, so an older event of
 * that kind that arrives later does not suppress again.
 */
export interface ReasonState {
  active: boolean;
  /** Event time at which this reason's current suppression began. */
  since: number | null;
  /** Newest event time applied to this reason. */
  at: number;
}

/** `"*"` records an API lift of everything (its `at` blocks any older event). */
export type ReasonKey = Reason | "*";

export interface AddressState {
  /** The address's summary row; null until it is first suppressed. */
  row: SuppressionTable | null;
  reasons: Map<ReasonKey, ReasonState>;
  /** Recent soft bounces and resets, any order. */
  soft: { decision: "soft_bounce" | "soft_bounce_reset"; at: number }[];
}

export function emptyState(): AddressState {
  return { row: null, reasons: new Map(), soft: [] };
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
 * Which reason an address suppressed for several is shown with (every active reason still counts
 * for lifting: revoking an unsubscribe does not clear a hard bounce, nor the other way round).
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
  const current = state.reasons.get(reason);
  if (current?.active) {
    current.at = Math.max(current.at, at);
    current.since = Math.min(current.since ?? at, at);
    return { history: [entry(email, "already_suppressed", reason, intent, note)], change: null };
  }
  // An older event never overrides a newer state: a lift of this kind, or an API lift of
  // everything, that happened after this event keeps it lifted.
  const liftedAt = Math.max(current?.at ?? -Infinity, state.reasons.get("*")?.at ?? -Infinity);
  if (at < liftedAt) {
    return {
      history: [entry(email, "stale", reason, intent, "older than the lift now in force")],
      change: null,
    };
  }
  state.reasons.set(reason, { active: true, since: at, at });
  const row = state.row;
  const strongest = strongestActive(state) as Reason;
  if (row === null || row.suppressed === 0) {
    state.row = {
      email,
      suppressed: 1,
      reason: strongest,
      first_suppressed_at: row?.first_suppressed_at ?? at,
      suppressed_at: at,
      last_event_at: Math.max(row?.last_event_at ?? at, at),
      updated_at: now,
      note,
    };
    return { history: [entry(email, "suppressed", reason, intent, note)], change: "suppress" };
  }
  state.row = {
    ...row,
    reason: strongest,
    last_event_at: Math.max(row.last_event_at, at),
    updated_at: strongest === row.reason ? row.updated_at : now,
    note: note ?? row.note,
  };
  return { history: [entry(email, "already_suppressed", reason, intent, note)], change: null };
}

function lift(state: AddressState, intent: Extract<Intent, { kind: "lift" }>, now: number): PolicyResult {
  const at = intent.occurredAt;
  const row = state.row;
  const wasSuppressed = row?.suppressed === 1;
  const ignored = (why: string): PolicyResult => ({
    history: [entry(intent.email, "lift_ignored", row?.reason ?? null, intent, why)],
    change: null,
  });
  if (intent.reasons === "*") {
    // An operator's decision, now: it lifts everything, complaints included. Lifting an address
    // that is not suppressed changes nothing and is answered 404, so it leaves no trace.
    if (!wasSuppressed) return { history: [], change: null };
    for (const [key, r] of state.reasons)
      if (key !== "*" && r.active) Object.assign(r, { active: false, at });
    state.reasons.set("*", { active: false, since: null, at });
  } else {
    if (intent.reasons.length === 0) return ignored("nothing but the API lifts a complaint");
    const newer: Reason[] = [];
    for (const reason of intent.reasons) {
      const r = state.reasons.get(reason);
      if (r?.active && (r.since ?? at) >= at) newer.push(reason);
      else
        state.reasons.set(reason, { active: false, since: r?.since ?? null, at: Math.max(r?.at ?? at, at) });
    }
    if (!wasSuppressed) return ignored("address was not suppressed");
    const still = strongestActive(state);
    if (still !== null) {
      if (row) state.row = { ...row, reason: still, updated_at: still === row.reason ? row.updated_at : now };
      return ignored(
        newer.includes(still)
          ? "the suppression is newer than this event"
          : `still suppressed for ${still}, which this event does not lift`,
      );
    }
  }
  if (row === null) return { history: [], change: null };
  state.row = {
    ...row,
    suppressed: 0,
    last_event_at: Math.max(row.last_event_at, at),
    updated_at: now,
    note: intent.note ?? row.note,
  };
  return {
    history: [entry(intent.email, "lifted", row.reason, intent, intent.note ?? null)],
    change: "lift",
  };
}

/** The reason an address is shown as suppressed for: the strongest one in force. */
function strongestActive(state: AddressState): Reason | null {
  let best: Reason | null = null;
  for (const [key, r] of state.reasons) {
    if (key === "*" || !r.active) continue;
    if (best === null || STRENGTH[key] > STRENGTH[best]) best = key;
  }
  return best;
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
