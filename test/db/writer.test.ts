import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { sinkTargets } from "../../src/daemon.ts";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { type WriteItem, Writer, type WriterOptions, type WriteStatus } from "../../src/db/writer.ts";
import { parseResendEvent } from "../../src/events/resend.ts";
import { tableCounts, tempDir } from "../helpers/app.ts";
import { testConfig } from "../helpers/config.ts";
import { bounce, event, newId } from "../helpers/sign.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-03-01T00:00:00Z");
const iso = (day: number) => new Date(T0 + day * DAY).toISOString();

/** A real database file with a writer on it; `reopen()` closes both and opens the same file again. */
async function open(opts: Partial<WriterOptions> = {}, overrides: Record<string, unknown> = {}) {
  const tmp = tempDir();
  const config = testConfig(`file:${join(tmp.dir, "w.db")}`, overrides);
  const now = { value: T0 + 100 * DAY };
  const make = async () => {
    const db = await openDatabase(config.database);
    await migrate(db);
    const writer = new Writer(db, {
      softBounce: config.policy.softBounce,
      sinks: sinkTargets(config),
      clock: () => now.value,
      ...opts,
    });
    return { db, writer };
  };
  let { db, writer } = await make();
  const env = {
    get db(): Db {
      return db;
    },
    get writer(): Writer {
      return writer;
    },
    now,
    async reopen() {
      await writer.close();
      db.close();
      ({ db, writer } = await make());
    },
    async close() {
      await writer.close();
      db.close();
      tmp.cleanup();
    },
    counts: () => tableCounts(db),
    /** Plain objects (a libsql Row also carries indexed keys and `length`). */
    async rows(sql: string, args: (string | number)[] = []): Promise<Record<string, unknown>[]> {
      const result = await db.reader.execute({ sql, args });
      return result.rows.map((r) => Object.fromEntries(result.columns.map((c) => [c, r[c]])));
    },
  };
  opened.push(env);
  return env;
}
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const e of opened.splice(0)) await e.close();
});

/** What the webhook route submits for a signed delivery of `body`. */
function delivery(body: string, svixId = newId()): WriteItem {
  const parsed = parseResendEvent(body);
  return {
    claim: "new",
    svixId,
    type: parsed.type,
    status: parsed.outcome === "act" ? "processed" : parsed.outcome === "ignore" ? "ignored" : "quarantined",
    occurredAt: parsed.occurredAt,
    intents: parsed.outcome === "act" ? parsed.intents : [],
    ...(parsed.outcome === "quarantine"
      ? { quarantine: { reason: parsed.reason, body: new TextEncoder().encode(body) } }
      : {}),
  };
}

/** What the API submits for PUT / DELETE. */
function api(kind: "put" | "delete", email: string, at: number): WriteItem {
  return {
    claim: "none",
    svixId: null,
    type: `api.${kind}`,
    status: "processed",
    occurredAt: at,
    intents: [
      kind === "put"
        ? { kind: "suppress", email, reason: "manual", eventType: "api.put", occurredAt: at }
        : { kind: "lift", email, reasons: "*", eventType: "api.delete", occurredAt: at },
    ],
  };
}

describe("idempotency: the svix-id decides", () => {
  test("copies of one message in the same batch: the first is processed, the rest are duplicates", async () => {
    const t = await open();
    const item = delivery(bounce("dup@x.com", "Permanent", iso(0)));
    const other = delivery(bounce("other@x.com", "Permanent", iso(0)));
    const results = await Promise.all([
      t.writer.submit(item),
      t.writer.submit({ ...item }),
      t.writer.submit(other),
      t.writer.submit({ ...item }),
    ]);
    expect(results.map((r) => r.status)).toEqual(["processed", "duplicate", "processed", "duplicate"]);
    expect(results.map((r) => r.changed)).toEqual([1, 0, 1, 0]);
    expect(t.writer.stats.batches).toBe(1);
    expect(await t.rows("SELECT email, svix_id FROM suppression_events")).toEqual([
      { email: "dup@x.com", svix_id: item.svixId },
      { email: "other@x.com", svix_id: other.svixId },
    ]);
    expect((await t.counts()).webhook_events).toBe(2);
  });

  test("a redelivery in a later batch is a duplicate with no second effect", async () => {
    const t = await open();
    const item = delivery(bounce("dup@x.com", "Permanent", iso(0)));
    expect(await t.writer.submit(item)).toEqual({ status: "processed", changed: 1 });
    const before = await t.counts();
    expect(await t.writer.submit({ ...item })).toEqual({ status: "duplicate", changed: 0 });
    expect(await t.counts()).toEqual(before);
  });

  test("a redelivery with a different body is still a duplicate (the id, not the body, is the key)", async () => {
    const t = await open();
    const id = newId();
    await t.writer.submit(delivery(bounce("first@x.com", "Permanent", iso(0)), id));
    const again = await t.writer.submit(delivery(bounce("second@x.com", "Permanent", iso(0)), id));
    expect(again.status).toBe("duplicate");
    expect(await t.rows("SELECT email FROM suppressions")).toEqual([{ email: "first@x.com" }]);
  });

  const firstStatuses: [WriteStatus, string][] = [
    ["ignored", event("email.opened", { to: ["a@x.com"] }, iso(0))],
    ["quarantined", "not json at all"],
  ];
  for (const [status, body] of firstStatuses) {
    test(`a redelivery of an ${status} event is a duplicate`, async () => {
      const t = await open();
      const item = delivery(body);
      expect((await t.writer.submit(item)).status).toBe(status);
      const before = await t.counts();
      expect((await t.writer.submit({ ...item })).status).toBe("duplicate");
      expect(await t.counts()).toEqual(before);
    });
  }

  test("API changes carry no id and are never duplicates", async () => {
    const t = await open();
    const results = await Promise.all([
      t.writer.submit(api("put", "a@x.com", T0)),
      t.writer.submit(api("put", "a@x.com", T0)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["processed", "processed"]);
    expect(await t.rows("SELECT decision FROM suppression_events")).toEqual([
      { decision: "suppressed" },
      { decision: "already_suppressed" },
    ]);
  });
});

describe("durability: state survives a close and reopen of the file", () => {
  test("suppressions, history and ids are still there, and a redelivery is a duplicate", async () => {
    const t = await open();
    const item = delivery(bounce("kept@x.com", "Permanent", iso(0)));
    await t.writer.submit(item);
    const before = await t.counts();
    await t.reopen();
    expect(await t.counts()).toEqual(before);
    expect(await t.rows("SELECT email, suppressed, reason FROM suppressions")).toEqual([
      { email: "kept@x.com", suppressed: 1, reason: "hard_bounce" },
    ]);
    expect((await t.writer.submit({ ...item })).status).toBe("duplicate");
    expect(await t.counts()).toEqual(before);
  });

  test("soft bounces counted before a restart still count after it", async () => {
    const t = await open();
    await t.writer.submit(delivery(bounce("soft@x.com", "Transient", iso(0))));
    await t.writer.submit(delivery(bounce("soft@x.com", "Transient", iso(1))));
    await t.reopen();
    const third = await t.writer.submit(delivery(bounce("soft@x.com", "Transient", iso(2))));
    expect(third).toEqual({ status: "processed", changed: 1 });
    expect(await t.rows("SELECT reason FROM suppressions WHERE suppressed = 1")).toEqual([
      { reason: "soft_bounce_limit" },
    ]);
  });

  test("close() waits for everything queued", async () => {
    const t = await open();
    const pending = Array.from({ length: 50 }, (_, i) =>
      t.writer.submit(delivery(bounce(`q${i}@x.com`, "Permanent", iso(0)))),
    );
    await t.reopen();
    expect((await Promise.all(pending)).every((r) => r.status === "processed")).toBe(true);
    expect((await t.counts()).suppressions).toBe(50);
  });

  test("a closed writer refuses new work with a 503", async () => {
    const t = await open();
    await t.writer.close();
    const rejected = t.writer.submit(delivery(bounce("late@x.com")));
    await expect(rejected).rejects.toMatchObject({ status: 503, code: "unavailable" });
  });
});

describe("batches", () => {
  /** An item the database refuses: occurred_at is NOT NULL in the history. */
  const poisoned = (): WriteItem => ({
    ...delivery(bounce("poison@x.com", "Permanent", iso(0))),
    intents: [
      {
        kind: "suppress",
        email: "poison@x.com",
        reason: "hard_bounce",
        eventType: "email.bounced",
        occurredAt: null as unknown as number,
      },
    ],
  });

  test("one bad item does not fail its neighbours, and its id stays free for a retry", async () => {
    const t = await open();
    const bad = poisoned();
    const settled = await Promise.allSettled([
      t.writer.submit(delivery(bounce("left@x.com", "Permanent", iso(0)))),
      t.writer.submit(bad),
      t.writer.submit(delivery(bounce("right@x.com", "Permanent", iso(0)))),
    ]);
    expect(settled.map((s) => s.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(await t.rows("SELECT email FROM suppressions ORDER BY email")).toEqual([
      { email: "left@x.com" },
      { email: "right@x.com" },
    ]);
    expect(await t.rows("SELECT 1 FROM webhook_events WHERE svix_id = ?", [bad.svixId as string])).toEqual(
      [],
    );
    const retry = delivery(bounce("poison@x.com", "Permanent", iso(0)), bad.svixId as string);
    expect((await t.writer.submit(retry)).status).toBe("processed");
  });

  test("a bad item alone is refused with a 503 so Resend retries it", async () => {
    const t = await open();
    await expect(t.writer.submit(poisoned())).rejects.toMatchObject({ status: 503 });
  });

  // A batch that fails is retried item by item; the failing item gets the same 503 as alone.
  test("a bad item in a batch is refused with the same 503 as when alone", async () => {
    const t = await open();
    const settled = await Promise.allSettled([
      t.writer.submit(delivery(bounce("left@x.com", "Permanent", iso(0)))),
      t.writer.submit(poisoned()),
    ]);
    expect(settled[1]).toMatchObject({ status: "rejected", reason: { status: 503 } });
  });

  test("items in one batch see each other's decisions, in arrival order", async () => {
    const t = await open();
    const results = await Promise.all([
      t.writer.submit(delivery(event("contact.updated", { email: "a@x.com", unsubscribed: true }, iso(0)))),
      t.writer.submit(delivery(event("contact.updated", { email: "a@x.com", unsubscribed: false }, iso(1)))),
      t.writer.submit(delivery(bounce("a@x.com", "Transient", iso(2)))),
      t.writer.submit(delivery(bounce("a@x.com", "Transient", iso(3)))),
      t.writer.submit(delivery(bounce("a@x.com", "Transient", iso(4)))),
    ]);
    expect(t.writer.stats.batches).toBe(1);
    expect(results.map((r) => r.changed)).toEqual([1, 1, 0, 0, 1]);
    expect(await t.rows("SELECT decision FROM suppression_events ORDER BY id")).toEqual(
      ["suppressed", "lifted", "soft_bounce", "soft_bounce", "soft_bounce", "suppressed"].map((decision) => ({
        decision,
      })),
    );
  });

  test("a batch larger than maxBatch is split and every item is answered", async () => {
    const t = await open({ maxBatch: 7 });
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        t.writer.submit(delivery(bounce(`m${i}@x.com`, "Permanent", iso(0)))),
      ),
    );
    expect(results.every((r) => r.status === "processed")).toBe(true);
    expect(t.writer.stats.batches).toBeGreaterThanOrEqual(5);
    expect((await t.counts()).suppressions).toBe(30);
  });

  test("one API call with more than 500 addresses is written in chunks", async () => {
    const t = await open();
    const intents = Array.from({ length: 1234 }, (_, i) => ({
      kind: "suppress" as const,
      email: `bulk${i}@x.com`,
      reason: "imported" as const,
      eventType: "import",
      occurredAt: T0,
    }));
    const r = await t.writer.submit({
      claim: "none",
      svixId: null,
      type: "import",
      status: "processed",
      occurredAt: T0,
      intents,
    });
    expect(r.changed).toBe(1234);
    expect((await t.counts()).suppressions).toBe(1234);
  });

  test("soft bounces arriving out of order across batches still reach the limit", async () => {
    const t = await open();
    for (const day of [2, 0, 1]) await t.writer.submit(delivery(bounce("late@x.com", "Transient", iso(day))));
    expect(await t.rows("SELECT suppressed, reason FROM suppressions")).toEqual([
      { suppressed: 1, reason: "soft_bounce_limit" },
    ]);
  });
});

describe("history", () => {
  test("is append-only: every later event adds rows and never changes earlier ones", async () => {
    const t = await open();
    const steps: WriteItem[] = [
      delivery(bounce("h@x.com", "Transient", iso(0))),
      delivery(bounce("h@x.com", "Permanent", iso(1))),
      delivery(event("suppression.removed", { email: "h@x.com", origin: "bounce" }, iso(2))),
      delivery(bounce("h@x.com", "Permanent", iso(1.5))),
      delivery(event("email.complained", { to: ["h@x.com"] }, iso(3))),
      api("delete", "h@x.com", T0 + 4 * DAY),
      api("put", "h@x.com", T0 + 5 * DAY),
    ];
    let before: Record<string, unknown>[] = [];
    for (const step of steps) {
      await t.writer.submit(step);
      const after = await t.rows("SELECT * FROM suppression_events ORDER BY id");
      expect(after.length).toBeGreaterThan(before.length);
      expect(after.slice(0, before.length)).toEqual(before);
      expect(after.slice(before.length).every((r) => r.svix_id === step.svixId)).toBe(true);
      before = after;
    }
    expect(before.map((r) => [r.decision, r.event_type])).toEqual([
      ["soft_bounce", "email.bounced"],
      ["suppressed", "email.bounced"],
      ["lifted", "suppression.removed"],
      ["stale", "email.bounced"],
      ["suppressed", "email.complained"],
      ["lifted", "api.delete"],
      ["suppressed", "api.put"],
    ]);
  });

  test("an invalid recipient is recorded with its raw value and suppresses nothing", async () => {
    const t = await open();
    const item = delivery(event("email.bounced", { to: ["nobody"], bounce: { type: "Permanent" } }, iso(0)));
    expect(await t.writer.submit(item)).toEqual({ status: "processed", changed: 0 });
    expect(await t.rows("SELECT email, decision, svix_id FROM suppression_events")).toEqual([
      { email: "nobody", decision: "invalid_address", svix_id: item.svixId },
    ]);
    expect((await t.counts()).suppressions).toBe(0);
  });

  test("an event with several recipients records a row for each", async () => {
    const t = await open();
    const item = delivery(event("email.complained", { to: ["a@x.com", "B <b@x.com>"] }, iso(0)));
    expect(await t.writer.submit(item)).toEqual({ status: "processed", changed: 2 });
    expect(await t.rows("SELECT email FROM suppression_events ORDER BY email")).toEqual([
      { email: "a@x.com" },
      { email: "b@x.com" },
    ]);
  });
});

describe("quarantine and reprocessing", () => {
  test("a quarantined delivery keeps its bytes, and reprocessing takes it over once", async () => {
    const t = await open();
    const body = event("contact.updated", { email: "q@x.com", unsubscribed: "yes" }, iso(0));
    const item = delivery(body);
    expect((await t.writer.submit(item)).status).toBe("quarantined");
    const [row] = await t.rows("SELECT reason, body, reprocessed_at FROM quarantine");
    expect(new TextDecoder().decode(new Uint8Array(row?.body as ArrayBuffer))).toBe(body);
    expect(row?.reason).toMatch(/unsubscribed/);
    expect(row?.reprocessed_at).toBeNull();

    const fixed = delivery(
      event("contact.updated", { email: "q@x.com", unsubscribed: true }, iso(0)),
      item.svixId as string,
    );
    const reprocess: WriteItem = { ...fixed, claim: "reprocess" };
    expect(await t.writer.submit(reprocess)).toEqual({ status: "processed", changed: 1 });
    expect(await t.rows("SELECT status FROM webhook_events")).toEqual([{ status: "processed" }]);
    expect((await t.rows("SELECT reprocessed_at FROM quarantine"))[0]?.reprocessed_at).toBe(t.now.value);
    expect((await t.writer.submit(reprocess)).status).toBe("duplicate");
  });
});

describe("outbox", () => {
  const sinks = {
    sinks: [
      { type: "http", name: "crm", url: "http://127.0.0.1:1/x" },
      { type: "http", name: "audit", url: "http://127.0.0.1:1/y", sendLifts: true },
    ],
  };
  const jobs = (t: Awaited<ReturnType<typeof open>>) =>
    t.rows("SELECT sink, email, action, reason, event_type, status FROM sync_jobs ORDER BY id");

  test("a suppression writes one pending job per configured sink, in the same commit", async () => {
    const t = await open({}, sinks);
    await t.writer.submit(delivery(bounce("o@x.com", "Permanent", iso(0))));
    expect(await jobs(t)).toEqual([
      {
        sink: "crm",
        email: "o@x.com",
        action: "suppress",
        reason: "hard_bounce",
        event_type: "email.bounced",
        status: "pending",
      },
      {
        sink: "audit",
        email: "o@x.com",
        action: "suppress",
        reason: "hard_bounce",
        event_type: "email.bounced",
        status: "pending",
      },
    ]);
    const [job] = await t.rows("SELECT attempts, next_attempt_at, occurred_at FROM sync_jobs");
    expect(job).toEqual({ attempts: 0, next_attempt_at: t.now.value, occurred_at: T0 });
  });

  test("a lift supersedes pending jobs and goes only to sinks that want lifts", async () => {
    const t = await open({}, sinks);
    await t.writer.submit(delivery(bounce("o@x.com", "Permanent", iso(0))));
    await t.writer.submit(
      delivery(event("suppression.removed", { email: "o@x.com", origin: "bounce" }, iso(1))),
    );
    expect((await jobs(t)).map((j) => [j.sink, j.action, j.status])).toEqual([
      ["crm", "suppress", "superseded"],
      ["audit", "suppress", "superseded"],
      ["audit", "lift", "pending"],
    ]);
  });

  test("jobs already done are not superseded", async () => {
    const t = await open({}, sinks);
    await t.writer.submit(delivery(bounce("o@x.com", "Permanent", iso(0))));
    await t.db.writer.execute("UPDATE sync_jobs SET status = 'done'");
    await t.writer.submit(api("delete", "o@x.com", T0 + DAY));
    expect((await jobs(t)).map((j) => [j.sink, j.action, j.status])).toEqual([
      ["crm", "suppress", "done"],
      ["audit", "suppress", "done"],
      ["audit", "lift", "pending"],
    ]);
  });

  test("no change, no job", async () => {
    const t = await open({}, sinks);
    await t.writer.submit(delivery(bounce("o@x.com", "Permanent", iso(0))));
    const before = (await t.counts()).sync_jobs;
    await t.writer.submit(delivery(event("email.complained", { to: ["o@x.com"] }, iso(1))));
    await t.writer.submit(delivery(bounce("n@x.com", "Transient", iso(1))));
    await t.writer.submit(delivery(event("email.bounced", { to: ["bad"] }, iso(1))));
    expect((await t.counts()).sync_jobs).toBe(before);
  });

  test("without sinks nothing is queued", async () => {
    const t = await open();
    await t.writer.submit(delivery(bounce("o@x.com", "Permanent", iso(0))));
    expect((await t.counts()).sync_jobs).toBe(0);
  });
});
