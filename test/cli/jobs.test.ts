import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { listJobs } from "../../src/db/jobs.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { openTestDb, runCli, seed } from "./run.ts";

const tmp = tempDir("suppressd-jobs-");
afterAll(() => tmp.cleanup());
let fake: FakeMailchimp | undefined;
afterEach(() => {
  fake?.stop();
  fake = undefined;
});

let n = 0;
/** A fresh database with `dead` dead and `pending` pending jobs on sink `crm` (pending ones due in an hour). */
async function outbox(o: { dead?: number; pending?: number; suppressed?: number } = {}) {
  const file = join(tmp.dir, `j${n++}.db`);
  const t = await openTestDb(file);
  const now = Date.now();
  const insert = (status: string, count: number, next: number) =>
    t.db.writer.execute({
      sql: `WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
        INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts,
          next_attempt_at, last_error, created_at, updated_at)
        SELECT 'crm', ? || k || '@example.com', 'suppress', 'hard_bounce', 'test', 0, ?, 1, ?, 'boom', 0, 0 FROM i`,
      args: [count, status, status, next],
    });
  if (o.dead) await insert("dead", o.dead, 0);
  if (o.pending) await insert("pending", o.pending, now + 3_600_000);
  for (let i = 0; i < (o.suppressed ?? 0); i++) {
    await seed(t.writer, [
      {
        kind: "suppress",
        email: `s${i}@example.com`,
        reason: "hard_bounce",
        eventType: "test",
        occurredAt: now,
      },
    ]);
  }
  const rows = async () => {
    const db = await openTestDb(file);
    try {
      return await listJobs(db.db.read, { limit: 10_000 });
    } finally {
      await db.close();
    }
  };
  await t.close();
  const sinks = [{ type: "http", name: "crm", url: "https://crm.example/{{email}}" }];
  return {
    file,
    rows,
    config: (over: Record<string, unknown> = { sinks }) => writeConfig(tmp.dir, file, over),
  };
}

describe("jobs retry", () => {
  test("--all prints counts, not ids", async () => {
    const o = await outbox({ dead: 1200 });
    const r = await runCli(["jobs", "retry", "--all", "--config", o.config()]);
    expect(r).toMatchObject({ code: 0, stdout: "requeued 1,200 dead job(s)\n", stderr: "" });
    expect((await o.rows()).every((j) => j.status === "pending")).toBe(true);
  });

  test("an unknown id is an error (exit 2) and nothing changes", async () => {
    const o = await outbox({ dead: 2 });
    const before = await o.rows();
    const id = before[0]?.id as number;
    const r = await runCli(["jobs", "retry", String(id), "999", "--config", o.config()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no sync job with id 999; nothing was changed");
    expect(r.stdout).toBe("");
    expect(await o.rows()).toEqual(before);
    const ok = await runCli(["jobs", "retry", String(id), "--config", o.config()]);
    expect(ok).toMatchObject({ code: 0, stdout: "requeued 1 dead job(s)\n" });
  });

  test("--pending makes jobs waiting out their backoff due now, and says how many", async () => {
    const o = await outbox({ pending: 40, dead: 3 });
    const started = Date.now();
    const r = await runCli(["jobs", "retry", "--pending", "--sink", "crm", "--config", o.config()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("40 pending job(s) of sink crm made due now");
    const rows = await o.rows();
    const pending = rows.filter((j) => j.status === "pending");
    expect(pending.length).toBe(40);
    expect(pending.every((j) => j.next_attempt_at >= started && j.next_attempt_at <= Date.now())).toBe(true);
    expect(rows.filter((j) => j.status === "dead").length).toBe(3); // --pending leaves dead ones alone
    expect((await runCli(["jobs", "retry", "--pending", "--all", "--config", o.config()])).code).toBe(2);
  });
});

describe("jobs cancel", () => {
  test("asks first: without a terminal and without --yes nothing is cancelled (exit 2)", async () => {
    const o = await outbox({ pending: 5, dead: 2 });
    const before = await o.rows();
    const r = await runCli(["jobs", "cancel", "--sink", "crm", "--config", o.config()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "nothing cancelled: this would cancel 5 pending and 2 dead job(s) of sink crm, never to be sent. No terminal to ask on: confirm with --yes",
    );
    expect(await o.rows()).toEqual(before);
    // A sink that is gone from the config can be cleaned up too.
    const yes = await runCli(["jobs", "cancel", "--sink", "crm", "--yes", "--config", o.config({})]);
    expect(yes).toMatchObject({ code: 0, stdout: "cancelled 7 job(s) of sink crm\n" });
    expect(new Set((await o.rows()).map((j) => j.status))).toEqual(new Set(["cancelled"]));
    const list = await runCli(["jobs", "list", "--status", "cancelled", "--config", o.config()]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain("cancelled crm suppress");
    expect((await runCli(["jobs", "cancel", "--config", o.config()])).code).toBe(2);
  });
});

describe("jobs backfill", () => {
  test("refuses when the sink's check fails (exit 78, nothing queued); --force queues anyway", async () => {
    fake = FakeMailchimp.start();
    const o = await outbox({ suppressed: 3 });
    const sink = { type: "mailchimp", name: "news", listIds: ["list1"], baseUrl: fake.url };
    const bad = o.config({ sinks: [{ ...sink, apiKey: "0000000000000000000000000000000-us19" }] });
    const r = await runCli(["jobs", "backfill", "--sink", "news", "--config", bad]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("nothing queued: the check of sink news failed:");
    expect(r.stderr).toContain("rejected the API key");
    expect(r.stderr).toContain("--force");
    expect(await o.rows()).toEqual([]);
    const forced = await runCli(["jobs", "backfill", "--sink", "news", "--force", "--config", bad]);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain("queued 3 suppress job(s) for sink news");
    const good = o.config({ sinks: [{ ...sink, apiKey: FAKE_KEY }] });
    const again = await runCli(["jobs", "backfill", "--sink", "news", "--config", good]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("queued 0 suppress job(s)");
  });

  test("a service that cannot be reached: exit 69", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}/3.0`;
    closed.stop(true);
    const o = await outbox({ suppressed: 1 });
    const config = o.config({
      sinks: [{ type: "mailchimp", name: "news", listIds: ["list1"], baseUrl: url, apiKey: FAKE_KEY }],
    });
    const r = await runCli(["jobs", "backfill", "--sink", "news", "--config", config]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("could not reach Mailchimp");
    expect(await o.rows()).toEqual([]);
  });
});
