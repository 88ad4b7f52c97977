import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import { LibsqlDialect } from "../../src/db/dialect.ts";
import { migrations } from "../../src/db/migrations/index.ts";
import { runCli } from "../cli/run.ts";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, BUN, ROOT, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";

// A database written by the landed version (rows sent as plain JSON.stringify text through
// json_each) holds lone surrogates as bytes that are not UTF-8, and libsql aborts the process on
// any read of them. Everything that could read them runs in child processes here: a panic in this
// process would kill the test runner instead of failing a test.

const tmp = tempDir();
let daemon: RunningDaemon | undefined;
let sink: ReturnType<typeof Bun.serve> | undefined;
afterEach(async () => {
  if (daemon && daemon.proc.exitCode === null) await daemon.stop();
  daemon = undefined;
  sink?.stop(true);
});
afterAll(() => tmp.cleanup());

const NOTE = "Customer asked to stop 😀 ".repeat(100).slice(0, 2000);
const T = Date.parse("2026-05-01T12:00:00Z");

/**
 * The landed version's statements (writer_sql.ts at 4bbd3f8), frozen here: the schema has moved on
 * since (sources, actors), and the point is what that version wrote.
 */
const LANDED = {
  CLAIM_EVENTS: `INSERT INTO webhook_events (svix_id, type, status, occurred_at, received_at)
SELECT value->>0, value->>1, value->>2, value->>3, ?2 FROM json_each(?1) WHERE true
ON CONFLICT (svix_id) DO NOTHING RETURNING svix_id`,
  UPSERT_SUPPRESSIONS: `INSERT INTO suppressions
(email, suppressed, reason, first_suppressed_at, suppressed_at, last_event_at, updated_at, note)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7
FROM json_each(?1) WHERE true
ON CONFLICT (email) DO UPDATE SET suppressed = excluded.suppressed, reason = excluded.reason,
first_suppressed_at = excluded.first_suppressed_at, suppressed_at = excluded.suppressed_at,
last_event_at = excluded.last_event_at, updated_at = excluded.updated_at, note = excluded.note`,
  UPSERT_REASONS: `INSERT INTO suppression_reasons (email, reason, active, since, last_event_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4 FROM json_each(?1) WHERE true
ON CONFLICT (email, reason) DO UPDATE SET active = excluded.active, since = excluded.since,
last_event_at = excluded.last_event_at`,
  INSERT_HISTORY: `INSERT INTO suppression_events
(email, decision, reason, event_type, svix_id, occurred_at, recorded_at, note)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, ?2, value->>6 FROM json_each(?1)`,
  INSERT_JOBS: `INSERT INTO sync_jobs
(sink, email, action, reason, event_type, occurred_at, status, attempts, next_attempt_at, created_at, updated_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, 'pending', 0, ?2, ?2, ?2
FROM json_each(?1)`,
};

/** A database at the landed schema (migrations up to 003), written as the landed writer did. */
async function plantLikeTheLandedVersion(dbFile: string) {
  const c = createClient({ url: `file:${dbFile}` });
  const migrator = new Migrator({
    db: new Kysely<unknown>({ dialect: new LibsqlDialect(c) }),
    provider: { getMigrations: async () => migrations },
  });
  const { error } = await migrator.migrateTo("003_sync_jobs_by_email");
  if (error) throw error;
  // The landed writer's parameter: JSON.stringify, lone surrogates as `\udXXX` escapes.
  const exec = (text: string, rows: unknown[], arg?: number) =>
    c.execute({ sql: text, args: arg === undefined ? [JSON.stringify(rows)] : [JSON.stringify(rows), arg] });
  await exec(LANDED.CLAIM_EVENTS, [["msg_bad_type", "email.\ud800opened", "ignored", T]], T);
  const row = (email: string, note: string | null) => [email, 1, "manual", T, T, T, T, note];
  await exec(LANDED.UPSERT_SUPPRESSIONS, [
    row("jane@example.com", NOTE),
    row("\ud800x@example.com", null),
    row("\udc00x@example.com", null), // the same text as the one above once repaired
  ]);
  await exec(LANDED.UPSERT_REASONS, [
    ["jane@example.com", "manual", 1, T, T],
    ["\ud800x@example.com", "hard_bounce", 1, T, T],
  ]);
  await exec(
    LANDED.INSERT_HISTORY,
    [["\ud800x@example.com", "suppressed", "hard_bounce", "email.bounced", "m1", T, null]],
    T,
  );
  await exec(
    LANDED.INSERT_JOBS,
    [["crm", "\ud800x@example.com", "suppress", "hard_bounce", "email.bounced", T]],
    T,
  );
  c.close();
}

/** Values holding an encoded surrogate, counted without reading any text back. */
async function badValues(dbFile: string): Promise<number> {
  const c = createClient({ url: `file:${dbFile}` });
  try {
    let n = 0;
    for (const [t, cols] of Object.entries({
      webhook_events: ["type"],
      suppressions: ["email", "note"],
      suppression_reasons: ["email"],
      suppression_events: ["email"],
      sync_jobs: ["email"],
    })) {
      for (const col of cols) {
        const r = await c.execute(`SELECT count(*) AS n FROM ${t} WHERE hex(${col}) GLOB '*ED[AB][0-9A-F]*'`);
        n += Number(r.rows[0]?.n);
      }
    }
    return n;
  } finally {
    c.close();
  }
}

/** What the landed version did on any read of the note: abort the process. */
async function readNoteInChild(dbFile: string) {
  const code = `import { createClient } from "@libsql/client";
    const c = createClient({ url: "file:${dbFile}" });
    const r = await c.execute("SELECT note FROM suppressions WHERE email = 'jane@example.com'");
    process.stdout.write(String(r.rows[0]?.note).slice(-3));`;
  const proc = Bun.spawn([BUN, "-e", code], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  return { exit, stdout };
}

test("a database poisoned by the landed code path is repaired at start; nothing reading it crashes", async () => {
  const dbFile = join(tmp.dir, "poisoned.db");
  await plantLikeTheLandedVersion(dbFile);
  expect(await badValues(dbFile)).toBe(7);
  const before = await readNoteInChild(dbFile);
  expect(before.exit).not.toBe(0); // libsql's panic: the test shows the damage is real

  const seen: string[] = [];
  sink = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      seen.push(decodeURIComponent(new URL(req.url).pathname));
      return new Response("ok");
    },
  });
  const config = writeConfig(tmp.dir, dbFile, {
    sinks: [{ type: "http", name: "crm", method: "PUT", url: `http://127.0.0.1:${sink.port}/c/{{email}}` }],
    sync: { pollMs: 50 },
  });
  daemon = await startDaemon({ config });
  expect(await badValues(dbFile)).toBe(0);

  const get = (path: string) => fetch(`${daemon?.url}${path}`, { headers: authHeaders() });
  const jane = (await (await get("/v1/suppressions/jane@example.com")).json()) as { note: string };
  expect(jane.note).toBe(`${NOTE.slice(0, -1)}\ufffd`);
  const list = (await (await get("/v1/suppressions?limit=1000")).json()) as { items: { email: string }[] };
  expect(list.items.map((i) => i.email).sort()).toEqual(["jane@example.com", "\ufffdx@example.com"]);
  expect(await (await get("/v1/suppressions?format=csv")).text()).toContain("\ufffdx@example.com");
  expect((await get("/metrics")).status).toBe(200);
  // The sync worker claims the planted job and sends it with the repaired address.
  const deadline = Date.now() + 20_000;
  while (seen.length === 0 && Date.now() < deadline) await Bun.sleep(50);
  expect(seen).toEqual(["/c/\ufffdx@example.com"]);
  const events = await runCli(["events", "list", "--config", config]);
  expect(events.code).toBe(0);
  const status = await runCli(["status", "--config", config]);
  // (exit 69 only because a daemon on port 0 cannot be checked from outside)
  expect(status.stdout).toContain("last event   email.\ufffdopened");
  expect(status.stderr).toBe("");
  expect(daemon.proc.exitCode).toBeNull();
  expect(await daemon.stop()).toBe(0);
  expect(await readNoteInChild(dbFile)).toEqual({ exit: 0, stdout: `${NOTE.slice(0, -1)}\ufffd`.slice(-3) });
}, 60_000);
