import type { Reason } from "../suppression/types.ts";
import type { Listing } from "./pass.ts";
import type { ResendReader } from "./resend_api.ts";
import type { BackfillRow } from "./rows.ts";

/** Resend's suppression origins, as its `suppression.added` webhook maps them (README policy table). */
const ORIGIN: Record<string, Reason> = {
  bounce: "hard_bounce",
  complaint: "complaint",
  manual: "provider_suppressed",
};

/**
 * A margin for entries Resend dated before a pass began but listed only after (clock skew,
 * a slow commit on their side): the early stop below leaves them to be read again.
 */
const OVERLAP_MS = 60 * 60_000;

/**
 * Resend's suppression list (`GET /suppressions`), newest first. Every entry becomes the reason
 * its origin means, at its `created_at` (an unknown future origin: provider_suppressed, since
 * Resend refuses to send to anything on that list). Once a pass has read the whole list, the
 * next one stops at the first page older than that pass's start: everything after it was read
 * then.
 */
export function resendSuppressions(reader: ResendReader, full: boolean): Listing {
  return {
    source: "resend.suppressions",
    scope: "",
    label: "resend suppressions",
    async page(at, cursor) {
      const page = await reader.suppressions(at);
      const rows: BackfillRow[] = page.data.map((s) => ({
        email: s.email,
        reason: ORIGIN[s.origin] ?? "provider_suppressed",
        at: timeOf(s.created_at),
      }));
      const since = cursor.lastCompleteAt === null || full ? null : cursor.lastCompleteAt - OVERLAP_MS;
      const older = since !== null && rows.length > 0 && rows.every((r) => r.at !== null && r.at < since);
      const last = page.data[page.data.length - 1];
      return { rows, next: page.has_more && last && !older ? last.id : null };
    },
  };
}

/**
 * Resend's contacts (`GET /contacts`, global since segments replaced audiences), of which the
 * unsubscribed ones are kept. Resend does not say when a contact unsubscribed, so the row has no
 * time (see BackfillRow.at); the list can only be read whole, since any old contact may have
 * unsubscribed since the last pass.
 */
export function resendContacts(reader: ResendReader): Listing {
  return {
    source: "resend.contacts",
    scope: "",
    label: "resend unsubscribed contacts",
    async page(at) {
      const page = await reader.contacts(at);
      const rows: BackfillRow[] = page.data
        .filter((c) => c.unsubscribed === true)
        .map((c) => ({ email: c.email, reason: "unsubscribe", at: null }));
      const last = page.data[page.data.length - 1];
      return { rows, next: page.has_more && last ? last.id : null };
    },
  };
}

function timeOf(iso: string): number | null {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : null;
}
