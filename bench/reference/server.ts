/**
 * The reference receiver of issue 2 §7: what a competent developer writes first. Hono, svix
 * verification, then ONE libSQL write transaction per request that records the svix-id (unique,
 * so a retry does nothing twice) and the suppression, and 200 only after that commit.
 * Same durability as suppressd: WAL, synchronous=FULL.
 *
 * Why `client.batch([...], "write")` and not `client.transaction()`: with a `file:` URL, concurrent
 * interactive transactions fail (DESIGN.md measured 3,199 of 3,200 SQLITE_BUSY/TRANSACTION_ACTIVE
 * at 64 concurrent writers). A batch runs BEGIN IMMEDIATE … COMMIT as one synchronous native call,
 * so requests never interleave inside a transaction: one request, one transaction, one fsync.
 * `concurrency: 1` keeps a single connection, so the PRAGMAs below apply to every commit.
 *
 * Usage: bun bench/reference/server.ts --db FILE --secret whsec_… [--port 0]
 */
import { parseArgs } from "node:util";
import { createClient, type InStatement } from "@libsql/client";
import { Hono } from "hono";
import { Webhook } from "svix";

const { values } = parseArgs({
  options: {
    db: { type: "string" },
    secret: { type: "string" },
    port: { type: "string", default: "0" },
  },
});
if (!values.db || !values.secret) throw new Error("usage: server.ts --db FILE --secret whsec_… [--port N]");

const client = createClient({ url: `file:${values.db}`, concurrency: 1 });
await client.execute("PRAGMA journal_mode=WAL");
await client.execute("PRAGMA synchronous=FULL");
await client.batch(
  [
    `CREATE TABLE IF NOT EXISTS webhook_events (
       svix_id TEXT PRIMARY KEY NOT NULL, type TEXT NOT NULL, received_at INTEGER NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS suppressions (
       email TEXT PRIMARY KEY NOT NULL, reason TEXT NOT NULL, updated_at INTEGER NOT NULL)`,
  ],
  "write",
);

const webhook = new Webhook(values.secret);

/** Hard bounces and complaints suppress; everything else is only recorded. */
function reasonFor(event: { type: string; data?: { bounce?: { type?: string } } }): string | null {
  if (event.type === "email.complained") return "complaint";
  if (event.type === "email.bounced" && event.data?.bounce?.type === "Permanent") return "hard_bounce";
  return null;
}

function addressOf(to: string): string {
  return (/<([^>]+)>/.exec(to)?.[1] ?? to).trim().toLowerCase();
}

const app = new Hono();
app.get("/healthz", (c) => c.json({ status: "ok" }));
app.post("/webhooks/resend", async (c) => {
  const body = await c.req.text();
  const id = c.req.header("svix-id") ?? "";
  try {
    webhook.verify(body, {
      "svix-id": id,
      "svix-timestamp": c.req.header("svix-timestamp") ?? "",
      "svix-signature": c.req.header("svix-signature") ?? "",
    });
  } catch {
    return c.json({ error: "invalid_signature" }, 401);
  }
  const event = JSON.parse(body);
  const now = Date.now();
  const statements: InStatement[] = [
    {
      sql: "INSERT INTO webhook_events (svix_id, type, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      args: [id, event.type, now],
    },
  ];
  const reason = reasonFor(event);
  if (reason) {
    for (const to of event.data?.to ?? []) {
      statements.push({
        sql: `INSERT INTO suppressions (email, reason, updated_at) VALUES (?, ?, ?)
              ON CONFLICT (email) DO UPDATE SET reason = excluded.reason, updated_at = excluded.updated_at`,
        args: [addressOf(to), reason, now],
      });
    }
  }
  try {
    await client.batch(statements, "write");
  } catch (e) {
    console.error(JSON.stringify({ level: "error", msg: "commit failed", error: String(e) }));
    return c.json({ error: "unavailable" }, 503);
  }
  return c.json({ status: "processed" });
});

const server = Bun.serve({ hostname: "127.0.0.1", port: Number(values.port), fetch: app.fetch });
console.log(
  JSON.stringify({ level: "info", msg: "reference listening", url: `http://127.0.0.1:${server.port}` }),
);

process.on("SIGTERM", async () => {
  await server.stop(false);
  client.close();
  process.exit(0);
});
