import { type Outcome, SinkError } from "../sink.ts";
import { MailchimpError } from "./mailchimp_api.ts";
import type { OpResult } from "./mailchimp_batch.ts";

/**
 * What one member call (or batch operation) means for its job: "ok", "not_member" (404),
 * "alone" (a refusal worth asking again on its own, to learn the member's own answer), or a final
 * Outcome. Sink-wide refusals (wrong key, account disabled) are thrown as a permanent SinkError:
 * no job of this sink can go through, whichever address it is about.
 */
export type Step = "ok" | "not_member" | "alone" | Outcome;

/**
 * Answers that mean the address is already not mailable in that audience:
 * - a cleaned member: 400 with the reason only in `errors[0].message`, 'This member's status is
 *   "cleaned." You can only update email addresses for members with a status of "subscribed."'
 *   (github.com/ibericode/mailchimp-user-sync/issues/96);
 * - "Forgotten Email Not Subscribed": '… was permanently deleted and cannot be re-imported.'
 *   (github.com/ibericode/mailchimp-for-wordpress/issues/771).
 * "Member In Compliance State" is not here: Mailchimp answers it only to a call that subscribes
 * ("… and cannot be subscribed.", github.com/tbar0970/jethro-pmm/issues/656), and suppressd
 * never subscribes anyone.
 */
const UNMAILABLE = /status is "cleaned\."|forgotten email not subscribed|was permanently deleted/i;

export function alreadyUnmailable(text: string): boolean {
  return UNMAILABLE.test(text);
}

/** Title, detail and every nested message: where Mailchimp puts the reason varies. */
export function explain(r: OpResult | MailchimpError): string {
  return [r.title, r.detail, ...r.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : e.message))]
    .filter(Boolean)
    .join(": ");
}

export function classify(r: OpResult | MailchimpError | undefined): Step {
  if (r === undefined) return { kind: "retry", error: "no answer recorded for this call" };
  if (r instanceof MailchimpError && r.sinkWide) throw new SinkError(r.message, true);
  const status = r.status;
  const why = r instanceof MailchimpError ? r.message : describe(r);
  if (status === null) return { kind: "retry", error: why };
  if (status >= 200 && status < 300) return "ok";
  if (alreadyUnmailable(explain(r))) return { kind: "done", note: explain(r).slice(0, 200) };
  if (status === 404) return "not_member";
  // A batch operation's 401, or 403 with a problem body, is the key refused as in a direct call.
  if (status === 401 || (status === 403 && r.title))
    throw new SinkError(`Mailchimp refused the key or account: ${why}`, true);
  if (status === 403 || status === 429 || status === 408 || status >= 500)
    return { kind: "retry", error: why };
  return "alone";
}

/** A member call that already was alone: a refusal left now is this address's own, for good. */
export function finalStep(step: Step, e: unknown): Outcome {
  if (typeof step === "object") return step;
  const msg = e instanceof MailchimpError ? e.message : String((e as Error)?.message ?? e);
  return { kind: "fail", error: `Mailchimp refused this address: ${msg}` };
}

export function describe(r: OpResult | undefined): string {
  if (!r) return "unknown error";
  return `${r.status ?? "no result"} ${explain(r)}`.trim();
}

/** Anything a call threw, as a MailchimpError. */
export function asMailchimpError(e: unknown): MailchimpError {
  return e instanceof MailchimpError
    ? e
    : new MailchimpError(String((e as Error)?.message ?? e), null, "", "", true);
}

/**
 * The outcome for every job of a call that failed as a whole (a bulk call, a batch): a sink-wide
 * refusal is thrown instead, for the whole send.
 */
export function wholeCallOutcome(e: unknown): Outcome {
  if (e instanceof SinkError) throw e;
  if (e instanceof MailchimpError) {
    if (e.sinkWide) throw new SinkError(e.message, true);
    return e.transient ? { kind: "retry", error: e.message } : { kind: "fail", error: e.message };
  }
  return { kind: "retry", error: `unexpected error: ${(e as Error)?.message ?? String(e)}` };
}
