import { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import type { WriteQueue } from "../db/writer.ts";
import { AppError } from "../errors.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { Metrics } from "../metrics/metrics.ts";
import { clientIpOf, IpSet, ipAllowlist } from "../net/ip_rules.ts";
import type { ReconcileStatus } from "../reconcile/schedule.ts";
import { SinkHealth } from "../status/sink_health.ts";
import { uiRoutes } from "../ui/routes.tsx";
import { UiStats } from "../ui/stats.ts";
import { bearerAuth } from "./auth.ts";
import { changeRoutes } from "./change_routes.ts";
import { healthRoutes } from "./health_routes.ts";
import { mailchimpWebhookRoutes } from "./mailchimp_webhook_routes.ts";
import { metricsRoutes } from "./metrics_routes.ts";
import { logPath, requestLog, WEBHOOK_PATH } from "./request_log.ts";
import { statusRoutes } from "./status_routes.ts";
import { suppressionRoutes } from "./suppression_routes.ts";
import { syncRoutes } from "./sync_routes.ts";
import { webhookRoutes } from "./webhook_routes.ts";

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
  const clientIp = clientIpOf(new IpSet(config.server.trustProxy));
  const log = deps.log ?? jsonLogger(config.log.level, undefined, config.log.hashAddresses);
  const app = new Hono();
  app.use(
    "*",
    requestLog({
      log,
      metrics,
      clientIp,
      logRequests: config.log.requests,
      hashAddresses: config.log.hashAddresses,
    }),
  );
  const allowed = config.resend.allowedIps;
  if (allowed)
    app.use(WEBHOOK_PATH, ipAllowlist(new IpSet(allowed === "resend" ? [allowed] : allowed), clientIp));
  app.use("/v1/*", bearerAuth(config.api.named));
  const scrapers = config.metrics.tokens.map((token, i) => ({ name: `metrics.tokens[${i}]`, token }));
  app.use("/metrics", bearerAuth([...config.api.named, ...scrapers]));
  app.route("/", healthRoutes(deps));
  app.route("/", webhookRoutes(deps));
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
    if (err instanceof AppError) {
      return c.json({ error: err.code, message: err.message }, err.status as 400);
    }
    log.log("error", "unhandled error", {
      path: logPath(c.req.path, config.log.hashAddresses),
      error: String(err?.stack ?? err),
    });
    return c.json({ error: "internal", message: "Internal error; it has been logged." }, 500);
  });
  return app;
}
