import { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import type { WriteQueue } from "../db/writer.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { Metrics } from "../metrics/metrics.ts";
import { clientAddress, clientIpOf, IpSet } from "../net/ip_rules.ts";
import type { ReconcileStatus } from "../reconcile/schedule.ts";
import { SinkHealth } from "../status/sink_health.ts";
import { uiRoutes } from "../ui/routes.tsx";
import { UiStats } from "../ui/stats.ts";
import { bearerAuth } from "./auth.ts";
import { changeRoutes } from "./change_routes.ts";
import { errorAnswer } from "./error_answer.ts";
import { healthRoutes } from "./health_routes.ts";
import { mailchimpWebhookRoutes } from "./mailchimp_webhook_routes.ts";
import { metricsRoutes } from "./metrics_routes.ts";
import { logPath, requestLog, requestRecorder, WEBHOOK_PATH } from "./request_log.ts";
import { statusRoutes } from "./status_routes.ts";
import { suppressionRoutes } from "./suppression_routes.ts";
import { syncRoutes } from "./sync_routes.ts";
import { isResendWebhook, type Peer, resendWebhook } from "./webhook_routes.ts";

/** Everything the HTTP layer needs, passed in so a test builds a fresh app on a fresh database. */
export interface AppDeps {
  config: Config;
  db: Db;
  writer: WriteQueue;
  clock: () => number;
  /** The daemon's registry, shared with the sync worker and retention; a fresh one if absent. */
  metrics?: Metrics;
  /** Request log lines go here; defaults to stdout at `log.level`. */
  log?: Logger;
  /** The status page's cached figures (the daemon's refreshes in the background); fresh if absent. */
  uiStats?: UiStats;
  /** The sync worker's view of each sink (GET /v1/status); without one, every sink is "unknown". */
  sinkHealth?: SinkHealth;
  /** The scheduled reconcile's last report (GET /v1/status), when `reconcile.everyHours` is set. */
  reconcile?: { last(): ReconcileStatus | null };
}

/**
 * Every route group, in one place. `/v1/*` requires a bearer token; `/metrics` an API token or a
 * scrape-only `metrics.tokens` one; the Resend webhook route is authenticated by its signature (and,
 * optionally, its source address), Mailchimp's by the secret in its path; health checks are open;
 * the status page (`ui.path`) has its own login. Every request is logged and measured.
 */
export function createApp(deps: AppDeps) {
  const { config } = deps;
  const metrics = deps.metrics ?? new Metrics({ db: deps.db.read, clock: deps.clock });
  const trusted = new IpSet(config.server.trustProxy);
  const log = deps.log ?? jsonLogger(config.log.level, undefined, config.log.hashAddresses);
  const record = requestRecorder({
    log,
    metrics,
    logRequests: config.log.requests,
    hashAddresses: config.log.hashAddresses,
  });
  const unexpected = (err: unknown, path: string) =>
    log.log("error", "unhandled error", {
      path: logPath(path, config.log.hashAddresses),
      error: String((err as Error)?.stack ?? err),
    });
  const webhook = resendWebhook(deps, {
    record,
    clientIp: (remote, forwardedFor) => clientAddress(remote, forwardedFor, trusted),
    unexpected,
  });
  const app = new Hono();
  app.use("*", requestLog(record, clientIpOf(trusted)));
  app.use("/v1/*", bearerAuth(config.api.named));
  const scrapers = config.metrics.tokens.map((token, i) => ({ name: `metrics.tokens[${i}]`, token }));
  app.use("/metrics", bearerAuth([...config.api.named, ...scrapers]));
  app.route("/", healthRoutes(deps));
  // The same handler is also Hono's route: it is listed with the others, and a path that Hono
  // decodes to it (`/webhooks/%72esend`) is answered alike.
  app.post(WEBHOOK_PATH, (c) => webhook(c.req.raw, c.env as Peer));
  app.route("/", mailchimpWebhookRoutes(deps));
  app.route("/", suppressionRoutes(deps));
  app.route("/", changeRoutes(deps));
  app.route("/", syncRoutes(deps));
  const sinkHealth = deps.sinkHealth ?? new SinkHealth(config.sinks.map((s) => s.name));
  app.route("/", statusRoutes({ ...deps, metrics, sinkHealth }));
  app.route("/", metricsRoutes(metrics));
  if (config.ui.enabled) {
    const stats =
      deps.uiStats ?? new UiStats({ db: deps.db, config, clock: deps.clock, sinkHealth, metrics });
    app.route(config.ui.path, uiRoutes({ config, db: deps.db, clock: deps.clock, metrics, stats }));
  }
  app.notFound((c) =>
    c.json({ error: "not_found", message: `No route for ${c.req.method} ${c.req.path}.` }, 404),
  );
  app.onError((err, c) => {
    const { status, body } = errorAnswer(err, (e) => unexpected(e, c.req.path));
    return c.json(body, status as 400);
  });
  // POST /webhooks/resend goes to its handler before Hono looks at it (webhook_routes.ts says
  // why); Hono's `request()`, which the tests use, goes through `fetch` too.
  const dispatch = app.fetch;
  app.fetch = (req, env, ctx) => (isResendWebhook(req) ? webhook(req, env as Peer) : dispatch(req, env, ctx));
  return app;
}
