/**
 * Not a receiver: the ceiling. Hono + svix verification + JSON.parse, then 200 with no database at
 * all. The gap between this and suppressd is what storage (group commit, policy, SQL) costs; the
 * gap between this and wrk's raw rate is HTTP + verification.
 *
 * Usage: bun bench/reference/echo.ts --secret whsec_… [--port 0] [--db ignored]
 */
import { parseArgs } from "node:util";
import { Hono } from "hono";
import { Webhook } from "svix";

const { values } = parseArgs({
  options: {
    db: { type: "string" },
    secret: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!values.secret) throw new Error("usage: echo.ts --secret whsec_… [--port N]");
const webhook = new Webhook(values.secret);

const app = new Hono();
app.get("/healthz", (c) => c.json({ status: "ok" }));
app.post("/webhooks/resend", async (c) => {
  const body = await c.req.text();
  try {
    webhook.verify(body, {
      "svix-id": c.req.header("svix-id") ?? "",
      "svix-timestamp": c.req.header("svix-timestamp") ?? "",
      "svix-signature": c.req.header("svix-signature") ?? "",
    });
  } catch {
    return c.json({ error: "invalid_signature" }, 401);
  }
  JSON.parse(body);
  return c.json({ status: "processed" });
});

const server = Bun.serve({ hostname: "127.0.0.1", port: Number(values.port), fetch: app.fetch });
console.log(JSON.stringify({ level: "info", msg: "echo listening", url: `http://127.0.0.1:${server.port}` }));
process.on("SIGTERM", async () => {
  await server.stop(false);
  process.exit(0);
});
