import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { listJobs } from "../../src/db/jobs.ts";
import type { Sink, SyncJob } from "../../src/sync/sink.ts";
import { SyncWorker } from "../../src/sync/worker.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { BUN, ROOT, writeConfig } from "../helpers/daemon.ts";

let t: TestApp | undefined;
let fake: FakeMailchimp | undefined;
afterEach(async () => {
  fake?.stop();
  fake = undefined;
  await t?.close();
  t = undefined;
});

const failing: Sink = {
  name: "crm",
  async send(jobs: readonly SyncJob[]) {
    return new Map(
      jobs.map((j) => [j.id, { kind: "fail" as const, error: "PATCH crm.example answered 400: bad field" }]),
    );
  },
};
const fine: Sink = {
  name: "crm",
  async send(jobs: readonly SyncJob[]) {
    return new Map(jobs.map((j) => [j.id, { kind: "done" as const }]));
  },
};

async function withDeadJobs(n: number): Promise<TestApp> {
  const app = await makeApp({ sinks: [{ type: "http", name: "crm", url: "https://crm.example/{{email}}" }] });
  for (let i = 0; i < n; i++) await app.api("PUT", `/v1/suppressions/d${i}@example.com`, {});
  await new SyncWorker({ db: app.db, sinks: [failing], clock: () => app.now.value }).runOnce();
  return app;
}

interface Page {
  counts: Record<string, number>;
  items: {
    id: number;
    status: string;
    attempts: number;
    last_error: string | null;
    next_attempt_at: string | null;
  }[];
  next_cursor: string | null;
}

describe("GET /v1/sync/jobs", () => {
  test("shows attempts and the last error, filters by status and sink, and pages", async () => {
    t = await withDeadJobs(5);
    const res = await t.api("GET", "/v1/sync/jobs?status=dead&sink=crm&limit=2");
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    expect(page.counts).toEqual({ pending: 0, running: 0, dead: 5 });
    expect(page.items.length).toBe(2);
    expect(page.items[0]).toMatchObject({
      status: "dead",
      attempts: 1,
      last_error: "PATCH crm.example answered 400: bad field",
    });
    const seen = page.items.map((i) => i.id);
    let cursor = page.next_cursor;
    while (cursor) {
      const next = (await (
        await t.api("GET", `/v1/sync/jobs?status=dead&limit=2&cursor=${cursor}`)
      ).json()) as Page;
      seen.push(...next.items.map((i) => i.id));
      cursor = next.next_cursor;
    }
    expect(seen.length).toBe(5);
    expect(new Set(seen).size).toBe(5);
    expect(((await (await t.api("GET", "/v1/sync/jobs?sink=other")).json()) as Page).items).toEqual([]);
  });

  test("rejects a bad filter and requires the token", async () => {
    t = await makeApp();
    expect((await t.api("GET", "/v1/sync/jobs?status=lost")).status).toBe(400);
    expect((await t.app.request("/v1/sync/jobs")).status).toBe(401);
  });
});

describe("POST /v1/sync/jobs/retry", () => {
  test("by id: dead jobs go back to pending, with a fresh three-day window; others are named", async () => {
    t = await withDeadJobs(3);
    const [a, b] = (await listJobs(t.db.read, { limit: 10 })).map((r) => r.id);
    t.now.value += 5_000;
    // An id that names no job: 404, and nothing changes (not even the known one).
    const before = await listJobs(t.db.read, { limit: 10 });
    const unknown = await t.api("POST", "/v1/sync/jobs/retry", { ids: [a, 999] });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: "job_not_found",
      message: "No sync job with id 999; nothing was changed.",
    });
    expect(await listJobs(t.db.read, { limit: 10 })).toEqual(before);
    const res = await t.api("POST", "/v1/sync/jobs/retry", { ids: [a] });
    expect(await res.json()).toEqual({ requeued: [a], superseded: [], not_dead: [] });
    const rows = await listJobs(t.db.read, { limit: 10 });
    const row = rows.find((r) => r.id === a);
    expect(row).toMatchObject({
      status: "pending",
      attempts: 0,
      next_attempt_at: t.now.value,
      created_at: t.now.value,
    });
    expect(rows.find((r) => r.id === b)?.status).toBe("dead");
    await new SyncWorker({ db: t.db, sinks: [fine], clock: () => (t as TestApp).now.value }).runOnce();
    expect((await listJobs(t.db.read, { limit: 10 })).find((r) => r.id === a)?.status).toBe("done");
  });

  test("all: a dead job whose address has a newer job is superseded, not resent", async () => {
    t = await withDeadJobs(2);
    await t.api("DELETE", "/v1/suppressions/d0@example.com");
    await t.api("PUT", "/v1/suppressions/d0@example.com", {});
    const res = (await (await t.api("POST", "/v1/sync/jobs/retry", { all: true })).json()) as {
      requeued: number[];
      superseded: number[];
    };
    expect(res.requeued.length).toBe(1);
    expect(res.superseded.length).toBe(1);
    const bad = await t.api("POST", "/v1/sync/jobs/retry", { everything: 1 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('{"all": true}');
  });
});

describe("CLI", () => {
  async function cli(args: string[], config: string) {
    const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), ...args, "--config", config], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return { out, err, code };
  }

  test("jobs list and jobs retry", async () => {
    t = await withDeadJobs(2);
    const config = writeConfig(t.dir, join(t.dir, "test.db"), {
      sinks: [{ type: "http", name: "crm", url: "https://crm.example/{{email}}" }],
    });
    const list = await cli(["jobs", "list", "--status", "dead"], config);
    expect(list.code).toBe(0);
    expect(list.out).toContain("dead 2");
    expect(list.out).toContain("last error: PATCH crm.example answered 400: bad field");
    const json = await cli(["jobs", "list", "--json"], config);
    expect(
      json.out
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).status),
    ).toEqual(["dead", "dead"]);
    const retry = await cli(["jobs", "retry", "--all"], config);
    expect(retry.code).toBe(0);
    expect(retry.out).toContain("requeued 2 dead job(s)");
    expect((await cli(["jobs", "retry"], config)).code).toBe(2);
    expect((await cli(["jobs", "list", "--status", "lost"], config)).code).toBe(2);
  });

  test("config check says what is wrong with a Mailchimp sink and exits 78; 0 when all is well", async () => {
    fake = FakeMailchimp.start();
    t = await makeApp();
    const sink = { type: "mailchimp", name: "mc", apiKey: FAKE_KEY, baseUrl: fake.url };
    const bad = writeConfig(t.dir, join(t.dir, "x.db"), { sinks: [{ ...sink, listIds: ["list1", "gone"] }] });
    const r = await cli(["config", "check"], bad);
    expect(r.code).toBe(78);
    expect(r.err).toContain("audience (list id) 'gone' does not exist");
    const good = writeConfig(t.dir, join(t.dir, "x.db"), { sinks: [{ ...sink, listIds: ["list1"] }] });
    const ok = await cli(["config", "check"], good);
    expect(ok.code).toBe(0);
    expect(ok.out).toContain("sink mc (mailchimp): ok");
    const key = writeConfig(t.dir, join(t.dir, "x.db"), {
      sinks: [{ ...sink, listIds: ["list1"], apiKey: "bad-us1" }],
    });
    expect((await cli(["config", "check"], key)).err).toContain("rejected the API key");
  });
});
