import { z } from "zod";
import type { Intent } from "../suppression/intents.ts";
import type { Reason } from "../suppression/types.ts";
import { normalizeAddress, recipients } from "./address.ts";
import { TEST_TAG } from "./samples.ts";

/**
 * Resend's webhook payloads, parsed defensively: a schema requires only what the decision needs
 * (type, envelope time, recipients) and lets every other field be anything. Payloads in the wild
 * differ from the docs (bounces without `type`, `email.suppressed` without `data.suppressed`).
 */
export type ParsedEvent =
  | { outcome: "act"; type: string; occurredAt: number; intents: Intent[]; test: boolean }
  | { outcome: "ignore"; type: string; occurredAt: number | null }
  | { outcome: "quarantine"; type: string; occurredAt: number | null; reason: string };

/** Resend sends at most 50 recipients per email; far more is not a real event. */
export const MAX_RECIPIENTS = 100;

const timestamp = z.string().transform((value, ctx) => {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: "custom", message: `not a timestamp: ${value.slice(0, 40)}` });
    return z.NEVER;
  }
  return ms;
});

const envelope = z.object({ type: z.string().min(1).max(200), created_at: z.unknown(), data: z.unknown() });

const emailData = z.object({
  // Counted after splitting: one comma-separated string once made 2,300 suppressions.
  to: z
    .union([z.array(z.unknown()), z.string().max(20_000)])
    .refine((to) => recipients(to).length <= MAX_RECIPIENTS, `at most ${MAX_RECIPIENTS} recipients`),
  bounce: z.object({ type: z.string().nullish() }).passthrough().nullish(),
});
/**
 * The shapes nearly every delivery has, checked without zod (zod was ~4% of the main thread per
 * delivery under ingest, issue 14). Each check vouches only for input zod would accept and gives
 * what zod would give; anything else goes to zod, which then words the error.
 * test/events/resend_fast.test.ts holds both paths to the same answers on generated input.
 */
let fastChecks = true;
/** For that test only: parse with zod alone. */
export function useFastChecks(on: boolean): void {
  fastChecks = on;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function envelopeOf(json: unknown) {
  if (fastChecks && isObject(json) && typeof json.type === "string") {
    const { type } = json;
    // zod's z.unknown() in an object still wants the key (undefined is "nonoptional").
    if (type.length >= 1 && type.length <= 200 && json.created_at !== undefined && json.data !== undefined)
      return { success: true as const, data: { type, created_at: json.created_at, data: json.data } };
  }
  return envelope.safeParse(json);
}

function timestampOf(value: unknown) {
  if (fastChecks && typeof value === "string") {
    const ms = Date.parse(value);
    if (!Number.isNaN(ms)) return { success: true as const, data: ms };
  }
  return timestamp.safeParse(value);
}

function emailDataOf(data: unknown): z.infer<typeof emailData> {
  if (fastChecks && isObject(data)) {
    const { to, bounce } = data;
    const toOk =
      (Array.isArray(to) || (typeof to === "string" && to.length <= 20_000)) &&
      recipients(to).length <= MAX_RECIPIENTS;
    const kind = isObject(bounce) ? bounce.type : undefined;
    const bounceOk =
      bounce === undefined ||
      bounce === null ||
      (isObject(bounce) && (kind === undefined || kind === null || typeof kind === "string"));
    if (toOk && bounceOk)
      return { to: to as unknown[] | string, bounce: bounce as { type?: string | null } | null };
  }
  return emailData.parse(data);
}

const suppressionData = z.object({ email: z.string().max(1000), origin: z.string().nullish() });
const contactData = z.object({ email: z.string().max(1000), unsubscribed: z.boolean() });

const handlers: Record<string, (data: unknown, type: string, at: number) => Intent[]> = {
  "email.bounced": (data, type, at) => {
    const d = emailDataOf(data);
    const hard = /^(permanent|hard)$/i.test(d.bounce?.type?.trim() ?? "");
    return perRecipient(d.to, type, at, (email) =>
      hard
        ? { kind: "suppress", email, reason: "hard_bounce", eventType: type, occurredAt: at }
        : { kind: "soft_bounce", email, eventType: type, occurredAt: at },
    );
  },
  "email.complained": suppressRecipients("complaint"),
  "email.suppressed": suppressRecipients("provider_suppressed"),
  "email.delivered": (data, type, at) =>
    perRecipient(emailDataOf(data).to, type, at, (email) => ({
      kind: "delivered",
      email,
      eventType: type,
      occurredAt: at,
    })),
  "suppression.added": (data, type, at) => {
    const d = suppressionData.parse(data);
    const reason = own(ORIGIN_REASON, d.origin?.toLowerCase()) ?? "provider_suppressed";
    return perRecipient([d.email], type, at, (email) => ({
      kind: "suppress",
      email,
      reason,
      eventType: type,
      occurredAt: at,
    }));
  },
  "suppression.removed": (data, type, at) => {
    const d = suppressionData.parse(data);
    const reasons = own(ORIGIN_LIFTS, d.origin?.toLowerCase()) ?? ["provider_suppressed"];
    return perRecipient([d.email], type, at, (email) => ({
      kind: "lift",
      email,
      reasons,
      eventType: type,
      occurredAt: at,
    }));
  },
  "contact.updated": (data, type, at) => {
    const d = contactData.parse(data);
    return perRecipient([d.email], type, at, (email) =>
      d.unsubscribed
        ? { kind: "suppress", email, reason: "unsubscribe", eventType: type, occurredAt: at }
        : { kind: "lift", email, reasons: ["unsubscribe"], eventType: type, occurredAt: at },
    );
  },
};

/** Resend's own suppression list: `origin` says why an address is on it. */
const ORIGIN_REASON: Record<string, Reason> = {
  bounce: "hard_bounce",
  complaint: "complaint",
  manual: "provider_suppressed",
};

/** What Resend taking an address off its list may lift here. Nothing but the API lifts a complaint. */
const ORIGIN_LIFTS: Record<string, readonly Reason[]> = {
  bounce: ["hard_bounce", "provider_suppressed"],
  complaint: [],
  manual: ["provider_suppressed"],
};

/**
 * `table[key]` for the table's own keys only: a type or origin such as "constructor" or
 * "toString" (any string can arrive signed) must not find Object.prototype's functions.
 */
function own<T>(table: Record<string, T>, key: string | undefined): T | undefined {
  return key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
}

/** An `email.*` event that suppresses each of its recipients for `reason`. */
function suppressRecipients(reason: Reason) {
  return (data: unknown, type: string, at: number): Intent[] =>
    perRecipient(emailDataOf(data).to, type, at, (email) => ({
      kind: "suppress",
      email,
      reason,
      eventType: type,
      occurredAt: at,
    }));
}

function perRecipient(to: unknown, type: string, at: number, make: (email: string) => Intent): Intent[] {
  return recipients(to).map((raw) => {
    const email = normalizeAddress(raw);
    return email === null
      ? // Kept for the history with each lone surrogate as U+FFFD (also where the cut splits a pair).
        {
          kind: "invalid_address",
          raw: String(raw).slice(0, 320).toWellFormed(),
          eventType: type,
          occurredAt: at,
        }
      : make(email);
  });
}

/** Types we act on; everything else (`email.sent`, `email.opened`, `domain.*`, future types) is ignored. */
export const ACTIONABLE_TYPES = Object.freeze(Object.keys(handlers));

/** Parses a verified body. Never throws: what cannot be understood is quarantined with the reason. */
export function parseResendEvent(body: string): ParsedEvent {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (e) {
    return {
      outcome: "quarantine",
      type: "unknown",
      occurredAt: null,
      reason: `body is not JSON: ${(e as Error).message}`,
    };
  }
  const env = envelopeOf(json);
  if (!env.success) {
    return {
      outcome: "quarantine",
      type: "unknown",
      occurredAt: null,
      reason: `not a Resend event: ${describe(env.error)}`,
    };
  }
  // Only an ignored type can be anything; stored with each lone surrogate as U+FFFD.
  const type = env.data.type.toWellFormed();
  const at = timestampOf(env.data.created_at);
  const handler = own(handlers, type);
  if (handler === undefined) return { outcome: "ignore", type, occurredAt: at.success ? at.data : null };
  if (!at.success)
    return { outcome: "quarantine", type, occurredAt: null, reason: `created_at: ${describe(at.error)}` };
  try {
    const intents = handler(env.data.data, type, at.data);
    return { outcome: "act", type, occurredAt: at.data, intents, test: isTest(env.data.data) };
  } catch (e) {
    const reason = e instanceof z.ZodError ? describe(e) : (e as Error).message;
    return {
      outcome: "quarantine",
      type,
      occurredAt: at.data,
      reason: `data does not match ${type}: ${reason}`,
    };
  }
}

/**
 * Whether the event carries the smoke-test tag (`suppressd_test: "true"`, see events/samples.ts)
 * in `data.tags`, in either form Resend uses: an object, or an array of `{name, value}`.
 */
function isTest(data: unknown): boolean {
  const tags = (data as { tags?: unknown } | null)?.tags;
  if (Array.isArray(tags))
    return tags.some(
      (t) =>
        (t as { name?: unknown })?.name === TEST_TAG.name &&
        (t as { value?: unknown }).value === TEST_TAG.value,
    );
  return (
    tags !== null &&
    typeof tags === "object" &&
    Object.hasOwn(tags, TEST_TAG.name) &&
    (tags as Record<string, unknown>)[TEST_TAG.name] === TEST_TAG.value
  );
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`)
    .join("; ")
    .toWellFormed(); // messages quote the input, cut at a length that may split a pair
}
