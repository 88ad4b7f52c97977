import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { AppError } from "../errors.ts";
import { type Logger, logAddress } from "../log.ts";
import type { Metrics, WebhookOutcome } from "../metrics/metrics.ts";
import type { AuthEnv } from "./auth.ts";

export const WEBHOOK_PATH = "/webhooks/resend";

/**
 * What Mailchimp's webhook route tells the request log about the delivery it handled, through
 * Hono's context (`c.set` in the route, `c.get` after `next()`): each request has its own, so two
 * copies of one delivery in flight at once never mix. (Resend's route records its own.)
 */
export type WebhookEnv = { Variables: { webhook?: { type: string; outcome: WebhookOutcome } } };

export interface RequestLogOptions {
  log: Logger;
  metrics: Metrics;
  /** `log.requests`: write one line per request (metrics are kept either way). */
  logRequests: boolean;
  hashAddresses: boolean;
}

/** What one answered request was, as the log line and the HTTP metrics record it. */
export interface RequestRecord {
  method: string;
  path: string;
  /** The route pattern, the metrics' label. */
  route: string;
  status: number;
  ms: number;
  ip: string | null;
  /** The AppError's code, or `internal`. */
  error?: string;
  /** A delivery: its (unverified) message id, and what became of it when it was handled. */
  delivery?: { id: string | undefined; result: { type: string; outcome: WebhookOutcome } | undefined };
  /** The API token's name (from api.tokens) that acted. */
  token?: string;
}

/**
 * One JSON line per request (method, path with the address hashed, status, duration, client
 * address; for webhooks the svix-id, event type and outcome) and the HTTP metrics. Headers and
 * bodies are never logged: they carry the signature, tokens and addresses. Hono's routes reach it
 * through `requestLog`; the Resend webhook route, which bypasses Hono, calls it directly.
 */
export function requestRecorder(opts: RequestLogOptions): (r: RequestRecord) => void {
  return (r) => {
    opts.metrics.request(r.method, r.route, r.status, r.ms / 1000);
    const fields: Record<string, unknown> = {
      method: r.method,
      path: logPath(r.path, opts.hashAddresses),
      status: r.status,
      duration_ms: Math.round(r.ms * 10) / 10,
      ip: r.ip,
    };
    if (r.delivery) {
      const { id, result } = r.delivery;
      if (result) opts.metrics.webhook(result.type, result.outcome);
      if (r.error === "invalid_signature") opts.metrics.signatureFailures.inc();
      if (r.error === "forbidden_ip") opts.metrics.forbiddenIps.inc();
      // The header is the sender's text until the signature is checked: keep it short.
      if (id) fields.svix_id = id.slice(0, 100);
      if (result) fields.type = result.type;
      fields.outcome = result?.outcome ?? r.error;
    } else if (r.error) {
      fields.outcome = r.error;
    }
    // Which token acted (its name from api.tokens, never the token), for changes the history
    // does not hold, such as a job retry.
    if (r.token) fields.token = r.token;
    if (opts.logRequests) opts.log.log(r.status >= 500 ? "error" : "info", "request", fields);
  };
}

/** `requestRecorder` as Hono middleware: every route but the Resend webhook's. */
export function requestLog(
  record: (r: RequestRecord) => void,
  clientIp: (c: Context) => string | null,
): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = routeLabel(c);
    // The Resend route records itself (reached here only by a path Hono decodes to it).
    if (route === WEBHOOK_PATH) return;
    const error = c.error instanceof AppError ? c.error.code : c.error ? "internal" : undefined;
    // Mailchimp's deliveries are counted with Resend's, by their type (mailchimp.unsubscribe, …).
    const mailchimp = c.req.path.startsWith("/webhooks/mailchimp/");
    const token = (c as Context<AuthEnv>).get("tokenName");
    record({
      method: c.req.method,
      path: c.req.path,
      route,
      status: c.res.status,
      ms: performance.now() - started,
      ip: clientIp(c),
      ...(error ? { error } : {}),
      ...(mailchimp
        ? { delivery: { id: undefined, result: (c as Context<WebhookEnv>).get("webhook") } }
        : {}),
      ...(token ? { token } : {}),
    });
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
