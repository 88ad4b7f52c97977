import { createHmac } from "node:crypto";
import type { Intent } from "../suppression/intents.ts";
import type { Reason } from "../suppression/types.ts";
import { normalizeAddress } from "./address.ts";

/**
 * Mailchimp's audience (list) webhooks: a form-encoded POST with `type`, `fired_at` and `data[…]`
 * fields (https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/ and the
 * samples of the older "About Webhooks" guide, copied in test/fixtures/mailchimp/webhooks/). They
 * carry no id and no signature: the secret in the URL authenticates them, and the idempotency key
 * is derived from their fields.
 */
export type MailchimpEvent =
  | { outcome: "act" | "ignore"; type: string; occurredAt: number; listId: string; intents: Intent[] }
  | { outcome: "reject"; reason: string };

/** A real delivery has a few dozen fields (merge fields included). */
const MAX_BODY_FIELDS = 200;

/**
 * `fired_at` is "YYYY-MM-DD HH:MM:SS" and Mailchimp documents no zone; it is read as UTC. Being
 * off by the account's offset only matters against another source's event for the same address
 * within those hours (the newest event time decides; see policy.ts).
 */
export function firedAt(value: string | null): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(value?.trim() ?? "");
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const ms = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s);
  return Number.isNaN(ms) ? null : ms;
}

export function parseMailchimpEvent(body: string): MailchimpEvent {
  const form = new URLSearchParams(body);
  if ([...form.keys()].length > MAX_BODY_FIELDS)
    return { outcome: "reject", reason: `more than ${MAX_BODY_FIELDS} fields` };
  const type = form.get("type")?.trim() ?? "";
  if (!/^[a-z_]{1,40}$/.test(type))
    return { outcome: "reject", reason: "the form has no `type` field (subscribe, unsubscribe, cleaned, …)" };
  const occurredAt = firedAt(form.get("fired_at"));
  if (occurredAt === null)
    return { outcome: "reject", reason: "`fired_at` is not a time like 2009-03-26 21:35:57" };
  const listId = form.get("data[list_id]") ?? "";
  const eventType = `mailchimp.${type}`;
  const at = { eventType, occurredAt };
  const act = (intents: Intent[]) => ({ outcome: "act" as const, type, occurredAt, listId, intents });
  const ignore = { outcome: "ignore" as const, type, occurredAt, listId, intents: [] };
  // The documented unsubscribe sample carries data[reason] twice ("manual", then "hard"): any
  // value that says abuse (a spam report) is the one that matters.
  const reasons = form.getAll("data[reason]").map((r) => r.trim().toLowerCase());
  const suppress = (raw: string | null, reason: Reason, note: string): Intent =>
    addressIntent(raw, at, (email) => ({ kind: "suppress", email, reason, ...at, note }));

  switch (type) {
    case "unsubscribe": {
      if (reasons.includes("abuse"))
        return act([suppress(form.get("data[email]"), "complaint", `abuse report, audience ${listId}`)]);
      // An admin deleting (archiving) a member is not the person opting out: nothing to suppress.
      if (form.get("data[action]") === "delete") return ignore;
      return act([suppress(form.get("data[email]"), "unsubscribe", `unsubscribed in audience ${listId}`)]);
    }
    case "cleaned": {
      // Mailchimp documents two reasons: "hard" (a hard bounce) and "abuse" (a spam report). Any
      // other one still means Mailchimp will not mail the address: provider_suppressed, as
      // Resend's own refusal to send is recorded.
      const reason: Reason = reasons.includes("abuse")
        ? "complaint"
        : reasons.includes("hard")
          ? "hard_bounce"
          : "provider_suppressed";
      const why = reasons.filter(Boolean).join(",") || "none given";
      return act([suppress(form.get("data[email]"), reason, `cleaned (${why}) in audience ${listId}`)]);
    }
    case "subscribe":
      // The person subscribed again in Mailchimp: an unsubscribe that Mailchimp told us of is
      // lifted (only that one; a bounce or complaint from anywhere stays).
      return act([
        addressIntent(form.get("data[email]"), at, (email) => ({
          kind: "lift",
          email,
          reasons: ["unsubscribe"],
          ...at,
          note: `subscribed in audience ${listId}`,
        })),
      ]);
    case "upemail": {
      // Kept in each address's history without naming the other, so erasing one address does not
      // leave it behind in the other's notes; the shared delivery key links the two rows.
      const note = (side: string) =>
        `address changed in audience ${listId} (${side}; see the other row of this key)`;
      const intents = [
        addressIntent(form.get("data[old_email]"), at, (email) => ({
          kind: "note",
          email,
          ...at,
          note: note("old address"),
        })),
        addressIntent(form.get("data[new_email]"), at, (email) => ({
          kind: "note",
          email,
          ...at,
          note: note("new address"),
        })),
      ];
      return act(intents);
    }
    default:
      // profile, campaign and any later type: acknowledged and recorded as seen.
      return ignore;
  }
}

function addressIntent(
  raw: string | null,
  at: { eventType: string; occurredAt: number },
  make: (email: string) => Intent,
): Intent {
  const email = normalizeAddress(raw);
  return email === null ? { kind: "invalid_address", raw: (raw ?? "").slice(0, 200), ...at } : make(email);
}

/**
 * The idempotency key of a delivery Mailchimp gives no id to: an HMAC (keyed by the sink's webhook
 * secret, so the stored key names nobody) of every field that tells one event from another.
 * A retry carries the same fields, so it finds the key taken; the same change in another audience
 * is another event.
 */
export function mailchimpDeliveryKey(secret: string, body: string): string {
  const f = new URLSearchParams(body);
  const fields = [
    "type",
    "fired_at",
    "data[list_id]",
    "data[email]",
    "data[old_email]",
    "data[new_email]",
    "data[action]",
    "data[id]",
  ].map((k) => f.get(k));
  fields.push(f.getAll("data[reason]").join(","));
  return `mailchimp:${createHmac("sha256", secret).update(JSON.stringify(fields)).digest("hex")}`;
}
