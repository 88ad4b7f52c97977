import type { WriteItem } from "../db/writer.ts";
import { parseResendEvent } from "../events/resend.ts";
import type { WebhookOutcome } from "../metrics/metrics.ts";
import { IpSet, refuseUnlisted } from "../net/ip_rules.ts";
import type { AppDeps } from "./app.ts";
import { errorAnswer } from "./error_answer.ts";
import { readBody } from "./json.ts";
import { type RequestRecord, WEBHOOK_PATH } from "./request_log.ts";
import { deliveryId, SignatureVerifier, signatureHeaders } from "./signature.ts";

/** What the Resend webhook route is given beside the request: the socket's peer (serve.ts). */
export type Peer = { remoteAddress?: string | null } | undefined;

export interface WebhookRouteOptions {
  record: (r: RequestRecord) => void;
  clientIp: (remoteAddress: string | null | undefined, forwardedFor: string | undefined) => string | null;
  /** What an error no AppError describes is logged as (a 500). */
  unexpected: (error: unknown, path: string) => void;
}

/**
 * POST /webhooks/resend. Signed with svix-* or Standard Webhooks webhook-* headers (signature.ts);
 * the id header is the idempotency key either way. Order matters: read the raw bytes, verify the
 * signature over exactly those bytes (nothing may parse the body first), then parse, then wait for
 * the durable commit before answering. Resend retries anything that is not 2xx, so a failed
 * commit answers 503 and an event we cannot read is quarantined and acked.
 *
 * It is the one route that does not go through Hono (app.ts sends it here first): routing,
 * middleware and the context were about a fifth of the main thread's time per delivery, and
 * delivery is what a daemon does all day (issue 14: 31,816 → 38,600 events/s on the real mix in
 * one bench run). It logs and counts through the same recorder as every other route.
 */
export function resendWebhook(deps: AppDeps, opts: WebhookRouteOptions) {
  const verifier = new SignatureVerifier(deps.config.resend.webhookSecrets);
  const limit = deps.config.server.bodyLimitBytes;
  const recordIgnored = deps.config.resend.recordIgnored;
  const allowed = deps.config.resend.allowedIps;
  const allowlist = allowed ? new IpSet(allowed === "resend" ? [allowed] : allowed) : null;

  // One async function per delivery, not one calling another: each level is a promise and a
  // frame allocated on the main thread, where allocation paces the garbage-collection pauses
  // that every request waits out (issue 14).
  return async (req: Request, env: Peer): Promise<Response> => {
    const started = performance.now();
    const get = headerOf(req);
    const ip = opts.clientIp(env?.remoteAddress, get("x-forwarded-for"));
    let outcome: { type: string; outcome: WebhookOutcome } | undefined;
    // The id the log shows: the signed set's once it is read, else read for the log alone.
    let id: string | undefined;
    let response: Response;
    let error: string | undefined;
    try {
      if (allowlist) refuseUnlisted(allowlist, ip);
      const bytes = await readBody(req, limit);
      const { text, valid } = decode(bytes);
      const headers = signatureHeaders(get);
      id = headers.id;
      verifier.verify(text, headers);
      let parsed = parseResendEvent(text);
      if (parsed.outcome !== "quarantine" && !valid) {
        parsed = {
          outcome: "quarantine",
          type: parsed.type,
          occurredAt: parsed.occurredAt,
          reason: "body is not valid UTF-8",
        };
      }
      if (parsed.outcome === "ignore" && valid && !recordIgnored) {
        // Nothing acts on this type, so a lost or repeated copy changes nothing: no durable write
        // is owed before the 200 (resend.recordIgnored). The metric still counts it.
        outcome = { type: parsed.type, outcome: "ignored" };
      } else {
        const item: WriteItem = {
          claim: "new",
          svixId: headers.id,
          type: parsed.type,
          status:
            parsed.outcome === "act" ? "processed" : parsed.outcome === "ignore" ? "ignored" : "quarantined",
          occurredAt: parsed.occurredAt,
          intents: parsed.outcome === "act" ? parsed.intents : [],
          // A smoke test is recorded like any event and sent to no sink (db/write_enqueue.ts).
          ...(parsed.outcome === "act" && parsed.test ? { test: true, actor: "send-test-event" } : {}),
          ...(parsed.outcome === "quarantine" ? { quarantine: { reason: parsed.reason, body: bytes } } : {}),
        };
        const stored = await deps.writer.submit(item);
        outcome = { type: parsed.type, outcome: stored.status };
      }
      response = new Response(ANSWERS[outcome.outcome], JSON_HEADERS);
    } catch (e) {
      const answer = errorAnswer(e, (err) => opts.unexpected(err, WEBHOOK_PATH));
      error = answer.body.error;
      response = Response.json(answer.body, { status: answer.status });
    }
    opts.record({
      method: "POST",
      path: WEBHOOK_PATH,
      route: WEBHOOK_PATH,
      status: response.status,
      ms: performance.now() - started,
      ip,
      ...(error ? { error } : {}),
      // What became of the delivery, as far as it got (the request log reads it).
      delivery: { id: id ?? deliveryId(get), result: outcome },
    });
    return response;
  };
}

/** The answers of a handled delivery, one per outcome, written once. */
const ANSWERS: Record<string, string> = Object.fromEntries(
  ["processed", "ignored", "duplicate", "quarantined"].map((s) => [s, JSON.stringify({ status: s })]),
);
const JSON_HEADERS = { headers: { "content-type": "application/json" } };

/** Is this the Resend webhook route (the path exactly, any query)? */
export function isResendWebhook(req: Request): boolean {
  if (req.method !== "POST") return false;
  const url = req.url;
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start === -1 || !url.startsWith(WEBHOOK_PATH, start)) return false;
  const end = start + WEBHOOK_PATH.length;
  return end === url.length || url[end] === "?";
}

const headerOf = (req: Request) => (name: string) => req.headers.get(name) ?? undefined;

const strict = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder("utf-8");

/** Invalid UTF-8 is verified as svix does (with replacement characters) and then quarantined. */
function decode(bytes: Uint8Array): { text: string; valid: boolean } {
  try {
    return { text: strict.decode(bytes), valid: true };
  } catch {
    return { text: lenient.decode(bytes), valid: false };
  }
}
