import { randomUUID } from "node:crypto";

/**
 * Realistic Resend webhook bodies for `suppressd send-test-event`, shaped like Resend's documented
 * payloads (see test/fixtures/resend): the envelope `{type, created_at, data}` with the fields a
 * real delivery carries, so the daemon's parser sees what it will see in production.
 */

export interface SampleOptions {
  /** email.bounced: a transient (soft) bounce instead of a permanent one. */
  soft?: boolean;
  /** contact.updated: `unsubscribed: false` (re-subscribed) instead of true. */
  subscribed?: boolean;
  /** suppression.added / suppression.removed: why the address is on Resend's list. */
  origin?: "bounce" | "complaint" | "manual";
  now?: Date;
}

type Build = (to: string, at: string, opts: SampleOptions) => Record<string, unknown>;

/**
 * The mark of a smoke test, in the signed body as a Resend tag (`data.tags`, the object form a
 * real event carries): the daemon records the event and sends nothing to sinks (events/resend.ts).
 */
export const TEST_TAG = { name: "suppressd_test", value: "true" } as const;
const testTags = { [TEST_TAG.name]: TEST_TAG.value };

/**
 * Addresses that cannot be a person: Resend's own test addresses, which Resend documents for
 * simulating events (https://resend.com/docs/dashboard/emails/send-test-emails: delivered@,
 * bounced@ and complained@resend.dev take a `+label`; suppressed@resend.dev does not).
 */
export function testAddress(type: string, opts: SampleOptions = {}): string {
  const label = (outcome: string) => `${outcome}+suppressd-test@resend.dev`;
  if (type === "email.bounced") return label("bounced");
  if (type === "email.complained") return label("complained");
  if (type === "email.suppressed") return "suppressed@resend.dev";
  if (type.startsWith("suppression.")) return label(opts.origin === "complaint" ? "complained" : "bounced");
  return label("delivered");
}

/** The `data` of an `email.*` event; `extra` adds the type's own object (bounce, suppressed…). */
function emailData(to: string, at: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    broadcast_id: randomUUID(),
    created_at: at,
    email_id: randomUUID(),
    from: "Acme <onboarding@example.com>",
    to: [to],
    subject: "suppressd test event",
    tags: { source: "suppressd-send-test-event", ...testTags },
    ...extra,
  };
}

function suppressionData(email: string, at: string, opts: SampleOptions): Record<string, unknown> {
  return {
    id: randomUUID(),
    email,
    origin: opts.origin ?? "bounce",
    source_id: randomUUID(),
    created_at: at,
    tags: testTags,
  };
}

const BUILDERS: Record<string, { describe: string; build: Build }> = {
  "email.sent": { describe: "sent (acknowledged, ignored)", build: (to, at) => emailData(to, at) },
  "email.delivered": {
    describe: "delivered (resets the soft-bounce count)",
    build: (to, at) => emailData(to, at),
  },
  "email.delivery_delayed": { describe: "delayed (ignored)", build: (to, at) => emailData(to, at) },
  "email.opened": { describe: "opened (ignored)", build: (to, at) => emailData(to, at) },
  "email.clicked": {
    describe: "clicked (ignored)",
    build: (to, at) =>
      emailData(to, at, {
        click: {
          ipAddress: "192.0.2.10",
          link: "https://example.com/welcome",
          timestamp: at,
          userAgent: "Mozilla/5.0",
        },
      }),
  },
  "email.bounced": {
    describe: "hard bounce (--soft: a transient one)",
    build: (to, at, opts) =>
      emailData(to, at, {
        message_id: `<${randomUUID()}@email.example.com>`,
        bounce: opts.soft
          ? { message: "The recipient's inbox is full.", subType: "MailboxFull", type: "Transient" }
          : {
              message:
                "The recipient's email provider rejected the email because the address does not exist.",
              subType: "General",
              type: "Permanent",
              diagnosticCode: ["smtp; 550 5.1.1 user unknown"],
            },
      }),
  },
  "email.complained": { describe: "spam complaint", build: (to, at) => emailData(to, at) },
  "email.suppressed": {
    describe: "Resend refused to send (its suppression list)",
    build: (to, at) =>
      emailData(to, at, {
        suppressed: {
          type: "OnAccountSuppressionList",
          message:
            "Resend has suppressed sending to this address because it is on the account-level suppression list.",
        },
      }),
  },
  "suppression.added": {
    describe: "added to Resend's list (--origin bounce|complaint|manual)",
    build: (to, at, opts) => suppressionData(to, at, opts),
  },
  "suppression.removed": {
    describe: "removed from Resend's list (--origin …)",
    build: (to, at, opts) => suppressionData(to, at, opts),
  },
  "contact.updated": {
    describe: "contact unsubscribed (--subscribed: re-subscribed)",
    build: (to, at, opts) => ({
      id: randomUUID(),
      audience_id: randomUUID(),
      segment_ids: [],
      created_at: at,
      updated_at: at,
      email: to,
      first_name: "Test",
      last_name: "Contact",
      unsubscribed: !opts.subscribed,
      tags: testTags,
    }),
  },
};

/** Every type `sampleEvent` knows, with a few words on what the daemon does with it. */
export const SAMPLE_TYPES: readonly { type: string; describe: string }[] = Object.entries(BUILDERS).map(
  ([type, b]) => ({ type, describe: b.describe }),
);

/** The JSON body of a sample event of `type` for `to`, or null for a type we have no sample of. */
export function sampleEvent(type: string, to: string, opts: SampleOptions = {}): string | null {
  if (!Object.hasOwn(BUILDERS, type)) return null; // not "constructor" and friends
  const builder = BUILDERS[type] as (typeof BUILDERS)[string];
  const at = (opts.now ?? new Date()).toISOString();
  return JSON.stringify({ type, created_at: at, data: builder.build(to, at, opts) });
}
