import { afterEach, describe, expect, test } from "bun:test";
import { pruneBatch, Retention } from "../../src/db/retention.ts";
import type { WriteItem } from "../../src/db/writer.ts";
import { jsonLogger } from "../../src/log.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const DAY = 86_400_000;
let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

let seq = 0;
function seen(type: string, status: WriteItem["status"], n = 1): Promise<unknown> {
  const items = Array.from({ length: n }, () =>
    t?.writer.submit({
      claim: "new",
      svixId: `msg_ret_${++seq}`,
      type,
      status,
      occurredAt: null,
      intents: [],
    }),
  );
  return Promise.all(items);
}

async function post(body: string, id?: string) {
  if (!t) throw new Error("no app");
  const res = await t.app.request("/webhooks/resend", {
    method: "POST",
    body,
    headers: signedHeaders(body, id ? { id } : {}),
  });
  return ((await res.json()) as { status: string }).status;
}

async function keys(): Promise<string[]> {
  const r = await t?.db.reader.execute("SELECT svix_id FROM webhook_events ORDER BY svix_id");
  return (r?.rows ?? []).map((row) => row.svix_id as string);
}

describe("retention", () => {
  test("prunes old idempotency keys and ignored events; keeps quarantine, suppressions, history", async () => {
    t = await makeApp();
    const now = t.now.value;
    t.now.value = now - 40 * DAY;
    await seen("email.opened", "ignored", 5);
    await seen("email.bounced", "quarantined");
    expect(await post(bounce("old@example.com"), "msg_old_bounce")).toBe("processed");
    t.now.value = now - 29 * DAY;
    await seen("email.clicked", "ignored", 2);
    t.now.value = now;
    const before = await t.counts();

    const pruned: number[] = [];
    const retention = new Retention(t.db, { days: 30, clock: () => now, onPruned: (n) => pruned.push(n) });
    expect(await retention.runOnce()).toBe(6);
    expect(pruned).toEqual([6]);

    const after = await t.counts();
    expect(after.webhook_events).toBe((before.webhook_events ?? 0) - 6);
    for (const table of ["quarantine", "suppressions", "suppression_events", "sync_jobs"]) {
      expect(after[table]).toBe(before[table] as number);
    }
    const left = await keys();
    expect(left).toHaveLength(3); // the quarantined one and the two 29 days old
    const status = await t.db.reader.execute("SELECT status FROM webhook_events WHERE received_at < ?", [
      now - 30 * DAY,
    ]);
    expect(status.rows.map((r) => r.status)).toEqual(["quarantined"]);
    // The suppression and its history outlive the delivery that caused them.
    const res = await t.api("GET", "/v1/suppressions/old@example.com");
    expect(res.status).toBe(200);
    expect(((await res.json()) as { history: { svix_id: string }[] }).history[0]?.svix_id).toBe(
      "msg_old_bounce",
    );
    expect(await retention.runOnce()).toBe(0);
  });

  test("deletes in batches of the configured size, and a recent key still catches a retry", async () => {
    t = await makeApp();
    const now = t.now.value;
    t.now.value = now - 31 * DAY;
    await seen("email.opened", "ignored", 2_500);
    t.now.value = now;
    const recent = bounce("recent@example.com");
    expect(await post(recent, "msg_recent")).toBe("processed");

    const batches: number[] = [];
    const retention = new Retention(t.db, {
      days: 30,
      batchSize: 1000,
      pauseMs: 1,
      onPruned: (n) => batches.push(n),
    });
    expect(await retention.runOnce()).toBe(2_500);
    expect(batches).toEqual([1000, 1000, 500]);
    expect(await keys()).toEqual(["msg_recent"]);
    expect(await post(recent, "msg_recent")).toBe("duplicate");
  });

  test("ingest keeps committing while a run prunes in small batches", async () => {
    t = await makeApp();
    const now = t.now.value;
    t.now.value = now - 60 * DAY;
    await seen("email.opened", "ignored", 3_000);
    t.now.value = now;
    const retention = new Retention(t.db, { days: 30, batchSize: 100, pauseMs: 0, clock: () => now });
    const run = retention.runOnce();
    const deliveries = Array.from({ length: 200 }, (_, i) => post(bounce(`live${i}@example.com`)));
    const statuses = await Promise.all(deliveries);
    expect(await run).toBe(3_000);
    expect(new Set(statuses)).toEqual(new Set(["processed"]));
    expect((await t.counts()).webhook_events).toBe(200);
  });

  test("stop() ends a run between batches; the next run finishes the job", async () => {
    t = await makeApp();
    const now = t.now.value;
    t.now.value = now - 45 * DAY;
    await seen("email.opened", "ignored", 1_000);
    t.now.value = now;
    const lines: string[] = [];
    const opts = { days: 30, batchSize: 100, pauseMs: 60_000, clock: () => now };
    const first = new Retention(t.db, { ...opts, log: jsonLogger("info", (l) => lines.push(l)) });
    const run = first.runOnce();
    await first.stop(); // wakes the pause instead of waiting a minute
    const deleted = await run;
    expect(deleted).toBeGreaterThan(0);
    expect(deleted).toBeLessThan(1_000);
    const second = new Retention(t.db, { ...opts, pauseMs: 0 });
    expect(await second.runOnce()).toBe(1_000 - deleted);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: "retention pruned", deleted });
  });

  test("a locked database pauses the run instead of failing; pruneBatch alone is one statement", async () => {
    t = await makeApp();
    const now = t.now.value;
    t.now.value = now - 40 * DAY;
    await seen("email.opened", "ignored", 10);
    t.now.value = now;
    const { createClient } = await import("@libsql/client");
    const other = createClient({ url: `file:${t.dir}/test.db` });
    const tx = await other.transaction("write");
    await tx.execute("INSERT INTO webhook_events VALUES ('lock', 'x', 'ignored', NULL, 0)");
    const lines: string[] = [];
    const retention = new Retention(t.db, {
      days: 30,
      clock: () => now,
      log: jsonLogger("info", (l) => lines.push(l)),
    });
    expect(await retention.runOnce()).toBe(0);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "warn", msg: "retention paused" });
    await tx.rollback();
    other.close();
    expect(await pruneBatch(t.db, now - 30 * DAY, 4)).toBe(4);
    expect(await retention.runOnce()).toBe(6);
  });

  test("a quarantined body goes retention.days after it was reprocessed; one still quarantined stays", async () => {
    t = await makeApp();
    const now = t.now.value;
    const quarantined = (svixId: string): WriteItem => ({
      claim: "new",
      svixId,
      type: "email.bounced",
      status: "quarantined",
      occurredAt: null,
      intents: [],
      quarantine: { reason: "schema", body: new TextEncoder().encode("{}") },
    });
    const reprocessed = (svixId: string): WriteItem => ({
      ...quarantined(svixId),
      claim: "reprocess",
      status: "ignored",
    });
    t.now.value = now - 50 * DAY;
    for (const id of ["q_old_replayed", "q_recent_replayed", "q_waiting"])
      await t.writer.submit(quarantined(id));
    t.now.value = now - 40 * DAY;
    expect((await t.writer.submit(reprocessed("q_old_replayed"))).status).toBe("ignored");
    t.now.value = now - 10 * DAY;
    expect((await t.writer.submit(reprocessed("q_recent_replayed"))).status).toBe("ignored");
    t.now.value = now;

    const retention = new Retention(t.db, { days: 30, clock: () => now });
    // Two webhook_events rows (both replayed ones, received 50 days ago) and one quarantine row.
    expect(await retention.runOnce()).toBe(3);
    const left = await t.db.reader.execute("SELECT svix_id FROM quarantine ORDER BY svix_id");
    expect(left.rows.map((r) => r.svix_id)).toEqual(["q_recent_replayed", "q_waiting"]);
    expect(await keys()).toEqual(["q_waiting"]);
    expect(await retention.runOnce()).toBe(0);
  });
});
