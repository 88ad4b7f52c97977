import { afterEach, describe, expect, test } from "bun:test";
import { openDatabase } from "../../src/db/client.ts";
import { listJobs } from "../../src/db/jobs.ts";
import { claimDue } from "../../src/db/outbox.ts";
import type { Outcome, Sink, SyncJob } from "../../src/sync/sink.ts";
import { buildSinks } from "../../src/sync/sinks/index.ts";
import { SyncWorker } from "../../src/sync/worker.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { waitUntil } from "../helpers/wait.ts";

let t: TestApp | undefined;
let fake: FakeMailchimp | undefined;
const extra: { close(): void }[] = [];
afterEach(async () => {
  for (const e of extra.splice(0)) e.close();
  fake?.stop();
  fake = undefined;
  await t?.close();
  t = undefined;
});

/** A sink that records what it was asked to send and answers `answer` (done by default). */
class RecordingSink implements Sink {
  readonly sent: SyncJob[] = [];
  delayMs = 0;
  answer: (j: SyncJob) => Outcome = () => ({ kind: "done" });
  constructor(readonly name = "rec") {}
  async send(jobs: readonly SyncJob[]) {
    if (this.delayMs) await Bun.sleep(this.delayMs);
    this.sent.push(...jobs);
    return new Map(jobs.map((j) => [j.id, this.answer(j)]));
  }
}

const httpSink = (name: string, sendLifts = false) => ({
  type: "http",
  name,
  url: "http://127.0.0.1:9/{{email}}",
  sendLifts,
});

async function suppress(app: TestApp, email: string) {
  expect((await app.api("PUT", `/v1/suppressions/${email}`, { reason: "manual" })).status).toBe(200);
}
async function lift(app: TestApp, email: string) {
  expect((await app.api("DELETE", `/v1/suppressions/${email}`)).status).toBe(200);
}
const jobs = (app: TestApp) => listJobs(app.db.read, { limit: 10_000 });

function worker(
  app: TestApp,
  sinks: Sink[],
  over: Partial<ConstructorParameters<typeof SyncWorker>[0]> = {},
) {
  return new SyncWorker({ db: app.db, sinks, clock: () => app.now.value, random: () => 0.5, ...over });
}

describe("coalescing (the writer supersedes older pending jobs of an address)", () => {
  test("suppress then lift before the worker ran: only the lift is sent", async () => {
    t = await makeApp({ sinks: [httpSink("rec", true)] });
    await suppress(t, "flip@example.com");
    await lift(t, "flip@example.com");
    const rows = await jobs(t);
    expect(rows.map((r) => [r.action, r.status])).toEqual([
      ["lift", "pending"],
      ["suppress", "superseded"],
    ]);
    const sink = new RecordingSink();
    expect(await worker(t, [sink]).runOnce()).toBe(1);
    expect(sink.sent.map((j) => j.action)).toEqual(["lift"]);
  });

  test("suppress, lift, suppress: one suppress reaches the sink", async () => {
    t = await makeApp({ sinks: [httpSink("rec", true)] });
    await suppress(t, "flip@example.com");
    await lift(t, "flip@example.com");
    await suppress(t, "flip@example.com");
    const sink = new RecordingSink();
    await worker(t, [sink]).runOnce();
    expect(sink.sent.map((j) => j.action)).toEqual(["suppress"]);
    expect((await jobs(t)).map((r) => r.status)).toEqual(["done", "superseded", "superseded"]);
  });

  test("a sink that takes no lifts: the lift still supersedes the pending suppress", async () => {
    t = await makeApp({ sinks: [httpSink("rec", false)] });
    await suppress(t, "flip@example.com");
    await lift(t, "flip@example.com");
    expect((await jobs(t)).map((r) => r.status)).toEqual(["superseded"]);
  });
});

describe("claims and leases", () => {
  test("a newer job waits while its address has a job running on the same sink", async () => {
    t = await makeApp({ sinks: [httpSink("rec", true)] });
    await suppress(t, "a@example.com");
    const now = t.now.value;
    const first = await claimDue(t.db.read, {
      owner: "w1",
      now,
      leaseUntil: now + 60_000,
      limit: 10,
      sinks: ["rec"],
    });
    expect(first.map((j) => j.action)).toEqual(["suppress"]);
    await lift(t, "a@example.com");
    const second = await claimDue(t.db.read, {
      owner: "w2",
      now,
      leaseUntil: now + 60_000,
      limit: 10,
      sinks: ["rec"],
    });
    expect(second).toEqual([]);
  });

  test("a job that fails after a newer job for its address arrived is superseded, not retried", async () => {
    t = await makeApp({ sinks: [httpSink("rec", true)] });
    await suppress(t, "a@example.com");
    const sink = new RecordingSink();
    const app = t;
    // While the suppress is being sent, the address is lifted; then the send fails.
    sink.answer = (j) => {
      if (j.action === "suppress") return { kind: "retry", error: "503" };
      return { kind: "done" };
    };
    const w = worker(t, [sink]);
    const original = sink.send.bind(sink);
    sink.send = async (jobs) => {
      if (jobs.some((j) => j.action === "suppress")) await lift(app, "a@example.com");
      return original(jobs);
    };
    await w.runOnce();
    expect((await jobs(t)).map((r) => [r.action, r.status])).toEqual([
      ["lift", "pending"],
      ["suppress", "superseded"],
    ]);
    await w.runOnce();
    expect(sink.sent.map((j) => j.action)).toEqual(["suppress", "lift"]);
    t.now.value += 3_600_000;
    expect(await w.runOnce()).toBe(0);
  });

  test("a crashed worker's claim comes back when its lease expires, and is sent once", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "a@example.com");
    const now = t.now.value;
    // "w1" claims and dies: no completion is ever recorded.
    await claimDue(t.db.read, { owner: "w1", now, leaseUntil: now + 60_000, limit: 10, sinks: ["rec"] });
    const sink = new RecordingSink();
    const w2 = worker(t, [sink]);
    expect(await w2.runOnce()).toBe(0); // still leased
    t.now.value += 60_001;
    expect(await w2.runOnce()).toBe(1);
    const [row] = await jobs(t);
    expect(row?.status).toBe("done");
    expect(row?.lease_owner).toBeNull();
    expect(sink.sent.length).toBe(1);
  });

  test("a worker stalled after its claim sends only the jobs it still holds", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "a@example.com");
    await suppress(t, "b@example.com");
    const claimedAt = t.now.value;
    const a = new RecordingSink();
    const b = new RecordingSink();
    const wa = worker(t, [a], { owner: "A" });
    const mine = await claimDue(t.db.read, {
      owner: "A",
      now: claimedAt,
      leaseUntil: claimedAt + 60_000,
      limit: 10,
      sinks: ["rec"],
    });
    // "A" stalls past its lease; "B" takes the jobs over and sends them.
    t.now.value += 60_001;
    expect(await worker(t, [b], { owner: "B" }).runOnce()).toBe(2);
    await wa.process(mine, claimedAt);
    expect(a.sent).toEqual([]);
    expect(b.sent.length).toBe(2);
    expect((await jobs(t)).every((r) => r.status === "done" && r.attempts === 1)).toBe(true);
  });

  test("a worker delayed within its lease renews it and sends", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "a@example.com");
    const claimedAt = t.now.value;
    const a = new RecordingSink();
    const wa = worker(t, [a], { owner: "A" });
    const mine = await claimDue(t.db.read, {
      owner: "A",
      now: claimedAt,
      leaseUntil: claimedAt + 60_000,
      limit: 10,
      sinks: ["rec"],
    });
    t.now.value += 45_000;
    await wa.process(mine, claimedAt);
    expect(a.sent.length).toBe(1);
    expect((await jobs(t))[0]?.status).toBe("done");
  });

  test("two workers on one database never send one job twice", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    for (let i = 0; i < 400; i++) await suppress(t, `u${i}@example.com`);
    // A second connection set, as a second process would have.
    const db2 = await openDatabase(t.config.database);
    extra.push(db2);
    const a = new RecordingSink();
    const b = new RecordingSink();
    // Neither sink answers its first batch until the other has one too, so both workers take part
    // however the machine schedules them (one fast worker could otherwise take every job, and the
    // test would prove nothing about two). If the second never gets a batch, the gate opens after
    // a while and the assertions below fail.
    const gate = Promise.withResolvers<void>();
    const called = new Set<string>();
    for (const [sink, name] of [
      [a, "a"],
      [b, "b"],
    ] as const) {
      const send = sink.send.bind(sink);
      sink.send = async (batch) => {
        called.add(name);
        if (called.size === 2) gate.resolve();
        await Promise.race([gate.promise, Bun.sleep(10_000)]);
        return send(batch);
      };
    }
    const common = { claimLimit: 7, pollMs: 5, maxInFlight: 3 };
    const w1 = new SyncWorker({ db: t.db, sinks: [a], owner: "one", ...common });
    const w2 = new SyncWorker({ db: db2, sinks: [b], owner: "two", ...common });
    w1.start();
    w2.start();
    await waitUntil("every job is done", async () =>
      (await jobs(t as TestApp)).every((r) => r.status === "done"),
    ).catch(() => {}); // the assertions below say what was left
    await Promise.all([w1.stop(), w2.stop()]);
    const sent = [...a.sent, ...b.sent].map((j) => j.id);
    expect(sent.length).toBe(400);
    expect(new Set(sent).size).toBe(400);
    expect(a.sent.length).toBeGreaterThan(0);
    expect(b.sent.length).toBeGreaterThan(0);
    expect((await jobs(t)).every((r) => r.status === "done" && r.attempts === 1)).toBe(true);
  });
});

describe("failures", () => {
  test("a transient failure retries with backoff (first within 30 s), then succeeds", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "a@example.com");
    const sink = new RecordingSink();
    sink.answer = () => ({ kind: "retry", error: "503 from the sink" });
    const w = worker(t, [sink]);
    await w.runOnce();
    let [row] = await jobs(t);
    expect(row?.status).toBe("pending");
    expect(row?.attempts).toBe(1);
    expect(row?.last_error).toBe("503 from the sink");
    const wait = (row?.next_attempt_at ?? 0) - t.now.value;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(30_000);
    expect(await w.runOnce()).toBe(0); // not due yet
    t.now.value += wait;
    sink.answer = () => ({ kind: "done" });
    expect(await w.runOnce()).toBe(1);
    [row] = await jobs(t);
    expect(row?.status).toBe("done");
    expect(row?.attempts).toBe(2);
  });

  test("a permanent failure is dead at once; three days of transient ones too", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "perm@example.com");
    await suppress(t, "slow@example.com");
    const sink = new RecordingSink();
    sink.answer = (j) =>
      j.email.startsWith("perm")
        ? { kind: "fail", error: "Mailchimp rejected the API key (401)" }
        : { kind: "retry", error: "timeout" };
    const w = worker(t, [sink]);
    await w.runOnce();
    const start = t.now.value;
    const state = async () => Object.fromEntries((await jobs(t as TestApp)).map((r) => [r.email, r]));
    expect((await state())["perm@example.com"]?.status).toBe("dead");
    let attempts = 1;
    while (t.now.value - start < 3 * 86_400_000 + 3_600_000) {
      const next = (await state())["slow@example.com"];
      if (next?.status !== "pending") break;
      const gap = next.next_attempt_at - t.now.value;
      expect(gap).toBeLessThanOrEqual(3_600_000); // capped at an hour
      t.now.value = next.next_attempt_at;
      await w.runOnce();
      attempts++;
    }
    const slow = (await state())["slow@example.com"];
    expect(slow?.status).toBe("dead");
    expect(slow?.last_error).toContain("gave up after 3 days");
    expect(attempts).toBeGreaterThan(70);
  });
});

describe("stopping", () => {
  test("stop lets the batch being sent finish and record", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    for (let i = 0; i < 5; i++) await suppress(t, `s${i}@example.com`);
    const sink = new RecordingSink();
    sink.delayMs = 300;
    const w = worker(t, [sink], { pollMs: 10 });
    w.start();
    await waitUntil("the worker has claimed the batch", async () =>
      (await jobs(t as TestApp)).some((r) => r.status !== "pending"),
    );
    await w.stop();
    expect((await jobs(t)).map((r) => r.status)).toEqual(Array(5).fill("done"));
  });

  test("a send that outlasts the grace period is handed back untouched", async () => {
    t = await makeApp({ sinks: [httpSink("rec")] });
    await suppress(t, "slow@example.com");
    const sink = new RecordingSink();
    // A send that never answers (not one that merely takes longer than the grace, which a slow
    // machine could still see finish in time).
    sink.send = () => new Promise(() => {});
    const w = worker(t, [sink], { pollMs: 10 });
    w.start();
    await waitUntil("the worker has claimed the job", async () =>
      (await jobs(t as TestApp)).some((r) => r.status !== "pending"),
    );
    await w.stop(100);
    const [row] = await jobs(t);
    expect(row?.status).toBe("pending");
    expect(row?.attempts).toBe(0);
    expect(row?.lease_owner).toBeNull();
  });
});

test("a ten-minute Mailchimp outage loses nothing and recovers by itself (virtual clock)", async () => {
  fake = FakeMailchimp.start();
  const sinkConfig = {
    type: "mailchimp",
    name: "mc",
    apiKey: FAKE_KEY,
    listIds: ["list1"],
    baseUrl: fake.url,
    tag: "suppressd",
  };
  t = await makeApp({ sinks: [sinkConfig] });
  const emails = Array.from({ length: 40 }, (_, i) => `o${i}@example.com`);
  for (const e of emails.slice(0, 20)) fake.addMember("list1", e, "subscribed");
  const app = t;
  const start = app.now.value;
  fake.mode = "down";
  let healedAt: number | null = null;
  // Every wait of the worker and the sink moves the virtual clock; real time barely passes.
  const sleep = async (ms: number) => {
    app.now.value += ms;
    if (healedAt === null && app.now.value - start >= 10 * 60_000) {
      fake?.heal();
      healedAt = app.now.value;
    }
    await Bun.sleep(0);
  };
  const clock = () => app.now.value;
  const { sinks } = buildSinks(app.config.sinks, { clock, sleep, batch: { pollStartMs: 1000 } });
  const w = new SyncWorker({ db: app.db, sinks, clock, sleep, pollMs: 1000 });
  w.start();
  for (const e of emails) await suppress(app, e);
  await waitUntil("every job is done", async () => (await jobs(app)).every((r) => r.status === "done"), {
    timeoutMs: 20_000,
    everyMs: 20,
  }).catch(() => {}); // the assertions below say what was left
  await w.stop();
  const rows = await jobs(app);
  expect(healedAt).not.toBeNull();
  expect(rows.map((r) => r.status)).toEqual(Array(40).fill("done"));
  // They failed during the outage and were retried, not sent once after it by luck.
  expect(rows.every((r) => r.attempts > 1)).toBe(true);
  for (const e of emails.slice(0, 20)) {
    expect(fake.member("list1", e)?.status).toBe("unsubscribed");
    expect(fake.member("list1", e)?.tags.has("suppressd")).toBe(true);
  }
  for (const e of emails.slice(20)) expect(fake.member("list1", e)).toBeUndefined();
  // Recovery came within the backoff cap of the end of the outage, not at the next restart.
  expect(app.now.value - (healedAt ?? 0)).toBeLessThanOrEqual(3_600_000);
});
