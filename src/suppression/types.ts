/**
 * The vocabulary of suppression, shared by the policy that decides, the events and API calls that
 * ask, and the storage that keeps the result (db/schema.ts stores these types as they are).
 */

/** Why an address may not be mailed (policy.ts ranks them when several are in force). */
export const REASONS = [
  "hard_bounce",
  "soft_bounce_limit",
  "complaint",
  "provider_suppressed",
  "unsubscribe",
  "manual",
  "imported",
] as const;
export type Reason = (typeof REASONS)[number];

/** What the policy decided about one intent: one history row each. */
export type Decision =
  | "suppressed"
  | "already_suppressed"
  | "lifted"
  | "lift_ignored"
  | "soft_bounce"
  | "soft_bounce_reset"
  | "stale"
  | "invalid_address"
  | "noted";

/**
 * Current state per address, summarised from its reasons. A lifted address keeps its row with
 * `suppressed = 0`; `reason` is the strongest reason in force (or the last one, once lifted).
 */
export interface Suppression {
  email: string;
  suppressed: 0 | 1;
  reason: Reason;
  first_suppressed_at: number;
  /** Event time at which the current (or last) suppression began. */
  suppressed_at: number;
  /** Newest event time applied to this row: an older event never overrides it. */
  last_event_at: number;
  /** Wall-clock time of the last change, for `?since=` and the list cursor. */
  updated_at: number;
  note: string | null;
}
