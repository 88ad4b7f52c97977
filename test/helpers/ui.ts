import { join } from "node:path";
import type { Config } from "../../src/config/schema.ts";
import { sinkTargets } from "../../src/daemon.ts";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { Writer } from "../../src/db/writer.ts";
import { createApp } from "../../src/http/app.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { SinkHealth } from "../../src/status/sink_health.ts";
import { UiStats } from "../../src/ui/stats.ts";
import { tempDir } from "./app.ts";
import { TOKEN, testConfig } from "./config.ts";
import { bounce, event, signedHeaders } from "./sign.ts";

export const UI_TOKEN = "ui-only-token-0123456789";

export interface UiWorld {
  app: ReturnType<typeof createApp>;
  db: Db;
  config: Config;
  stats: UiStats;
  sinkHealth: SinkHealth;
  now: { value: number };
  /** Authenticated API call. */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  /** A signed webhook delivery; `bad` signs it with the wrong secret. */
  webhook(body: string, bad?: boolean): Promise<Response>;
  rows<T = Record<string, unknown>>(sql: string, args?: (string | number)[]): Promise<T[]>;
  close(): Promise<void>;
}

const DAY = 86_400_000;

/** An app with the status page on a fresh database, its stats refreshed only when the test says. */
export async function uiWorld(overrides: Record<string, unknown> = {}): Promise<UiWorld> {
  const tmp = tempDir("suppressd-ui-");
  const config = testConfig(`file:${join(tmp.dir, "ui.db")}`, {
    ui: { tokens: [UI_TOKEN] },
    sinks: [{ type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" }],
    ...overrides,
  });
  const db = await openDatabase(config.database);
  await migrate(db);
  const now = { value: Date.now() };
  const clock = () => now.value;
  const writer = new Writer(db, { softBounce: config.policy.softBounce, sinks: sinkTargets(config), clock });
  const sinkHealth = new SinkHealth(
    config.sinks.map((s) => s.name),
    clock,
  );
  // As the daemon wires them: the status page also sees deliveries that were not stored.
  const metrics = new Metrics({ db: db.read, clock });
  const stats = new UiStats({ db, config, clock, sinkHealth, metrics });
  const app = createApp({ config, db, writer, clock, metrics, sinkHealth, uiStats: stats });
  return {
    app,
    db,
    config,
    stats,
    sinkHealth,
    now,
    api: async (method, path, body) =>
      app.request(path, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }),
    webhook: async (body, bad = false) =>
      app.request("/webhooks/resend", {
        method: "POST",
        body,
        headers: signedHeaders(body, bad ? { secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" } : {}),
      }),
    async rows<T>(sql: string, args: (string | number)[] = []) {
      return (await db.reader.execute({ sql, args })).rows as unknown as T[];
    },
    async close() {
      await stats.stop();
      await writer.close();
      db.close();
      tmp.cleanup();
    },
  };
}

/**
 * A small history to look at: manual suppressions and lifts spread over the last weeks (the
 * chart), then today's webhooks of each kind (the overview), a quarantined delivery, an ignored
 * one and one with a bad signature. The clock is moved forward only, as real time would.
 */
export async function populate(w: UiWorld): Promise<void> {
  const today = w.now.value;
  for (let d = 20; d >= 1; d--) {
    w.now.value = today - d * DAY;
    for (let i = 0; i < (d % 5) + 1; i++) {
      const res = await w.api("PUT", `/v1/suppressions/old${d}-${i}@example.org`, { reason: "manual" });
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}`);
    }
    if (d % 3 === 0) await w.api("DELETE", `/v1/suppressions/old${d}-0@example.org`);
  }
  w.now.value = today;
  // What the sync worker reports after its batches (the worker does not run here): one success,
  // then a batch the CRM refused with 503, so the sink is "failing" with an error to show.
  w.sinkHealth.call("crm", { done: 3, failures: [] });
  w.now.value = today + 1000;
  w.sinkHealth.call("crm", {
    done: 0,
    failures: [{ class: "server", n: 2, error: "POST 127.0.0.1 answered 503: Service Unavailable" }],
  });
  w.now.value = today;
  const deliveries = [
    bounce("hard1@example.com"),
    bounce("hard2@example.com"),
    bounce("soft@example.com", "Transient"),
    event("email.complained", { to: ["Jane <jane@example.com>"] }),
    event("email.opened", { to: ["reader@example.com"] }),
    event(
      "suppression.added",
      { email: "lifted@example.com", origin: "bounce" },
      new Date(today - 60_000).toISOString(),
    ),
    event(
      "suppression.removed",
      { email: "lifted@example.com", origin: "bounce" },
      new Date(today).toISOString(),
    ),
    // `unsubscribed` is not a boolean: quarantined, with its address.
    event("contact.updated", { email: "odd@example.com", unsubscribed: "yes" }),
  ];
  for (const body of deliveries) {
    const res = await w.webhook(body);
    if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
  }
  await w.webhook(bounce("forged@example.com"), true);
  await w.api("PUT", "/v1/suppressions/manual@example.com", { reason: "manual", note: "asked by phone" });
}

/**
 * Logs in to a running daemon's status page over real HTTP and returns the page: what the compiled
 * binary and Deno are checked with (the JSX must have been compiled in, the CSS hash must match).
 */
export async function statusPageOf(url: string): Promise<{ status: number; html: string; csp: string }> {
  const first = await fetch(`${url}/ui`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await first.text())?.[1] ?? "";
  const loginCookie = first.headers.getSetCookie()[0]?.split(";")[0] ?? "";
  const login = await fetch(`${url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: loginCookie },
    body: new URLSearchParams({ csrf, token: TOKEN }),
  });
  const session = login.headers.getSetCookie().find((c) => c.startsWith("suppressd_session=")) ?? "";
  const page = await fetch(`${url}/ui`, { headers: { cookie: session.split(";")[0] ?? "" } });
  return {
    status: page.status,
    html: await page.text(),
    csp: page.headers.get("content-security-policy") ?? "",
  };
}
