import { createHash, timingSafeEqual } from "node:crypto";
import { Hono } from "hono";
import type { MailchimpSinkConfig } from "../config/schema.ts";
import { badRequest, notFound } from "../errors.ts";
import { mailchimpDeliveryKey, parseMailchimpEvent } from "../events/mailchimp.ts";
import type { AppDeps } from "./app.ts";
import { readBody } from "./json.ts";
import type { WebhookEnv } from "./request_log.ts";

/**
 * GET and POST /webhooks/mailchimp/{secret}: the audience webhooks of a Mailchimp sink that has a
 * `webhookSecret`. Mailchimp signs nothing, so the path secret is the credential: compared in
 * constant time with every sink's, and a wrong one is answered as an unknown route (404). The GET
 * is Mailchimp's check when the webhook is saved ("the webhook validator only sends HTTP GET").
 * A change is never sent back to the sinks whose audiences it came from (no echo loop).
 */
export function mailchimpWebhookRoutes(deps: AppDeps) {
  const sinks = deps.config.sinks.filter(
    (s): s is MailchimpSinkConfig & { webhookSecret: string } =>
      s.type === "mailchimp" && s.webhookSecret !== undefined,
  );
  const digests = sinks.map((s) => digest(s.webhookSecret));
  const limit = deps.config.server.bodyLimitBytes;

  /** The sink this secret belongs to; every sink is compared, so the time says nothing. */
  const sinkFor = (secret: string, method: string) => {
    const given = digest(secret);
    let found: (typeof sinks)[number] | undefined;
    for (const [i, d] of digests.entries()) if (timingSafeEqual(d, given)) found = sinks[i];
    if (!found) throw notFound("not_found", `No route for ${method} /webhooks/mailchimp/[secret].`);
    return found;
  };

  return new Hono<WebhookEnv>()
    .get("/webhooks/mailchimp/:secret", (c) => {
      sinkFor(c.req.param("secret"), "GET");
      return c.json({ status: "ok" });
    })
    .post("/webhooks/mailchimp/:secret", async (c) => {
      // Over the limit is 413 whatever the secret, as before the secret is looked at.
      const body = utf8.decode(await readBody(c.req.raw, limit));
      const sink = sinkFor(c.req.param("secret"), "POST");
      const event = parseMailchimpEvent(body);
      if (event.outcome === "reject")
        throw badRequest("invalid_payload", `Not a Mailchimp audience webhook: ${event.reason}.`);
      // Every Mailchimp sink whose audiences are all the one this came from already holds the
      // change. A sink that also has other audiences still gets it (they need it; in this one
      // the member is read first and found unsubscribed, so nothing is written there).
      const skipSinks = deps.config.sinks
        .filter((s) => s.type === "mailchimp" && s.listIds.every((id) => id === event.listId))
        .map((s) => s.name);
      const result = await deps.writer.submit({
        claim: "new",
        svixId: mailchimpDeliveryKey(sink.webhookSecret, body),
        type: `mailchimp.${event.type}`,
        status: event.outcome === "act" ? "processed" : "ignored",
        occurredAt: event.occurredAt,
        intents: event.intents,
        actor: `mailchimp:${sink.name}`,
        skipSinks,
      });
      c.set("webhook", { type: `mailchimp.${event.type}`, outcome: result.status });
      return c.json({ status: result.status });
    });
}

/** Equal-length inputs for timingSafeEqual, whatever the length of what was sent. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

const utf8 = new TextDecoder();
