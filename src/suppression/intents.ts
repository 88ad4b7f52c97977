import type { Reason } from "./types.ts";

/**
 * What an event (or an API call, or an import row) asks of the suppression list, before the
 * current state is known. The policy turns each intent into decisions.
 */
export type Intent =
  | { kind: "suppress"; email: string; reason: Reason; eventType: string; occurredAt: number; note?: string }
  | {
      kind: "lift";
      email: string;
      /** The kinds of suppression this lift may clear; "*" only from an explicit API call. */
      reasons: readonly Reason[] | "*";
      eventType: string;
      occurredAt: number;
      note?: string;
    }
  | { kind: "soft_bounce"; email: string; eventType: string; occurredAt: number; note?: string }
  | { kind: "delivered"; email: string; eventType: string; occurredAt: number }
  /** Something worth keeping in the address's history that changes nothing (Mailchimp's upemail). */
  | { kind: "note"; email: string; eventType: string; occurredAt: number; note: string }
  | { kind: "invalid_address"; raw: string; eventType: string; occurredAt: number };

/** The address an intent is about (the raw value, for an invalid one). */
export function intentKey(intent: Intent): string {
  return intent.kind === "invalid_address" ? intent.raw : intent.email;
}
