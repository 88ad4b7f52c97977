import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
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

test("only the most recently used texts stay prepared", async () => {
  const c = connect(await file(), { busyTimeoutMs: 100, capacity: 3 });
  for (let n = 1; n <= 10; n++) {
    const list = Array.from({ length: n }, () => "?").join(", ");
    c.execute(`SELECT count(*) AS n FROM webhook_events WHERE svix_id IN (${list})`, Array(n).fill("x"));
  }
  expect((c as unknown as { statements: Map<string, unknown> }).statements.size).toBe(3);
});
