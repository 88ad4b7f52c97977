import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Config } from "../../src/config/schema.ts";
import { sinkTargets } from "../../src/daemon.ts";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { Writer } from "../../src/db/writer.ts";
import { createApp } from "../../src/http/app.ts";
import { TOKEN, testConfig } from "./config.ts";

export function tempDir(prefix = "suppressd-test-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  db: Db;
  writer: Writer;
  config: Config;
  dir: string;
  /** Advances with `now.value`; defaults to the real time at creation. */
  now: { value: number };
  close(): Promise<void>;
  /** Authenticated API call through app.request (no port). */
  api(method: string, path: string, body?: unknown): Promise<Response>;
  /** Row counts of every table: compare before and after to show nothing changed. */
  counts(): Promise<Record<string, number>>;
}

/** A fresh app on a fresh libSQL file, in-process (Hono's app.request, no port). */
export async function makeApp(overrides: Record<string, unknown> = {}): Promise<TestApp> {
  const tmp = tempDir();
  const config = testConfig(`file:${join(tmp.dir, "test.db")}`, overrides);
  const db = await openDatabase(config.database);
  await migrate(db);
  const now = { value: Date.now() };
  const clock = () => now.value;
  const writer = new Writer(db, {
    softBounce: config.policy.softBounce,
    sinks: sinkTargets(config),
    clock,
    hashKey: config.privacy.hashKey,
  });
  const app = createApp({ config, db, writer, clock });
  return {
    app,
    db,
    writer,
    config,
    dir: tmp.dir,
    now,
    async close() {
      await writer.close();
      db.close();
      tmp.cleanup();
    },
    api(method, path, body) {
      return Promise.resolve(
        app.request(path, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
        }),
      );
    },
    counts: () => tableCounts(db),
  };
}

export async function tableCounts(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    "webhook_events",
    "quarantine",
    "suppressions",
    "suppression_reasons",
    "suppression_events",
    "sync_jobs",
  ]) {
    const r = await db.reader.execute(`SELECT count(*) AS n FROM ${t}`);
    out[t] = Number(r.rows[0]?.n);
  }
  return out;
}

/** `makeApp` for a test file: every app it makes is closed after each test. */
export function appsClosedAfterEach(): (overrides?: Record<string, unknown>) => Promise<TestApp> {
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const a of apps.splice(0)) await a.close();
  });
  return async (overrides = {}) => {
    const t = await makeApp(overrides);
    apps.push(t);
    return t;
  };
}
