import { Hono } from "hono";
import { ping } from "../db/client.ts";
import { unavailable } from "../errors.ts";
import type { AppDeps } from "./app.ts";

/** /healthz: the process answers. /readyz: the database answers too. Neither needs a token. */
export function healthRoutes(deps: AppDeps) {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) => {
      try {
        await ping(deps.db);
      } catch (e) {
        throw unavailable(`The database does not answer: ${(e as Error).message}`);
      }
      return c.json({ status: "ready" });
    });
}
