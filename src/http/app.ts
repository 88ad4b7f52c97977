import { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import type { Writer } from "../db/writer.ts";
import { AppError } from "../errors.ts";
import { bearerAuth } from "./auth.ts";
import { healthRoutes } from "./health_routes.ts";
import { suppressionRoutes } from "./suppression_routes.ts";
import { webhookRoutes } from "./webhook_routes.ts";

/** Everything the HTTP layer needs, passed in so a test builds a fresh app on a fresh database. */
export interface AppDeps {
  config: Config;
  db: Db;
  writer: Writer;
  clock: () => number;
}

/**
 * Every route group, in one place. `/v1/*` requires a bearer token; the webhook route is
 * authenticated by its signature; health checks are open.
 */
export function createApp(deps: AppDeps) {
  const app = new Hono();
  app.use("/v1/*", bearerAuth(deps.config.api.tokens));
  app.route("/", healthRoutes(deps));
  app.route("/", webhookRoutes(deps));
  app.route("/", suppressionRoutes(deps));
  app.notFound((c) =>
    c.json({ error: "not_found", message: `No route for ${c.req.method} ${c.req.path}.` }, 404),
  );
  app.onError((err, c) => {
    if (err instanceof AppError) {
      return c.json({ error: err.code, message: err.message }, err.status as 400);
    }
    console.error(
      JSON.stringify({
        level: "error",
        msg: "unhandled error",
        path: c.req.path,
        error: String(err?.stack ?? err),
      }),
    );
    return c.json({ error: "internal", message: "Internal error; it has been logged." }, 500);
  });
  return app;
}
