import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { listJobs } from "../../src/db/jobs.ts";
import { Semaphore } from "../../src/sync/semaphore.ts";
import { buildSinks } from "../../src/sync/sinks/index.ts";
import { MailchimpApi } from "../../src/sync/sinks/mailchimp_api.ts";
import { type BatchTiming, runBatch } from "../../src/sync/sinks/mailchimp_batch.ts";
import { classify } from "../../src/sync/sinks/mailchimp_outcome.ts";
import { untarGz } from "../../src/sync/sinks/tar.ts";
import { SyncWorker } from "../../src/sync/worker.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";

// Made by GNU tar itself (test/fixtures/mailchimp/make_batch_results.sh), not by our own writer.
const fixture = (format: "gnu" | "pax") =>
  readFileSync(join(import.meta.dir, `../fixtures/mailchimp/batch-results-${format}.tar.gz`));
const LONG =
  "d41d8cd98f/results-of-a-batch-whose-file-name-is-deliberately-longer-than-one-hundred-characters-to-need-long-names.json";

let fake: FakeMailchimp | undefined;
let t: TestApp | undefined;
afterEach(async () => {
  fake?.stop();
  fake = undefined;
  await t?.close();
  t = undefined;
});

describe("batch results archives made by real tar", () => {
  for (const format of ["gnu", "pax"] as const) {
    test(`${format}: every file is read, a name longer than 100 characters included`, async () => {
      const files = await untarGz(fixture(format));
      expect([...files.keys()].sort()).toEqual(["d41d8cd98f/0.json", LONG]);
      expect(LONG.length).toBeGreaterThan(100);
      const [entry] = JSON.parse(new TextDecoder().decode(files.get(LONG)));
      expect(entry.operation_id).toBe("2:m");
    });

    test(`${format}: results are found in every file, and an operation with none is retried, not done`, async () => {
      fake = FakeMailchimp.start();
      const api = new MailchimpApi(
        { apiKey: FAKE_KEY, baseUrl: fake.url, timeoutMs: 5000 },
        new Semaphore(5),
      );
      // The batch runs on the fake; its results URL answers with the archive real tar made.
      const timing: BatchTiming = {
        sleep: (ms) => Bun.sleep(Math.min(ms, 10)),
        clock: Date.now,
        pollStartMs: 10,
        pollMaxMs: 20,
        giveUpMs: 60_000,
        fetch: (async () => new Response(fixture(format))) as unknown as typeof fetch,
        downloadTimeoutMs: 5000,
      };
      const ops = ["1:m", "2:m", "3:m"].map((operation_id) => ({
        method: "GET" as const,
        path: "/lists/list1/members/0",
        operation_id,
      }));
      const results = await runBatch(api, ops, timing, new AbortController().signal, { needBodies: true });
      expect(classify(results.get("1:m"))).toBe("ok");
      expect(results.get("1:m")?.body.status).toBe("unsubscribed");
      // In the file with the long name: a cleaned member, the reason nested in errors[].
      expect(classify(results.get("2:m"))).toEqual({
        kind: "done",
        note: expect.stringContaining('"cleaned."'),
      });
      const missing = classify(results.get("3:m"));
      expect(missing).toEqual({
        kind: "retry",
        error: expect.stringContaining("no result for this operation"),
      });
    });
  }
});

test("a 403 without a body makes no job dead: the worker retries until Mailchimp answers again", async () => {
  fake = FakeMailchimp.start();
  const sinkConfig = {
    type: "mailchimp",
    name: "mc",
    apiKey: FAKE_KEY,
    listIds: ["list1"],
    baseUrl: fake.url,
  };
  t = await makeApp({ sinks: [sinkConfig] });
  const app = t;
  const emails = Array.from({ length: 30 }, (_, i) => `b${i}@example.com`);
  for (const e of emails) fake.addMember("list1", e, "subscribed");
  const clock = () => app.now.value;
  // Every wait moves the virtual clock; the throttling lasts for the first 40 calls.
  const sleep = async (ms: number) => {
    app.now.value += ms;
    await Bun.sleep(0);
  };
  fake.failNext(40, "bare403");
  const { sinks } = buildSinks(app.config.sinks, { clock, sleep, batch: { pollStartMs: 1000 } });
  const w = new SyncWorker({ db: app.db, sinks, clock, sleep, pollMs: 1000 });
  w.start();
  for (const e of emails)
    expect((await app.api("PUT", `/v1/suppressions/${e}`, { reason: "manual" })).status).toBe(200);
  const deadline = Date.now() + 20_000;
  let rows = await listJobs(app.db.read, { limit: 100 });
  while (Date.now() < deadline && !rows.every((r) => r.status === "done")) {
    await Bun.sleep(20);
    rows = await listJobs(app.db.read, { limit: 100 });
  }
  await w.stop();
  expect(fake.stats.throttled).toBe(40);
  expect(rows.map((r) => r.status)).toEqual(Array(30).fill("done"));
  expect(rows.some((r) => r.attempts > 1)).toBe(true);
  for (const e of emails) expect(fake.member("list1", e)?.status).toBe("unsubscribed");
});
