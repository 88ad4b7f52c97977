import { Hono } from "hono";
import type { Metrics } from "../metrics/metrics.ts";
import { syncStatus } from "../status/report.ts";
import type { SinkHealth } from "../status/sink_health.ts";
import { VERSION } from "../version.ts";
import type { AppDeps } from "./app.ts";

/**
 * GET /v1/status: the daemon's health as JSON, for `suppressd status` and monitoring. `ok` is
 * false, with `problems` in words, when a sink is failing or stopped or jobs are dead.
 */
export function statusRoutes(deps: AppDeps & { metrics: Metrics; sinkHealth: SinkHealth }) {
  const { metrics } = deps;
  return new Hono().get("/v1/status", async (c) => {
    const sync = await syncStatus(deps.db.read, deps.config, deps.sinkHealth, deps.clock());
    c.header("cache-control", "no-store");
    return c.json({
      ok: sync.ok,
      problems: sync.problems,
      version: VERSION,
      started_at: new Date(Date.now() - process.uptime() * 1000).toISOString(),
      // Counters of this process, since it started.
      since_start: {
        signature_failures: metrics.signatureFailures.get(),
        forbidden_ips: metrics.forbiddenIps.get(),
        duplicates: metrics.duplicates.get(),
      },
      // The newest delivery this process answered, stored or not (resend.recordIgnored false
      // stores no send, open or click): null before the first.
      last_webhook: lastWebhook(metrics),
      sinks: sync.sinks,
      sinks_not_configured: sync.sinks_not_configured,
      // The last scheduled comparison with Mailchimp and Resend (null: none yet, or not scheduled).
      reconcile: deps.config.reconcile.everyHours > 0 ? (deps.reconcile?.last() ?? null) : null,
    });
  });
}

/** The newest delivery this process answered, stored or not. */
function lastWebhook(metrics: Metrics) {
  const last = metrics.lastEventAlso(null);
  return last ? { type: last.type, received_at: new Date(last.receivedAt).toISOString() } : null;
}
