import { afterEach, describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { startDaemon } from "../../src/daemon.ts";
import { countJobs } from "../../src/db/jobs.ts";
import { createApp } from "../../src/http/app.ts";
import { jsonLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { errorClass } from "../../src/status/sink_health.ts";
import { type Sink, SinkError, type SyncJob } from "../../src/sync/sink.ts";
import { buildSinks } from "../../src/sync/sinks/index.ts";
import { SyncWorker } from "../../src/sync/worker.ts";
import { FAKE_KEY, FakeMailchimp, hash } from "../fakes/mailchimp.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { TOKEN, testConfig } from "../helpers/config.ts";
import { sample } from "../observability/observed.ts";

/**
 * A sink outage as the worker meets it: a sink-wide refusal stops the sink and its jobs wait,
 * per-job refusals still go dead, log lines stay few whatever the number of jobs, and /metrics
 * and GET /v1/status say what is wrong. Audience APIs are real HTTP servers on loopback.
 */

let t: TestApp | undefined;
let server: Server<undefined> | undefined;
let fake: FakeMailchimp | undefined;
afterEach(async () => {
  server?.stop(true);
  server = undefined;
  fake?.stop();
  fake = undefined;
  await t?.close();
  t = undefined;
});

const GOOD = "Bearer right-key-0123456789";

/** An audience API: 401 problem+json without the right key, else `answer` (204 by default). */
function audience(answer: (req: Request) => Response = () => new Response(null, { status: 204 })) {
  const seen = { requests: 0, accepted: 0 };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      seen.requests++;
      if (req.headers.get("authorization") !== GOOD) {
        return Response.json({ title: "Unauthorized", detail: "API key rejected" }, { status: 401 });
      }
      seen.accepted++;
      return answer(req);
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, seen };
}

const httpSink = (url: string, key: string) => ({
  type: "http",
  name: "crm",
  method: "PUT",
  url: `${url}/contacts/{{email}}`,
  headers: { authorization: key },
});

/** `n` pending suppress jobs on `sink`, in one statement. */
async function queue(app: TestApp, sink: string, n: number) {
  await app.db.writer.execute({
    sql: `WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
      INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts,
        next_attempt_at, created_at, updated_at)
      SELECT ?, 'user' || k || '@example.com', 'suppress', 'hard_bounce', 'email.bounced', ?, 'pending', 0, ?, ?, ?
      FROM i`,
    args: [n, sink, app.now.value, app.now.value, app.now.value, app.now.value],
  });
}

/** A worker with captured log lines, a metrics registry and an app that shares its sink health. */
function observe(app: TestApp, sinks: ReturnType<typeof buildSinks>["sinks"]) {
  const lines: string[] = [];
  const log = jsonLogger("debug", (l) => lines.push(l));
  const metrics = new Metrics({ db: app.db.read, cacheMs: 0, clock: () => app.now.value });
  const worker = new SyncWorker({
    db: app.db,
    sinks,
    clock: () => app.now.value,
    random: () => 0.5,
    log,
    report: (r) => metrics.syncBatch(r),
  });
  metrics.watchSinks(worker.health);
  const http = createApp({
    config: app.config,
    db: app.db,
    writer: app.writer,
    clock: () => app.now.value,
    metrics,
    sinkHealth: worker.health,
    log: jsonLogger("error", () => {}),
  });
  const get = async (path: string) =>
    http.request(path, { headers: { authorization: `Bearer ${TOKEN}` } }, { remoteAddress: "127.0.0.1" });
  return {
    worker,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    loud: () => lines.map((l) => JSON.parse(l)).filter((l) => l.level === "warn" || l.level === "error"),
    scrape: async () => (await get("/metrics")).text(),
    status: async () => (await get("/v1/status")).json() as Promise<Record<string, unknown>>,
  };
}

describe("error classes", () => {
  test.each([
    ["POST crm.example answered 401: nope", "auth"],
    ["Mailchimp rejected the API key (401 API Key Invalid): check the sink's apiKey", "auth"],
    ["Mailchimp refused access (403 User Disabled)", "auth"],
    ["Mailchimp audience (list id) 'gone' does not exist in this account (404)", "not_found"],
    [
      "PUT member: could not reach Mailchimp (ENOTFOUND getaddrinfo ENOTFOUND us19.api.mailchimp.com)",
      "network",
    ],
    ["PUT crm.example: no answer within 15 s", "timeout"],
    ["POST /batches: Mailchimp answered 429 (Too Many Requests)", "throttled"],
    ["GET /ping: Mailchimp answered 503 (no problem+json body (an HTML error page?))", "server"],
    ["Mailchimp refused this address: PUT member: Mailchimp answered 400 (Invalid Resource)", "rejected"],
    ["gave up after 3 days of failures; last: PUT crm.example answered 502", "server"],
    ["unexpected error: boom", "other"],
  ])("%s → %s", (text, cls) => {
    expect(errorClass(text)).toBe(cls as ReturnType<typeof errorClass>);
  });
});

describe("a sink-wide refusal stops the sink; its jobs wait", () => {
  test("HTTP sink answering 401: 3,000 jobs pending, none dead, a handful of log lines; a reload sends them", async () => {
    const api = audience();
    t = await makeApp({ sinks: [httpSink(api.url, "Bearer wrong-key")] });
    const o = observe(t, buildSinks(t.config.sinks).sinks);
    // Every series exists before the first failure, at zero.
    const before = await o.scrape();
    expect(sample(before, 'suppressd_sync_job_failures_total{sink="crm",outcome="dead",class="auth"}')).toBe(
      0,
    );
    expect(
      sample(before, 'suppressd_sync_job_failures_total{sink="crm",outcome="waiting",class="auth"}'),
    ).toBe(0);
    expect(sample(before, 'suppressd_sync_batches_total{sink="crm",result="error"}')).toBe(0);
    expect(sample(before, 'suppressd_sync_jobs_total{sink="crm",outcome="dead"}')).toBe(0);
    expect(sample(before, 'suppressd_outbox_jobs{sink="crm",status="dead"}')).toBe(0);
    expect(sample(before, 'suppressd_outbox_oldest_pending_age_seconds{sink="crm"}')).toBe(0);
    expect(sample(before, 'suppressd_sink_stopped{sink="crm"}')).toBe(0);
    expect(sample(before, 'suppressd_sink_last_success_timestamp_seconds{sink="crm"}')).toBe(0);

    await queue(t, "crm", 3000);
    t.now.value += 30_000;
    expect(await o.worker.runOnce()).toBe(2000);
    // The sink stopped at the first refusals (at most one per connection), not one per job.
    expect(api.seen.requests).toBeLessThanOrEqual(4);
    expect(await o.worker.runOnce()).toBe(0); // nothing more is claimed for a stopped sink
    expect(await countJobs(t.db.read, "crm")).toEqual({ pending: 3000, running: 0, dead: 0 });

    const text = await o.scrape();
    expect(sample(text, 'suppressd_sink_up{sink="crm"}')).toBe(0);
    expect(sample(text, 'suppressd_sink_stopped{sink="crm"}')).toBe(1);
    expect(sample(text, 'suppressd_sync_batches_total{sink="crm",result="error"}')).toBe(1);
    expect(sample(text, 'suppressd_sync_job_failures_total{sink="crm",outcome="waiting",class="auth"}')).toBe(
      2000,
    );
    expect(sample(text, 'suppressd_outbox_jobs{sink="crm",status="pending"}')).toBe(3000);
    expect(sample(text, 'suppressd_outbox_oldest_pending_age_seconds{sink="crm"}')).toBe(30);

    const status = await o.status();
    expect(status.ok).toBe(false);
    expect(status.sinks).toEqual([
      expect.objectContaining({
        name: "crm",
        state: "stopped",
        up: false,
        pending: 3000,
        dead: 0,
        oldest_pending_age_seconds: 30,
        last_success_at: null,
        last_error: expect.objectContaining({ class: "auth" }),
        fix: expect.stringContaining("fix the sink's apiKey (Mailchimp) or headers/url (HTTP)"),
      }),
    ]);
    expect(status.problems).toEqual(["sink crm is stopped: its key or credential is refused (401/403)"]);

    // One error line says the sink stopped, one warn line counts the jobs that wait.
    const loud = o.loud();
    expect(loud.length).toBe(2);
    expect(loud[0]).toMatchObject({ level: "error", sink: "crm", error_class: "auth" });
    expect(String(loud[0]?.msg)).toMatch(/^sink crm stopped: PUT 127\.0\.0\.1:\d+ answered 401/);
    expect(String(loud[1]?.msg)).toMatch(/^sink crm: .*answered 401.* \(2,000 jobs waiting\)$/);

    // The config is fixed and the daemon reloaded: the same jobs go out, no `jobs retry`.
    const fixed = testConfig(t.config.database.url, { sinks: [httpSink(api.url, GOOD)] });
    o.worker.setSinks(buildSinks(fixed.sinks).sinks);
    expect(o.logs().some((l) => l.msg === "sink crm: sending again after a reload")).toBe(true);
    while ((await o.worker.runOnce()) > 0) {}
    expect(await countJobs(t.db.read, "crm")).toEqual({ pending: 0, running: 0, dead: 0 });
    expect(api.seen.accepted).toBe(3000);
    const after = await o.status();
    expect(after.ok).toBe(true);
    expect((after.sinks as { state: string }[])[0]?.state).toBe("ok");
    expect(sample(await o.scrape(), 'suppressd_sink_up{sink="crm"}')).toBe(1);
  });

  test("Mailchimp with a wrong key: the sink stops, jobs wait; the right key and a reload unsubscribe them", async () => {
    fake = FakeMailchimp.start();
    const sink = { type: "mailchimp", name: "news", listIds: ["list1"], baseUrl: fake.url };
    t = await makeApp({ sinks: [{ ...sink, apiKey: "0000000000000000000000000000000-us19" }] });
    const o = observe(t, buildSinks(t.config.sinks).sinks);
    for (const n of [1, 2, 3, 4, 5])
      fake.lists.get("list1")?.set(hash(`user${n}@example.com`), {
        email: `user${n}@example.com`,
        status: "subscribed",
        tags: new Set(),
      });
    await queue(t, "news", 500);
    await o.worker.runOnce();
    expect(await countJobs(t.db.read, "news")).toEqual({ pending: 500, running: 0, dead: 0 });
    const status = await o.status();
    expect((status.sinks as Record<string, unknown>[])[0]).toMatchObject({
      state: "stopped",
      last_error: expect.objectContaining({ class: "auth" }),
    });
    expect(o.loud().length).toBeLessThanOrEqual(2);

    const fixed = testConfig(t.config.database.url, { sinks: [{ ...sink, apiKey: FAKE_KEY }] });
    o.worker.setSinks(buildSinks(fixed.sinks).sinks);
    while ((await o.worker.runOnce()) > 0) {}
    expect(await countJobs(t.db.read, "news")).toEqual({ pending: 0, running: 0, dead: 0 });
    expect(fake.lists.get("list1")?.get(hash("user3@example.com"))?.status).toBe("unsubscribed");
  });
});

describe("the sink contract", () => {
  test("a permanent SinkError thrown for the whole send stops the sink; a reload resumes it", async () => {
    t = await makeApp({ sinks: [{ type: "http", name: "news", url: "http://127.0.0.1:9/{{email}}" }] });
    const sent: SyncJob[] = [];
    let missing = true;
    const sink: Sink = {
      name: "news",
      async send(jobs) {
        if (missing) {
          throw new SinkError(
            "Mailchimp audience (list id) 'gone' does not exist in this account (404): check listIds of sink 'news'.",
            true,
          );
        }
        sent.push(...jobs);
        return new Map(jobs.map((j) => [j.id, { kind: "done" as const }]));
      },
    };
    const o = observe(t, [sink]);
    await queue(t, "news", 10);
    await o.worker.runOnce();
    expect(await countJobs(t.db.read, "news")).toEqual({ pending: 10, running: 0, dead: 0 });
    const s = ((await o.status()).sinks as Record<string, unknown>[])[0];
    expect(s).toMatchObject({
      state: "stopped",
      last_error: expect.objectContaining({ class: "not_found" }),
    });
    expect(String(s?.fix)).toContain("fix the sink's listIds (Mailchimp)");
    expect((await o.status()).problems).toEqual([
      "sink news is stopped: an audience or resource it names does not exist (404)",
    ]);
    missing = false;
    o.worker.setSinks([sink]);
    await o.worker.runOnce();
    expect(sent.length).toBe(10);
    expect(await countJobs(t.db.read, "news")).toEqual({ pending: 0, running: 0, dead: 0 });
  });
});

test("a reload applies changed sink settings at once; added, removed or renamed sinks wait for a restart", async () => {
  t = await makeApp();
  const sink = { type: "http", name: "crm", url: "http://127.0.0.1:9/a/{{email}}" };
  const config = (sinks: unknown[]) => testConfig(t?.config.database.url as string, { sinks });
  const daemon = await startDaemon(config([sink]));
  try {
    expect(daemon.reload(config([{ ...sink, url: "http://127.0.0.1:9/b/{{email}}" }]))).toEqual([]);
    expect(daemon.reload(config([{ ...sink, name: "crm2" }]))).toEqual(["sinks"]);
    // Taking lifts or not changes what the writer queues: a restart too.
    expect(daemon.reload(config([{ ...sink, sendLifts: true }]))).toEqual(["sinks"]);
  } finally {
    await daemon.stop();
  }
});

describe("per-job failures", () => {
  test("2,500 refused addresses go dead with one log line per interval, counted", async () => {
    const api = audience(() => Response.json({ error: "invalid address" }, { status: 422 }));
    t = await makeApp({ sinks: [httpSink(api.url, GOOD)] });
    const o = observe(t, buildSinks(t.config.sinks).sinks);
    await queue(t, "crm", 2500);
    await o.worker.runOnce(); // 2,000 dead: logged at once
    await o.worker.runOnce(); // 500 more within the minute: counted
    expect(await countJobs(t.db.read, "crm")).toEqual({ pending: 0, running: 0, dead: 2500 });
    expect(o.loud().map((l) => l.msg)).toEqual([
      `sink crm: PUT 127.0.0.1:${server?.port} answered 422: {"error":"invalid address"} (add it to doneStatuses if it means "nothing to do") (2,000 jobs dead)`,
    ]);
    t.now.value += 61_000;
    await o.worker.runOnce(); // an idle poll ends the interval
    const loud = o.loud();
    expect(loud.length).toBe(2);
    expect(String(loud[1]?.msg)).toEndWith("(500 jobs dead in the last minute)");
    expect(loud[1]).toMatchObject({ sink: "crm", error_class: "rejected", outcome: "dead", jobs: 500 });

    const text = await o.scrape();
    expect(
      sample(text, 'suppressd_sync_job_failures_total{sink="crm",outcome="dead",class="rejected"}'),
    ).toBe(2500);
    expect(sample(text, 'suppressd_outbox_jobs{sink="crm",status="dead"}')).toBe(2500);
    // The sink answered: it is up, and not stopped; the dead jobs still make status not ok.
    expect(sample(text, 'suppressd_sink_up{sink="crm"}')).toBe(1);
    expect(sample(text, 'suppressd_sink_stopped{sink="crm"}')).toBe(0);
    const status = await o.status();
    expect(status.ok).toBe(false);
    expect(status.problems).toEqual(["sink crm has 2,500 dead job(s)"]);
  });

  test("an unreachable sink is failing, its jobs retried: counted as errors, never as ok", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const port = closed.port;
    closed.stop(true);
    t = await makeApp({ sinks: [httpSink(`http://127.0.0.1:${port}`, GOOD)] });
    const o = observe(t, buildSinks(t.config.sinks).sinks);
    await queue(t, "crm", 20);
    await o.worker.runOnce();
    expect(await countJobs(t.db.read, "crm")).toEqual({ pending: 20, running: 0, dead: 0 });
    const text = await o.scrape();
    expect(sample(text, 'suppressd_sync_batches_total{sink="crm",result="ok"}')).toBe(0);
    expect(sample(text, 'suppressd_sync_batches_total{sink="crm",result="error"}')).toBe(1);
    expect(
      sample(text, 'suppressd_sync_job_failures_total{sink="crm",outcome="retry",class="network"}'),
    ).toBe(20);
    expect(sample(text, 'suppressd_sink_up{sink="crm"}')).toBe(0);
    const s = (await o.status()).sinks as Record<string, unknown>[];
    expect(s[0]).toMatchObject({
      state: "failing",
      last_error: expect.objectContaining({ class: "network" }),
    });
    expect(String(s[0]?.fix)).toContain("cannot be reached");
    expect(o.loud().map((l) => l.msg)).toEqual([
      expect.stringMatching(
        /^sink crm: PUT 127\.0\.0\.1:\d+: could not reach it .* \(20 jobs failed, to be retried\)$/,
      ),
    ]);
  });
});
