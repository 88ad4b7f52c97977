import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import Database from "libsql";
import { migrate, openDatabase } from "../../src/db/client.ts";
import { NativeConnection } from "../../src/db/native.ts";
import { tempDir } from "../helpers/app.ts";

// libSQL's native binding with statements kept prepared (src/db/native.ts).

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function file(): Promise<string> {
  const tmp = tempDir();
  const path = join(tmp.dir, "n.db");
  const db = await openDatabase({ url: `file:${path}` });
  await migrate(db);
  db.close();
  cleanups.push(() => tmp.cleanup());
  return path;
}

/** A connection closed after the test. */
function connect(path: string, opts: { busyTimeoutMs: number; capacity?: number } = { busyTimeoutMs: 0 }) {
  const c = new NativeConnection(path, opts);
  cleanups.push(() => c.close());
  return c;
}

const INSERT = `INSERT INTO webhook_events (svix_id, type, status, occurred_at, received_at)
                VALUES (?, 'email.sent', 'ignored', ?, 1)`;

test("a prepared statement runs again with new arguments, and rows come back by column name", async () => {
  const c = connect(await file(), { busyTimeoutMs: 100 });
  for (let i = 0; i < 5; i++) expect(c.execute(INSERT, [`m${i}`, i]).rowsAffected).toBe(1);
  const read = "SELECT svix_id, occurred_at FROM webhook_events WHERE occurred_at >= ? ORDER BY occurred_at";
  expect(c.execute(read, [3]).rows).toEqual([
    { svix_id: "m3", occurred_at: 3 },
    { svix_id: "m4", occurred_at: 4 },
  ]);
  expect(c.execute(read, [4]).rows).toEqual([{ svix_id: "m4", occurred_at: 4 }]);
});

test("an error closes the connection: an open transaction is rolled back and releases the lock", async () => {
  const path = await file();
  const c = connect(path, { busyTimeoutMs: 100 });
  c.execute("BEGIN IMMEDIATE", []);
  c.execute(INSERT, ["in_tx", 1]);
  expect(() => c.execute(INSERT, ["in_tx", 1])).toThrow(/UNIQUE|constraint/i);
  // Another connection can take the write lock at once: nothing was left holding it.
  const other = connect(path);
  expect(other.execute(INSERT, ["other", 2]).rowsAffected).toBe(1);
  // And the first connection reopens by itself, without the rolled-back row.
  expect(c.execute("SELECT svix_id FROM webhook_events ORDER BY svix_id", []).rows).toEqual([
    { svix_id: "other" },
  ]);
});

test("after SQLITE_BUSY on a write outside a transaction, the connection's next writes still commit", async () => {
  const path = await file();
  const c = connect(path);
  const holder = connect(path);
  holder.execute("BEGIN IMMEDIATE", []);
  expect(() => c.execute(INSERT, ["busy", 1])).toThrow(/locked/);
  holder.execute("COMMIT", []);
  // libsql leaves the failed statement running; on the same connection this write would join its
  // implicit transaction and keep the lock for good. The connection was abandoned instead:
  c.execute(INSERT, ["next", 2]);
  const other = connect(path);
  expect(other.execute(INSERT, ["other", 3]).rowsAffected).toBe(1);
  expect(other.execute("SELECT svix_id FROM webhook_events ORDER BY svix_id", []).rows).toEqual([
    { svix_id: "next" },
    { svix_id: "other" },
  ]);
});

test("a BEGIN that met SQLITE_BUSY leaves the connection usable: the next BEGIN takes the lock once free", async () => {
  const path = await file();
  const c = connect(path);
  const holder = connect(path);
  holder.execute("BEGIN IMMEDIATE", []);
  expect(() => c.begin()).toThrow(/locked/);
  holder.execute("COMMIT", []);
  c.begin();
  c.execute(INSERT, ["after_busy_begin", 1]);
  c.execute("COMMIT", []);
  // Committed for real: another connection sees it and can write at once.
  expect(holder.execute("SELECT svix_id FROM webhook_events", []).rows).toEqual([
    { svix_id: "after_busy_begin" },
  ]);
  expect(holder.execute(INSERT, ["holder", 2]).rowsAffected).toBe(1);
});

/** Another process holds the write lock for `ms`; resolves once it has it, with its end. */
async function holdLock(path: string, ms: number): Promise<{ released: Promise<number> }> {
  const helper = join(import.meta.dir, "..", "reliability", "helpers", "hold_lock.ts");
  const p = Bun.spawn([process.execPath, helper, path, String(ms)], { stdout: "pipe" });
  const reader = p.stdout.getReader();
  const first = await reader.read(); // {"locked": …}
  expect(new TextDecoder().decode(first.value)).toContain("locked");
  reader.releaseLock();
  return { released: p.exited };
}

test("executeWaiting asks again until the lock is free, in a transaction of its own, and gives up at its deadline", async () => {
  const path = await file();
  const c = connect(path);
  let { released } = await holdLock(path, 300);
  const started = Date.now();
  expect(c.executeWaiting(INSERT, ["waited", 1], Date.now() + 5_000).rowsAffected).toBe(1);
  expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  await released;
  // Past its deadline it is SQLITE_BUSY with nothing run; the next call's BEGIN is the rerun.
  ({ released } = await holdLock(path, 500));
  expect(() => c.executeWaiting(INSERT, ["late", 2], Date.now() + 50)).toThrow(/locked/);
  await released;
  expect(c.executeWaiting(INSERT, ["after", 3], Date.now() + 1_000).rowsAffected).toBe(1);
  const other = connect(path);
  expect(other.execute("SELECT svix_id FROM webhook_events ORDER BY occurred_at", []).rows).toEqual([
    { svix_id: "waited" },
    { svix_id: "after" },
  ]);
  expect(other.execute(INSERT, ["other", 4]).rowsAffected).toBe(1);
}, 20_000);

test("why a statement never runs between a BEGIN that met SQLITE_BUSY and its rerun: SQLite rolls it back", async () => {
  const path = await file();
  // The binding itself, as the writer thread once used it: the Writer's BEGIN waits for another
  // process; a routed claim runs meanwhile, returns its rows, and is undone by the BEGIN's rerun.
  const a = new Database(path, { timeout: 0 });
  const b = new Database(path, { timeout: 0 });
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  const begin = a.prepare("BEGIN IMMEDIATE");
  b.exec("BEGIN IMMEDIATE");
  expect(() => begin.run([])).toThrow(/locked/);
  b.exec("COMMIT");
  expect(a.prepare(INSERT).run(["between", 1]).changes).toBe(1);
  expect(a.inTransaction).toBe(false); // it looks committed …
  const seen = () => b.prepare("SELECT count(*) AS n FROM webhook_events").get() as { n: number };
  expect(seen().n).toBe(0); // … but is not,
  begin.run([]);
  a.exec("COMMIT");
  expect(seen().n).toBe(0); // and the rerun rolled it back.

  // NativeConnection refuses such a statement, and executeWaiting's own BEGIN is the rerun.
  const c = connect(path);
  const holder = connect(path);
  holder.execute("BEGIN IMMEDIATE", []);
  expect(() => c.begin()).toThrow(/locked/);
  holder.execute("COMMIT", []);
  expect(() => c.execute(INSERT, ["refused", 2])).toThrow(/must run again/);
  expect(c.executeWaiting(INSERT, ["kept", 3], Date.now() + 1_000).rowsAffected).toBe(1);
  expect(holder.execute("SELECT svix_id FROM webhook_events", []).rows).toEqual([{ svix_id: "kept" }]);
});

test("only the most recently used texts stay prepared", async () => {
  const c = connect(await file(), { busyTimeoutMs: 100, capacity: 3 });
  for (let n = 1; n <= 10; n++) {
    const list = Array.from({ length: n }, () => "?").join(", ");
    c.execute(`SELECT count(*) AS n FROM webhook_events WHERE svix_id IN (${list})`, Array(n).fill("x"));
  }
  expect((c as unknown as { statements: Map<string, unknown> }).statements.size).toBe(3);
});
