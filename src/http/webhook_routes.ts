import { Hono } from "hono";
import { parseResendEvent } from "../events/resend.ts";
import type { AppDeps } from "./app.ts";
import { cutShort, webhookBodyLimit } from "./json.ts";
import type { WebhookEnv } from "./request_log.ts";
import { SignatureVerifier, signatureHeaders } from "./signature.ts";

/**
 * POST /webhooks/resend. Signed with svix-* or Standard Webhooks webhook-* headers (signature.ts);
 * the id header is the idempotency key either way. Order matters: read the raw bytes, verify the signature over exactly
 * those bytes (nothing may parse the body first: Hono would hand back a re-serialised string),
 * then parse, then wait for the durable commit before answering. Resend retries anything that is
 * not 2xx, so a failed commit answers 503 and an event we cannot read is quarantined and acked.
 */
export function webhookRoutes(deps: AppDeps) {
  const verifier = new SignatureVerifier(deps.config.resend.webhookSecrets);
  const limit = deps.config.server.bodyLimitBytes;
  const recordIgnored = deps.config.resend.recordIgnored;

  return new Hono<WebhookEnv>().post("/webhooks/resend", webhookBodyLimit(limit), async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer().catch(cutShort));
    const { text, valid } = decode(bytes);
    const headers = signatureHeaders((name) => c.req.header(name));
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
      c.set("webhook", { type: parsed.type, outcome: "ignored" });
      return c.json({ status: "ignored" });
    }
    const result = await deps.writer.submit({
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
    });
    c.set("webhook", { type: parsed.type, outcome: result.status });
    return c.json({ status: result.status });
  });
}

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
