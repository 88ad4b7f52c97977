import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { migrate, openDatabase } from "../../src/db/client.ts";
import * as SQL from "../../src/db/writer_sql.ts";
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

/** The landed writer's parameter: JSON.stringify, lone surrogates as `\udXXX` escapes. */
async function plantLikeTheLandedVersion(dbFile: string) {
  const db = await openDatabase({ url: `file:${dbFile}` });
  await migrate(db);
  db.close();
  const c = createClient({ url: `file:${dbFile}` });
  const exec = (text: string, rows: unknown[], arg?: number) =>
    c.execute({ sql: text, args: arg === undefined ? [JSON.stringify(rows)] : [JSON.stringify(rows), arg] });
  await exec(SQL.CLAIM_EVENTS, [["msg_bad_type", "email.\ud800opened", "ignored", T]], T);
  const row = (email: string, note: string | null) => [email, 1, "manual", T, T, T, T, note];
  await exec(SQL.UPSERT_SUPPRESSIONS, [
    row("jane@example.com", NOTE),
    row("\ud800x@example.com", null),
    row("\udc00x@example.com", null), // the same text as the one above once repaired
  ]);
  await exec(SQL.UPSERT_REASONS, [
    ["jane@example.com", "manual", 1, T, T],
    ["\ud800x@example.com", "hard_bounce", 1, T, T],
  ]);
  await exec(
    SQL.INSERT_HISTORY,
    [["\ud800x@example.com", "suppressed", "hard_bounce", "email.bounced", "m1", T, null]],
    T,
  );
  await exec(
    SQL.INSERT_JOBS,
    [["crm", "\ud800x@example.com", "suppress", "hard_bounce", "email.bounced", T]],
    T,
  );
  // As the landed version left it: the repair has not run yet.
  await c.execute("DELETE FROM kysely_migration WHERE name = '004_repair_lone_surrogates'");
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
