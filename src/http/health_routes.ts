import { Hono } from "hono";
import { unavailable } from "../errors.ts";
import type { AppDeps } from "./app.ts";

/** /healthz: the process answers. /readyz: the database answers too. Neither needs a token. */
export function healthRoutes(deps: AppDeps) {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
      try {
        await deps.db.reader.execute("SELECT 1 FROM webhook_events LIMIT 1");
      } catch (e) {
        throw unavailable(`The database does not answer: ${(e as Error).message}`);
      }
      return c.json({ status: "ready" });
    });
}
