import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { AppError } from "../errors.ts";
import { type Logger, logAddress } from "../log.ts";
import type { Metrics, WebhookOutcome } from "../metrics/metrics.ts";
import type { AuthEnv } from "./auth.ts";
import { deliveryId } from "./signature.ts";

export const WEBHOOK_PATH = "/webhooks/resend";

/**
 * What the webhook route tells the request log about the delivery it handled, through Hono's
 * context (`c.set` in the route, `c.get` after `next()`): each request has its own, so two copies
 * of one delivery in flight at once never mix.
 */
export type WebhookEnv = { Variables: { webhook?: { type: string; outcome: WebhookOutcome } } };

export interface RequestLogOptions {
  log: Logger;
  metrics: Metrics;
  clientIp: (c: Context) => string | null;
  /** `log.requests`: write one line per request (metrics are kept either way). */
  logRequests: boolean;
  hashAddresses: boolean;
}

/**
 * One JSON line per request (method, path with the address hashed, status, duration, client
 * address; for webhooks the svix-id, event type and outcome) and the HTTP metrics. Headers and
 * bodies are never logged: they carry the signature, tokens and addresses.
 */
export function requestLog(opts: RequestLogOptions): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    const status = c.res.status;
    const route = routeLabel(c);
    opts.metrics.request(c.req.method, route, status, ms / 1000);

    const error = c.error instanceof AppError ? c.error.code : c.error ? "internal" : undefined;
    const fields: Record<string, unknown> = {
      method: c.req.method,
      path: logPath(c.req.path, opts.hashAddresses),
      status,
      duration_ms: Math.round(ms * 10) / 10,
      ip: opts.clientIp(c),
    };
    if (c.req.path === WEBHOOK_PATH) {
      const svixId = deliveryId((name) => c.req.header(name));
      const result = (c as Context<WebhookEnv>).get("webhook");
      if (result) opts.metrics.webhook(result.type, result.outcome);
      if (error === "invalid_signature") opts.metrics.signatureFailures.inc();
      if (error === "forbidden_ip") opts.metrics.forbiddenIps.inc();
      // The header is the sender's text until the signature is checked: keep it short.
      if (svixId) fields.svix_id = svixId.slice(0, 100);
      if (result) fields.type = result.type;
      fields.outcome = result?.outcome ?? error;
    } else if (c.req.path.startsWith("/webhooks/mailchimp/")) {
      // Mailchimp's deliveries are counted with Resend's, by their type (mailchimp.unsubscribe, …).
      const result = (c as Context<WebhookEnv>).get("webhook");
      if (result) opts.metrics.webhook(result.type, result.outcome);
      if (result) fields.type = result.type;
      fields.outcome = result?.outcome ?? error;
    } else if (error) {
      fields.outcome = error;
    }
    // Which token acted (its name from api.tokens, never the token), for changes the history
    // does not hold, such as a job retry.
    const token = (c as Context<AuthEnv>).get("tokenName");
    if (token) fields.token = token;
    if (opts.logRequests) opts.log.log(status >= 500 ? "error" : "info", "request", fields);
  };
}

/** The route pattern (`/v1/suppressions/:email`) keeps the metric's label set small. */
function routeLabel(c: Context): string {
  const path = routePath(c);
  return path === "" || path.includes("*") ? "unmatched" : path;
}

const ADDRESS_PATH = /^\/v1\/suppressions\/([^/]+)$/;

/** `/v1/suppressions/{email}` with the address hashed (or decoded, when hashing is off). */
export function logPath(path: string, hash: boolean): string {
  // The path of a Mailchimp webhook is its credential: never written to a log.
  if (path.startsWith("/webhooks/mailchimp/")) return "/webhooks/mailchimp/[secret]";
  const m = ADDRESS_PATH.exec(path);
  if (!m?.[1] || m[1] === "check") return path;
  let address = m[1];
  try {
    address = decodeURIComponent(address);
  } catch {}
  return `/v1/suppressions/${logAddress(address, hash)}`;
}
