import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { WriteItem, WriteQueue, WriteResult } from "../db/writer.ts";
import { AppError } from "../errors.ts";
import { type Logger, logAddress } from "../log.ts";
import type { Metrics, WebhookOutcome } from "../metrics/metrics.ts";
import type { AuthEnv } from "./auth.ts";
import { deliveryId } from "./signature.ts";

export const WEBHOOK_PATH = "/webhooks/resend";

/**
 * Sees every webhook write: counts events by type and outcome, and hands the request log the
 * type and outcome of the delivery it is logging (matched by svix-id). It wraps the writer the
 * webhook route is given, so the route itself knows nothing about metrics.
 */
export class WebhookObserver {
  /** Per svix-id, because two copies of one delivery can be in flight at once (a retry race). */
  private readonly inFlight = new Map<string, { type: string; outcome: WebhookOutcome }[]>();
  constructor(private readonly metrics: Metrics) {}

  wrap(writer: WriteQueue): WriteQueue {
    const submit = async (item: WriteItem): Promise<WriteResult> => {
      const result = await writer.submit(item);
      if (item.claim === "new" && item.svixId !== null) {
        const outcome = result.status as WebhookOutcome;
        this.metrics.webhook(item.type, outcome);
        const list = this.inFlight.get(item.svixId);
        if (list) list.push({ type: item.type, outcome });
        else this.inFlight.set(item.svixId, [{ type: item.type, outcome }]);
      }
      return result;
    };
    return new Proxy(writer, {
      get: (target, prop) => {
        if (prop === "submit") return submit;
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  /** The result recorded for `svixId` by this request, removed so the map only holds in-flight ones. */
  take(svixId: string): { type: string; outcome: WebhookOutcome } | undefined {
    const list = this.inFlight.get(svixId);
    const r = list?.shift();
    if (list?.length === 0) this.inFlight.delete(svixId);
    return r;
  }
}

export interface RequestLogOptions {
  log: Logger;
  metrics: Metrics;
  webhooks: WebhookObserver;
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
      const result = svixId ? opts.webhooks.take(svixId) : undefined;
      if (error === "invalid_signature") opts.metrics.signatureFailures.inc();
      if (error === "forbidden_ip") opts.metrics.forbiddenIps.inc();
      // The header is the sender's text until the signature is checked: keep it short.
      if (svixId) fields.svix_id = svixId.slice(0, 100);
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
