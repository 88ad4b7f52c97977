import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { sinkTargets } from "../../src/daemon.ts";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import type { WriteItem } from "../../src/db/writer.ts";
import { ThreadedWriter } from "../../src/db/writer_thread.ts";
import { AppError } from "../../src/errors.ts";
import { parseResendEvent } from "../../src/events/resend.ts";
import { silentLogger } from "../../src/log.ts";
import { tableCounts, tempDir } from "../helpers/app.ts";
import { testConfig } from "../helpers/config.ts";
import { bounce, newId } from "../helpers/sign.ts";

// The daemon's Writer on its own thread (src/db/writer_thread.ts), on a real database file.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function start(): Promise<{ db: Db; writer: ThreadedWriter; path: string }> {
  const tmp = tempDir();
  const path = join(tmp.dir, "t.db");
  const config = testConfig(`file:${path}`);
  const db = await openDatabase(config.database);
  await migrate(db);
  const options = { softBounce: config.policy.softBounce, sinks: sinkTargets(config) };
  const writer = await ThreadedWriter.start(config.database, options, silentLogger);
  cleanups.push(
    () => tmp.cleanup(),
    () => db.close(),
    () => writer.close(),
  );
  return { db, writer, path };
}

function hardBounce(email: string): WriteItem {
  const parsed = parseResendEvent(bounce(email, "Permanent", "2026-03-01T00:00:00Z"));
  if (parsed.outcome !== "act") throw new Error("fixture did not parse");
  return {
    claim: "new",
    svixId: newId(),
    type: parsed.type,
    status: "processed",
    occurredAt: parsed.occurredAt,
    intents: parsed.intents,
  };
}

test("a result arrives after its commit, and a second copy of the id is a duplicate", async () => {
  const { db, writer } = await start();
  const items = Array.from({ length: 50 }, (_, i) => hardBounce(`t${i}@example.com`));
  const results = await Promise.all(items.map((i) => writer.submit(i)));
  expect(results.every((r) => r.status === "processed" && r.changed === 1)).toBe(true);
  // Read on another connection: committed, not only answered.
  expect((await tableCounts(db)).suppressions).toBe(50);
  expect(await writer.submit(items[0] as WriteItem)).toEqual({ status: "duplicate", changed: 0 });
});

test("quarantined bytes cross the thread intact", async () => {
  const { db, writer } = await start();
  const body = new Uint8Array([0x7b, 0xff, 0xfe, 0x00, 0x22, 0xe2, 0x82]);
  const svixId = newId();
  const r = await writer.submit({
    claim: "new",
    svixId,
    type: "unknown",
    status: "quarantined",
    occurredAt: null,
    intents: [],
    quarantine: { reason: "body is not valid UTF-8", body },
  });
  expect(r.status).toBe("quarantined");
  const row = await db.reader.execute({
    sql: "SELECT body FROM quarantine WHERE svix_id = ?",
    args: [svixId],
  });
  expect(new Uint8Array(row.rows[0]?.body as ArrayBuffer)).toEqual(body);
});

test("another process's lock is waited out on the thread, then the batch commits", async () => {
  const { path, writer } = await start();
  // A second connection (another process, as far as SQLite knows) holds the write lock for 300 ms.
  const other = await openDatabase({ url: `file:${path}`, busyTimeoutMs: 0 });
  cleanups.push(() => other.close());
  const held = other.writer.exclusive(async (client) => {
    const tx = await client.transaction("write");
    await Bun.sleep(300);
    await tx.commit();
  });
  await Bun.sleep(20);
  const started = performance.now();
  const result = await writer.submit(hardBounce("locked@example.com"));
  await held;
  expect(result.status).toBe("processed");
  expect(performance.now() - started).toBeGreaterThan(200);
});

test("when the thread is gone, what it had not answered and everything after is 503", async () => {
  const { writer } = await start();
  const pending = writer.submit(hardBounce("lost@example.com"));
  (writer as unknown as { worker: Worker }).worker.terminate();
  const error = await pending.catch((e) => e);
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).status).toBe(503);
  const after = await writer.submit(hardBounce("later@example.com")).catch((e) => e);
  expect((after as AppError).status).toBe(503);
  expect((after as AppError).message).toContain("writer thread");
});

test("close() answers everything submitted before it", async () => {
  const { db, writer } = await start();
  const results = Array.from({ length: 200 }, (_, i) => writer.submit(hardBounce(`c${i}@example.com`)));
  await writer.close();
  expect((await Promise.all(results)).every((r) => r.status === "processed")).toBe(true);
  expect((await tableCounts(db)).suppressions).toBe(200);
});
