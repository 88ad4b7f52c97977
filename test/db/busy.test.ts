import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { sinkTargets } from "../../src/daemon.ts";
import { migrate, openDatabase } from "../../src/db/client.ts";
import { reclaimExpired } from "../../src/db/outbox.ts";
import { pruneBatch } from "../../src/db/retention.ts";
import { type WriteItem, Writer } from "../../src/db/writer.ts";
import { tempDir } from "../helpers/app.ts";
import { testConfig } from "../helpers/config.ts";

/**
 * libsql 0.5 leaves a statement that failed with SQLITE_BUSY un-reset until the garbage collector
 * finalizes it. Until then the next write on its connection never commits and keeps the write
 * lock, so the daemon locked itself out and answered 503 for good (CI found it in the lock
 * scenario: it depends on when the GC runs). Each test here meets another connection's write
 * lock, then checks from outside that the daemon's next write committed and left no lock behind.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup() {
  const tmp = tempDir("suppressd-busy-");
  const url = `file:${join(tmp.dir, "busy.db")}`;
  const config = testConfig(url, { sinks: [] });
  const db = await openDatabase(config.database);
  await migrate(db);
  const writer = new Writer(db, {
    softBounce: config.policy.softBounce,
    sinks: sinkTargets(config),
    lockWaitMs: 300,
  });
  // Another process, as far as SQLite can tell: its own connections to the file.
  const outside = createClient({ url, timeout: 0, intMode: "number" });
  cleanups.push(
    tmp.cleanup,
    () => db.close(),
    () => outside.close(),
    () => writer.close(),
  );
  return { db, writer, url, outside };
}

/** Takes the write lock from outside, runs `meanwhile`, then lets go. */
async function whileLocked(url: string, meanwhile: () => Promise<void>) {
  const holder = createClient({ url, timeout: 0 });
  const tx = await holder.transaction("write");
  try {
    await meanwhile();
  } finally {
    await tx.rollback();
    tx.close();
    holder.close();
  }
}

/** What an outside connection sees: the write lock is free, and the value committed. */
async function outsideView(outside: Client, sql: string) {
  const tx = await outside.transaction("write").catch((e) => e as Error);
  if (tx instanceof Error) return { lockFree: false, value: null };
  try {
    return { lockFree: true, value: (await tx.execute(sql)).rows[0]?.[0] ?? null };
  } finally {
    await tx.rollback();
    tx.close();
  }
}

const busy = expect.objectContaining({ code: "SQLITE_BUSY" });

/** What the API submits for PUT /v1/suppressions/{email}. */
const put = (email: string): WriteItem => ({
  claim: "none",
  svixId: null,
  type: "api.put",
  status: "processed",
  occurredAt: Date.now(),
  intents: [{ kind: "suppress", email, reason: "manual", eventType: "api.put", occurredAt: Date.now() }],
});

test("the pruner's delete met the lock: the next write commits and leaves no lock behind", async () => {
  const { db, url, outside } = await setup();
  await whileLocked(url, async () => {
    await expect(pruneBatch(db, Date.now(), 10)).rejects.toEqual(busy);
  });
  await db.writer.execute("INSERT INTO webhook_events VALUES ('msg_after', 'email.sent', 'ignored', 1, 1)");
  expect(await outsideView(outside, "SELECT count(*) FROM webhook_events")).toEqual({
    lockFree: true,
    value: 1,
  });
});

test("a sync worker's write met the lock: its next write commits and leaves no lock behind", async () => {
  const { db, url, outside } = await setup();
  await whileLocked(url, async () => {
    await expect(reclaimExpired(db.write, Date.now())).rejects.toEqual(busy);
  });
  await db.write
    .insertInto("sync_jobs")
    .values({
      sink: "s",
      email: "a@example.com",
      action: "suppress",
      reason: "hard_bounce",
      event_type: "email.bounced",
      occurred_at: 1,
      status: "running",
      attempts: 0,
      next_attempt_at: 1,
      lease_owner: "w",
      lease_until: 1,
      last_error: null,
      created_at: 1,
      updated_at: 1,
    })
    .execute();
  expect(await reclaimExpired(db.write, Date.now())).toBe(1);
  expect(await outsideView(outside, "SELECT count(*) FROM sync_jobs WHERE status = 'pending'")).toEqual({
    lockFree: true,
    value: 1,
  });
});

test("a batch refused with 503 after waiting for the lock: the retry commits and leaves no lock behind", async () => {
  const { writer, url, outside } = await setup();
  await whileLocked(url, async () => {
    await expect(writer.submit(put("x@example.com"))).rejects.toMatchObject({ status: 503 });
  });
  expect((await writer.submit(put("x@example.com"))).status).toBe("processed");
  expect(await outsideView(outside, "SELECT count(*) FROM suppressions WHERE suppressed = 1")).toEqual({
    lockFree: true,
    value: 1,
  });
});

test("a write met the lock: later reads on its connection see what others commit", async () => {
  const { db, url, outside } = await setup();
  await whileLocked(url, async () => {
    await expect(reclaimExpired(db.write, Date.now())).rejects.toEqual(busy);
  });
  const count = async () =>
    Number(
      (
        await db.write
          .selectFrom("sync_jobs")
          .select((e) => e.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
  expect(await count()).toBe(0);
  await outside.execute(
    "INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, next_attempt_at, created_at, updated_at) VALUES ('s', 'b@example.com', 'suppress', 'complaint', 'email.complained', 1, 'pending', 1, 1, 1)",
  );
  // Without the new connection this stays 0: the read keeps the snapshot it took after the BUSY.
  expect(await count()).toBe(1);
});
