import { Hono } from "hono";
import type { Metrics } from "../metrics/metrics.ts";
import { CONTENT_TYPE } from "../metrics/registry.ts";

/** GET /metrics in Prometheus text format; app.ts puts the token check in front of it. */
export function metricsRoutes(metrics: Metrics) {
  return new Hono().get("/metrics", async (c) => {
    c.header("content-type", CONTENT_TYPE);
    c.header("cache-control", "no-store");
    return c.body(await metrics.render());
  });
}
