import type { Generated } from "kysely";
import type { Source } from "../suppression/sources.ts";
import type { Decision, Reason, Suppression } from "../suppression/types.ts";

/**
 * The tables, as Kysely sees them. Times are integer milliseconds since the epoch (UTC): compact,
 * and ordered the same way as the events they come from. Addresses are stored trimmed and
 * lowercased.
 */
export interface Database {
  webhook_events: WebhookEventTable;
  quarantine: QuarantineTable;
  suppressions: SuppressionTable;
  suppression_reasons: SuppressionReasonTable;
  suppression_events: SuppressionEventTable;
  sync_jobs: SyncJobTable;
  erased_suppressions: ErasedSuppressionTable;
}

/**
 * Addresses erased with `forget --keep-suppressed`: only a keyed hash (HMAC-SHA256 under
 * privacy.hashKey, hex) remains, and it keeps the address suppressed. See db/erased.ts.
 */
export interface ErasedSuppressionTable {
  hash: string;
  reason: Reason;
  erased_at: number;
}

export type EventStatus = "processed" | "ignored" | "quarantined";

/** One row per svix-id ever accepted: the primary key is the idempotency guarantee. */
export interface WebhookEventTable {
  svix_id: string;
  type: string;
  status: EventStatus;
  /** The envelope's `created_at` (when the event happened); null when it could not be read. */
  occurred_at: number | null;
  received_at: number;
}

/** Signed deliveries we could not act on, kept byte for byte until `events reprocess`. */
export interface QuarantineTable {
  svix_id: string;
  received_at: number;
  reason: string;
  body: Uint8Array;
  reprocessed_at: number | null;
}

/** The summary row of an address: the policy's `Suppression`, stored as it is. */
export type SuppressionTable = Suppression;

/**
 * Each kind of suppression of an address from each source, lifted on its own (see policy.ts for
 * the rule). `reason` "*" (source api) remembers an API lift of everything. A row whose
 * `lifted_at` is at or after its `suppressed_at` remembers a lift, so a late, older event cannot
 * undo it.
 */
export interface SuppressionReasonTable {
  email: string;
  reason: Reason | "*";
  source: Source;
  /** Derived by the policy from the two times (and the "*" row); written with them. */
  active: 0 | 1;
  /** Newest event time that suppressed for this reason from this source. */
  suppressed_at: number | null;
  /** Newest event time of a lift that covered it. */
  lifted_at: number | null;
}

/** Append-only: every decision the policy made, with what caused it. */
export interface SuppressionEventTable {
  id: Generated<number>;
  email: string;
  decision: Decision;
  reason: Reason | null;
  /** Who spoke (`sourceOf(event_type)`); null on rows written before migration 004. */
  source: Source | null;
  event_type: string;
  svix_id: string | null;
  occurred_at: number;
  recorded_at: number;
  note: string | null;
  /** Who made the change: `token:NAME` for the API, `send-test-event`, or null (Resend, the CLI). */
  actor: string | null;
}

/** `cancelled`: an operator said never to send it (`jobs cancel`); kept, then pruned like done. */
export const JOB_STATUSES = ["pending", "running", "done", "dead", "superseded", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** The statuses worth counting: small by nature, unlike done and superseded, which pile up. */
export const LIVE_STATUSES = ["pending", "running", "dead"] as const satisfies readonly JobStatus[];
export type LiveStatus = (typeof LIVE_STATUSES)[number];

/** The outbox: one row per sink per change, written in the same commit as the change. */
export interface SyncJobTable {
  id: Generated<number>;
  sink: string;
  email: string;
  action: "suppress" | "lift";
  reason: Reason;
  event_type: string;
  occurred_at: number;
  status: JobStatus;
  attempts: number;
  next_attempt_at: number;
  lease_owner: string | null;
  lease_until: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}
