import type { Intent } from "./intents.ts";
import { type Source, sourceOf } from "./sources.ts";
import type { Decision, Reason, Suppression } from "./types.ts";

/**
 * The suppression policy: given what we know of one address and one intent, decide. Pure and
 * synchronous, so the writer can run it inside its transaction for a whole batch and tests can
 * run it on a table of cases.
 *
 * The outcome depends on the set of events, never on their arrival order (Resend retries late
 * and out of order): each (reason, source) keeps only the newest time something suppressed it and
 * the newest time something lifted it, and is in force when the first is at or after the second.
 * Both are maxima, so any order of the same events, duplicates and retries included, ends in the
 * same state.
 */

export interface SoftBounceRule {
  /** Soft bounces within `days` that suppress; 0 turns the rule off. */
  count: number;
  days: number;
}

/**
 * One kind of suppression of one address, from one source. An address may be suppressed for
 * several at once; each is lifted on its own, and the address is mailable only when none is in
 * force. A lift is remembered even when nothing was in force, so an older event of that kind that
 * arrives later finds it lifted. `reason` "*" (source api) records an API lift of everything.
 */
export interface ReasonState {
  reason: Reason | "*";
  source: Source;
  /** Newest event time that suppressed for this reason from this source; null if none did. */
  suppressedAt: number | null;
  /** Newest event time of a lift that covers it (the "*" entry's counts too); null if none. */
  liftedAt: number | null;
}

export interface AddressState {
  /** The address's summary row; null until it is first suppressed. */
  row: Suppression | null;
  /** By `reasonKey(reason, source)`. */
  reasons: Map<string, ReasonState>;
  /**
   * Times of soft bounces at or after the soft-bounce limit's last lift (a delivery or an API
   * lift); older ones can never count again. Complete whenever a soft-bounce, delivery or API
   * lift intent is decided (the writer loads them for those).
   */
  soft: number[];
}

export function emptyState(): AddressState {
  return { row: null, reasons: new Map(), soft: [] };
}

export interface HistoryEntry {
  email: string;
  decision: Decision;
  reason: Reason | null;
  source: Source;
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

/** The soft-bounce limit is counted from Resend's bounces and lifted by Resend's deliveries. */
const SOFT_SOURCE: Source = "resend";

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

export function reasonKey(reason: Reason | "*", source: Source): string {
  return `${reason}/${source}`;
}

/** Whether this reason is in force: suppressed at or after its newest lift (a tie suppresses). */
export function isActive(state: AddressState, r: ReasonState): boolean {
  return r.reason !== "*" && r.suppressedAt !== null && r.suppressedAt >= liftTime(state, r);
}

/** The reasons in force, strongest first (equals by name, so arrival order cannot pick one). */
export function activeReasons(state: AddressState): ReasonState[] {
  return [...state.reasons.values()]
    .filter((r) => isActive(state, r))
    .sort(
      (a, b) =>
        STRENGTH[b.reason as Reason] - STRENGTH[a.reason as Reason] ||
        a.reason.localeCompare(b.reason) ||
        a.source.localeCompare(b.source),
    );
}

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
      return suppress(state, intent, now);
    case "lift":
      return lift(state, intent, rule, now);
    case "soft_bounce":
      return softBounce(state, intent, rule, now);
    case "delivered":
      return delivered(state, intent, rule, now);
    case "note":
      return { history: [entry(intent.email, "noted", null, intent, intent.note)], change: null };
  }
}

function suppress(state: AddressState, intent: Extract<Intent, { kind: "suppress" }>, now: number) {
  const r = reasonOf(state, intent.reason, sourceOf(intent.eventType));
  r.suppressedAt = max(r.suppressedAt, intent.occurredAt);
  if (!isActive(state, r)) {
    return {
      history: [entry(intent.email, "stale", intent.reason, intent, "older than the lift now in force")],
      change: null,
    };
  }
  return suppressed(state, intent, intent.reason, intent.note ?? null, now);
}

/** History and row once `reason` is in force (newly or again). */
function suppressed(
  state: AddressState,
  intent: Exclude<Intent, { kind: "invalid_address" }>,
  reason: Reason,
  note: string | null,
  now: number,
) {
  const email = intent.email;
  const change = summarize(state, email, intent.occurredAt, now, note, true);
  const decision = change === "suppress" ? "suppressed" : "already_suppressed";
  return { history: [entry(email, decision, reason, intent, note)], change };
}

function lift(
  state: AddressState,
  intent: Extract<Intent, { kind: "lift" }>,
  rule: SoftBounceRule,
  now: number,
): PolicyResult {
  const at = intent.occurredAt;
  const row = state.row;
  const ignored = (why: string): PolicyResult => ({
    history: [entry(intent.email, "lift_ignored", row?.reason ?? null, intent, why)],
    change: null,
  });
  let covered: ReasonState[];
  if (intent.reasons === "*") {
    // An operator's decision: it lifts every reason from every source, complaints included, and
    // anything older that arrives later. The soft-bounce count starts again from it.
    const all = reasonOf(state, "*", "api");
    all.liftedAt = max(all.liftedAt, at);
    covered = [...state.reasons.values()].filter((r) => r.reason !== "*");
    refreshSoftLimit(state, rule);
  } else {
    if (intent.reasons.length === 0) return ignored("nothing but the API lifts a complaint");
    // A source lifts only what it set itself.
    const source = sourceOf(intent.eventType);
    covered = intent.reasons.map((reason) => reasonOf(state, reason, source));
    for (const r of covered) r.liftedAt = max(r.liftedAt, at);
  }
  if (row?.suppressed !== 1) return ignored("address was not suppressed; the lift is remembered");
  const change = summarize(state, intent.email, at, now, intent.note ?? null, false);
  if (change === "lift") {
    return { history: [entry(intent.email, "lifted", row.reason, intent, intent.note ?? null)], change };
  }
  const still = activeReasons(state)[0];
  return ignored(
    covered.some((r) => isActive(state, r))
      ? "the suppression is newer than this event"
      : `still suppressed for ${still?.reason} (${still?.source}), which this event does not lift`,
  );
}

function softBounce(
  state: AddressState,
  intent: Extract<Intent, { kind: "soft_bounce" }>,
  rule: SoftBounceRule,
  now: number,
): PolicyResult {
  const at = intent.occurredAt;
  if (!state.soft.includes(at)) state.soft.push(at);
  const from = softLimitLiftTime(state);
  const counted = at >= from ? windowCountWith(state.soft, at, from, rule) : 0;
  const note =
    rule.count === 0
      ? "soft-bounce limit is off"
      : at < from
        ? "older than the last delivery or lift; not counted"
        : `${counted} of ${rule.count} within ${rule.days} days`;
  const history = [entry(intent.email, "soft_bounce", null, intent, note)];
  refreshSoftLimit(state, rule);
  if (rule.count === 0 || counted < rule.count) return { history, change: null };
  const result = suppressed(state, intent, "soft_bounce_limit", note, now);
  return { history: [...history, ...result.history], change: result.change };
}

/**
 * A delivery proves the address accepts mail again: soft bounces at or before it no longer count,
 * and a soft-bounce limit reached before it is lifted. (Only the newest delivery matters, so the
 * outcome does not depend on which deliveries arrived before which bounces.)
 */
function delivered(
  state: AddressState,
  intent: Extract<Intent, { kind: "delivered" }>,
  rule: SoftBounceRule,
  now: number,
): PolicyResult {
  const r = reasonOf(state, "soft_bounce_limit", SOFT_SOURCE);
  const before = liftTime(state, r);
  r.liftedAt = max(r.liftedAt, intent.occurredAt);
  const after = liftTime(state, r);
  const history: HistoryEntry[] = [];
  // Only a delivery that resets something is worth a history row: every delivered email would
  // otherwise be one.
  if (rule.count > 0 && state.soft.some((t) => t >= before && t < after))
    history.push(
      entry(intent.email, "soft_bounce_reset", null, intent, "delivered: soft-bounce count reset"),
    );
  refreshSoftLimit(state, rule);
  const row = state.row;
  if (row?.suppressed !== 1) return { history, change: null };
  const change = summarize(state, intent.email, intent.occurredAt, now, null, false);
  if (change === "lift")
    history.push(entry(intent.email, "lifted", row.reason, intent, "delivered after the soft bounces"));
  return { history, change };
}

/**
 * Recomputes when the soft-bounce limit was last reached: the newest soft bounce that ends a
 * window of `days` holding `count` soft bounces at distinct times, all at or after the limit's
 * last lift. A function of the set of bounces and lifts, so the order they arrived in is moot.
 */
function refreshSoftLimit(state: AddressState, rule: SoftBounceRule) {
  if (rule.count === 0) return;
  const existing = state.reasons.get(reasonKey("soft_bounce_limit", SOFT_SOURCE));
  const from = softLimitLiftTime(state);
  const reached = softLimitReachedAt(state.soft, from, rule);
  if (reached === null && existing === undefined) return;
  const r = existing ?? reasonOf(state, "soft_bounce_limit", SOFT_SOURCE);
  // An older time is kept as a record of a limit reached before the lift; it is not in force.
  r.suppressedAt = reached ?? (r.suppressedAt !== null && r.suppressedAt < from ? r.suppressedAt : null);
}

/** The newest soft bounce (at or after `from`) that ends a window reaching `rule.count`, or null. */
export function softLimitReachedAt(
  times: readonly number[],
  from: number,
  rule: SoftBounceRule,
): number | null {
  const counted = [...new Set(times)].filter((t) => t >= from).sort((a, b) => a - b);
  let reached: number | null = null;
  let start = 0;
  for (const [end, t] of counted.entries()) {
    while ((counted[start] as number) <= t - rule.days * DAY) start++;
    if (end - start + 1 >= rule.count) reached = t;
  }
  return reached;
}

/** The most soft bounces a window of `days` holding `at` counts (windows end at a soft bounce). */
function windowCountWith(times: readonly number[], at: number, from: number, rule: SoftBounceRule): number {
  const counted = [...new Set(times)].filter((t) => t >= from);
  let most = 0;
  for (const end of counted) {
    if (end < at || end >= at + rule.days * DAY) continue;
    most = Math.max(most, counted.filter((t) => t > end - rule.days * DAY && t <= end).length);
  }
  return most;
}

/**
 * Brings the summary row in line with the reasons in force after an intent at `at` (`suppressing`:
 * one that put a reason in force); returns the change in mailability, if any.
 */
function summarize(
  state: AddressState,
  email: string,
  at: number,
  now: number,
  note: string | null,
  suppressing: boolean,
): "suppress" | "lift" | null {
  const row = state.row;
  const strongest = activeReasons(state)[0]?.reason as Reason | undefined;
  if (strongest !== undefined && row?.suppressed !== 1) {
    state.row = {
      email,
      suppressed: 1,
      reason: strongest,
      first_suppressed_at: Math.min(row?.first_suppressed_at ?? at, at),
      suppressed_at: at,
      last_event_at: Math.max(row?.last_event_at ?? at, at),
      updated_at: now,
      note,
    };
    return "suppress";
  }
  if (row === null) return null;
  if (strongest !== undefined) {
    state.row = {
      ...row,
      reason: strongest,
      // A late suppression in force moves the start back.
      suppressed_at: suppressing ? Math.min(row.suppressed_at, at) : row.suppressed_at,
      last_event_at: Math.max(row.last_event_at, at),
      updated_at: strongest === row.reason ? row.updated_at : now,
      note: note ?? row.note,
    };
    return null;
  }
  if (row.suppressed === 0) return null;
  state.row = {
    ...row,
    suppressed: 0,
    last_event_at: Math.max(row.last_event_at, at),
    updated_at: now,
    note: note ?? row.note,
  };
  return "lift";
}

/** When the soft-bounce limit was last lifted (a delivery or an API lift): bounces count from then. */
function softLimitLiftTime(state: AddressState): number {
  const r = state.reasons.get(reasonKey("soft_bounce_limit", SOFT_SOURCE));
  return liftTime(state, r ?? virtual("soft_bounce_limit", SOFT_SOURCE));
}

/** When `r` was last lifted, an API lift of everything included (-Infinity: never). */
function liftTime(state: AddressState, r: ReasonState): number {
  const all = r.reason === "*" ? null : state.reasons.get(reasonKey("*", "api"));
  return Math.max(r.liftedAt ?? -Infinity, all?.liftedAt ?? -Infinity);
}

function reasonOf(state: AddressState, reason: Reason | "*", source: Source): ReasonState {
  const key = reasonKey(reason, source);
  let r = state.reasons.get(key);
  if (r === undefined) {
    r = virtual(reason, source);
    state.reasons.set(key, r);
  }
  return r;
}

function virtual(reason: Reason | "*", source: Source): ReasonState {
  return { reason, source, suppressedAt: null, liftedAt: null };
}

function max(a: number | null, b: number): number {
  return a === null ? b : Math.max(a, b);
}

function entry(
  email: string,
  decision: Decision,
  reason: Reason | null,
  intent: Intent,
  note: string | null,
): HistoryEntry {
  return {
    email,
    decision,
    reason,
    source: sourceOf(intent.eventType),
    event_type: intent.eventType,
    occurred_at: intent.occurredAt,
    note,
  };
}
