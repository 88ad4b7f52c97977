import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { tableCounts, tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { fixture } from "../helpers/sign.ts";
import { openTestDb, runCli } from "./run.ts";

const tmp = tempDir();
const dbFile = join(tmp.dir, "s.db");
let config: string;
const RECEIVED = Date.parse("2026-01-01T00:00:00Z");

/**
 * What the daemon stores for a delivery it could not parse: a webhook_events row marked
 * quarantined and the body, byte for byte. These bodies are the ones an older parser refused.
 */
const QUARANTINED = [
  { id: "msg_complaint", type: "email.complained", body: fixture("email.complained"), reason: "old parser" },
  { id: "msg_opened", type: "email.opened", body: fixture("email.opened"), reason: "old parser" },
  { id: "msg_garbage", type: "unknown", body: "{not json", reason: "body is not JSON" },
];

beforeAll(async () => {
  config = writeConfig(tmp.dir, dbFile);
  const t = await openTestDb(dbFile);
  for (const [i, q] of QUARANTINED.entries()) {
    await t.db.writer.execute({
      sql: "INSERT INTO webhook_events (svix_id, type, status, occurred_at, received_at) VALUES (?, ?, 'quarantined', NULL, ?)",
      args: [q.id, q.type, RECEIVED + i],
    });
    await t.db.writer.execute({
      sql: "INSERT INTO quarantine (svix_id, received_at, reason, body, reprocessed_at) VALUES (?, ?, ?, ?, NULL)",
      args: [q.id, RECEIVED + i, q.reason, new TextEncoder().encode(q.body)],
    });
  }
  await t.close();
});
afterAll(() => tmp.cleanup());

async function state() {
  const t = await openTestDb(dbFile);
  try {
    const events = await t.db.read
      .selectFrom("webhook_events")
      .select(["svix_id", "status"])
      .orderBy("svix_id")
      .execute();
    const quarantine = await t.db.read
      .selectFrom("quarantine")
      .select(["svix_id", "reprocessed_at"])
      .orderBy("svix_id")
      .execute();
    const angry = await t.db.read
      .selectFrom("suppressions")
      .selectAll()
      .where("email", "=", "angry@example.com")
      .executeTakeFirst();
    return { events, quarantine, angry, counts: await tableCounts(t.db) };
  } finally {
    await t.close();
  }
}

test("events list shows what is quarantined, oldest first", async () => {
  const r = await runCli(["events", "list", "--config", config]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trim().split("\n");
  expect(lines).toHaveLength(3);
  expect(lines[0]).toBe("2026-01-01T00:00:00.000Z  msg_complaint  email.complained  old parser");
  expect(lines[2]).toContain("msg_garbage  unknown  body is not JSON");
});

test("--dry-run says what would happen and changes nothing", async () => {
  const before = await state();
  const r = await runCli(["events", "reprocess", "--dry-run", "--config", config]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("would reprocess 2 (1 acted on, 1 ignored); still quarantined 1");
  expect(await state()).toEqual(before);
});

test("reprocess: events that parse now take effect; the rest stay quarantined with the reason", async () => {
  const r = await runCli(["events", "reprocess", "--config", config]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("msg_complaint email.complained: processed, 1 address(es) changed");
  expect(r.stdout).toContain("msg_opened email.opened: ignored");
  expect(r.stdout).toContain("reprocessed 2 (1 acted on, 1 ignored); still quarantined 1");
  expect(r.stdout).toContain("1 × body is not JSON");

  const after = await state();
  expect(after.angry).toMatchObject({ suppressed: 1, reason: "complaint" });
  expect(after.events).toEqual([
    { svix_id: "msg_complaint", status: "processed" },
    { svix_id: "msg_garbage", status: "quarantined" },
    { svix_id: "msg_opened", status: "ignored" },
  ]);
  expect(after.quarantine.map((q) => [q.svix_id, q.reprocessed_at !== null])).toEqual([
    ["msg_complaint", true],
    ["msg_garbage", false],
    ["msg_opened", true],
  ]);

  // Once only: a second run finds nothing new to do and changes nothing.
  const again = await runCli(["events", "reprocess", "--config", config]);
  expect(again.stdout).toContain("reprocessed 0 (0 acted on, 0 ignored); still quarantined 1");
  expect((await state()).counts).toEqual(after.counts);
  const list = await runCli(["events", "list", "--config", config]);
  expect(list.stdout.trim().split("\n")).toHaveLength(1);
});
