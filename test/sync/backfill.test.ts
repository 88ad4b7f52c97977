import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { backfill, listJobs } from "../../src/db/jobs.ts";
import { runCli } from "../cli/run.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { appsClosedAfterEach, tableCounts, tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";

const makeApp = appsClosedAfterEach();
const CRM = { type: "http", name: "crm", url: "https://crm.example/{{email}}" };

let daemon: RunningDaemon | undefined;
let fake: FakeMailchimp | undefined;
const dirs: { cleanup(): void }[] = [];
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  fake?.stop();
  fake = undefined;
  for (const d of dirs.splice(0)) d.cleanup();
});

test("queues a suppress job for every address suppressed now, once, chunk by chunk", async () => {
  const t = await makeApp({ sinks: [] });
  for (const e of ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]) {
    await t.api("PUT", `/v1/suppressions/${e}`, { reason: "manual" });
  }
  await t.api("DELETE", "/v1/suppressions/c@example.com");
  const chunks: number[] = [];
  const r = await backfill(t.db.write, "crm", t.now.value, {
    chunk: 2,
    onChunk: (p) => chunks.push(p.scanned),
  });
  expect(r).toEqual({ scanned: 3, queued: 3 });
  expect(chunks).toEqual([2, 3]);
  const jobs = await listJobs(t.db.read, { limit: 10 });
  expect(jobs.map((j) => [j.sink, j.email, j.action, j.reason, j.event_type, j.status]).sort()).toEqual([
    ["crm", "a@example.com", "suppress", "manual", "backfill", "pending"],
    ["crm", "b@example.com", "suppress", "manual", "backfill", "pending"],
    ["crm", "d@example.com", "suppress", "manual", "backfill", "pending"],
  ]);
  // Again: everything already has a job waiting.
  expect(await backfill(t.db.write, "crm", t.now.value)).toEqual({ scanned: 3, queued: 0 });
  expect((await listJobs(t.db.read, { limit: 10 })).length).toBe(3);
});

test("the CLI refuses an unknown sink and names the configured ones, changing nothing", async () => {
  const t = await makeApp({ sinks: [] });
  await t.api("PUT", "/v1/suppressions/a@example.com", {});
  const before = await t.counts();
  const config = writeConfig(t.dir, join(t.dir, "test.db"), { sinks: [CRM] });
  const r = await runCli(["jobs", "backfill", "--sink", "mailchimp", "--config", config]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('no sink named "mailchimp"');
  expect(r.stderr).toContain("configured: crm");
  const none = await runCli(["jobs", "backfill", "--config", config]);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain("--sink NAME");
  expect(await tableCounts(t.db)).toEqual(before);
  const ok = await runCli(["jobs", "backfill", "--sink", "crm", "--config", config]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain("queued 1 suppress job(s) for sink crm");
});

test("a Mailchimp sink added later: backfill, and the running daemon unsubscribes what was suppressed before", async () => {
  const tmp = tempDir();
  dirs.push(tmp);
  const db = join(tmp.dir, "later.db");
  // Months without a sink.
  daemon = await startDaemon({ config: writeConfig(tmp.dir, db, { sinks: [] }) });
  for (const e of ["old1@example.com", "old2@example.com"]) {
    const res = await fetch(`${daemon.url}/v1/suppressions/${e}`, {
      method: "PUT",
      headers: authHeaders(),
      body: "{}",
    });
    expect(res.status).toBe(200);
  }
  await daemon.stop();
  // Then Mailchimp is configured, and the daemon restarted with it.
  fake = FakeMailchimp.start();
  fake.addMember("list1", "old1@example.com", "subscribed", []);
  const config = writeConfig(tmp.dir, db, {
    sinks: [{ type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: fake.url }],
    sync: { pollMs: 100 },
  });
  daemon = await startDaemon({ config });
  const r = await runCli(["jobs", "backfill", "--sink", "mc", "--config", config]);
  expect(r.stdout).toContain("queued 2 suppress job(s) for sink mc");
  expect(r.code).toBe(0);
  const deadline = Date.now() + 20_000;
  while (fake.member("list1", "old1@example.com")?.status !== "unsubscribed" && Date.now() < deadline) {
    await Bun.sleep(50);
  }
  expect(fake.member("list1", "old1@example.com")?.status).toBe("unsubscribed");
  // Not a member and no createMissing: left out, as for any suppression.
  expect(fake.member("list1", "old2@example.com")).toBeUndefined();
  // Every waiting job belongs to a configured sink: no warning about others.
  expect(daemon.stdout()).not.toContain("not configured");
});

test("jobs left for a sink that is no longer configured: the daemon says so at start, and what to do", async () => {
  const t = await makeApp({ sinks: [CRM] });
  await t.api("PUT", "/v1/suppressions/a@example.com", {});
  await t.api("PUT", "/v1/suppressions/b@example.com", {});
  // The sink is renamed in the config before the jobs were sent.
  const config = writeConfig(t.dir, join(t.dir, "test.db"), { sinks: [{ ...CRM, name: "crm2" }] });
  daemon = await startDaemon({ config });
  const deadline = Date.now() + 10_000;
  while (!daemon.stdout().includes("not configured") && Date.now() < deadline) await Bun.sleep(50);
  const line = daemon
    .stdout()
    .split("\n")
    .find((l) => l.includes("not configured"));
  expect(JSON.parse(line ?? "{}")).toMatchObject({
    level: "warn",
    msg: "jobs wait for a sink that is not configured: they are not sent",
    sink: "crm",
    jobs: 2,
  });
  expect(line).toContain("suppressd jobs backfill --sink NEW_NAME");
});
