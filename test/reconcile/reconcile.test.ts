import { afterAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { openTestDb, runCli, seed } from "../cli/run.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { FakeResend } from "../fakes/resend.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET } from "../helpers/config.ts";
import { startDaemon, writeConfig } from "../helpers/daemon.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

async function snapshot(dbFile: string) {
  const t = await openTestDb(dbFile);
  try {
    const rows = async <T>(q: ReturnType<typeof sql<T>>) => (await q.execute(t.db.read)).rows;
    return {
      reasons: await rows(sql<{ email: string; reason: string; source: string; active: number }>`
        SELECT email, reason, source, active FROM suppression_reasons ORDER BY email, reason, source`),
      jobs: await rows(sql<{ sink: string; email: string; status: string }>`
        SELECT sink, email, status FROM sync_jobs ORDER BY sink, email`),
      history: (await rows(sql<{ n: number }>`SELECT count(*) AS n FROM suppression_events`))[0]?.n,
    };
  } finally {
    await t.close();
  }
}

test("reconcile finds drift planted both ways in a Mailchimp audience and Resend's list, changes nothing, then --fix repairs it and the daemon's jobs close it", async () => {
  const mc = FakeMailchimp.start({ lists: ["aud1"] });
  const resend = new FakeResend();
  const resendUrl = resend.start();
  const dir = join(tmp.dir, "drift");
  mkdirSync(dir);
  const dbFile = join(dir, "s.db");
  try {
    // Here: three hard bounces Mailchimp still has subscribed, one address in step everywhere.
    const t = await openTestDb(dbFile);
    const at = Date.parse("2026-03-01T00:00:00Z");
    await seed(t.writer, [
      ...["ours1", "ours2", "ours3"].map((u) => ({
        kind: "suppress" as const,
        email: `${u}@example.com`,
        reason: "hard_bounce" as const,
        eventType: "email.bounced",
        occurredAt: at,
      })),
      {
        kind: "suppress",
        email: "both@example.com",
        reason: "unsubscribe",
        eventType: "api.put",
        occurredAt: at,
      },
      // Lifted by an operator after it unsubscribed in Mailchimp: the lift wins, not drift.
      { kind: "lift", email: "lifted@example.com", reasons: "*", eventType: "api.delete", occurredAt: at },
    ]);
    await t.close();
    for (const u of ["ours1", "ours2", "ours3", "fine"])
      mc.addMember("aud1", `${u}@example.com`, "subscribed");
    mc.addMember("aud1", "both@example.com", "unsubscribed");
    // There: two unsubscribed and one cleaned member, and a bounce on Resend's list, unknown here.
    const old = new Date("2026-02-01T00:00:00Z");
    mc.addMember("aud1", "theirs1@example.com", "unsubscribed", [], { lastChanged: old });
    mc.addMember("aud1", "theirs2@example.com", "unsubscribed", [], { lastChanged: old });
    mc.addMember("aud1", "cleaned1@example.com", "cleaned", [], { lastChanged: old });
    mc.addMember("aud1", "lifted@example.com", "unsubscribed", [], { lastChanged: old });
    for (const u of ["ours1", "ours2"]) resend.suppress(`${u}@example.com`, "bounce");
    resend.suppress("rb1@example.com", "bounce", old);
    const config = writeConfig(dir, dbFile, {
      resend: { webhookSecrets: [SECRET], apiKey: resend.apiKey, apiBaseUrl: resendUrl },
      sinks: [
        { type: "mailchimp", name: "newsletter", apiKey: FAKE_KEY, listIds: ["aud1"], baseUrl: mc.url },
        {
          // The resend-suppressions preset (config.example.json), on the fake.
          type: "http",
          name: "resend-suppressions",
          url: `${resendUrl}/suppressions`,
          headers: { Authorization: `Bearer ${resend.apiKey}`, "Content-Type": "application/json" },
          body: '{"email": "{{email}}"}',
          reasons: ["hard_bounce", "complaint"],
          concurrency: 1,
        },
      ],
    });

    const before = await snapshot(dbFile);
    const report = await runCli(["reconcile", "--config", config]);
    expect(report.stderr).toBe("");
    expect(report.code).toBe(1);
    expect(report.stdout).toBe(
      [
        "mailchimp newsletter/aud1: 4 suppressed here, 5 unsubscribed or cleaned there",
        "  suppressed here but subscribed there: 3 (ours1@example.com, ours2@example.com, ours3@example.com)",
        "  unsubscribed or cleaned there but not suppressed here: 3 (cleaned1@example.com, theirs1@example.com, theirs2@example.com)",
        "resend: 4 suppressed here, 3 on Resend's suppression list",
        "  suppressed here but not on Resend's list (hard bounces, complaints): 1 (ours3@example.com)",
        "  on Resend's list but not suppressed here: 1 (rb1@example.com)",
        "",
      ].join("\n"),
    );
    // Reporting alone changes nothing, and never writes to Mailchimp.
    expect(await snapshot(dbFile)).toEqual(before);
    expect(mc.stats.statusWrites).toEqual([]);

    const fixed = await runCli(["reconcile", "--fix", "--config", config]);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toContain("  fixed: imported 3, queued 3 jobs\n");
    expect(fixed.stdout).toContain("  fixed: imported 1, queued 1 job\n");
    const after = await snapshot(dbFile);
    const active = after.reasons
      .filter((r) => r.active === 1)
      .map((r) => `${r.email} ${r.reason}/${r.source}`);
    expect(active).toEqual([
      "both@example.com unsubscribe/api",
      "cleaned1@example.com hard_bounce/mailchimp",
      "ours1@example.com hard_bounce/resend",
      "ours2@example.com hard_bounce/resend",
      "ours3@example.com hard_bounce/resend",
      "rb1@example.com hard_bounce/resend",
      "theirs1@example.com unsubscribe/mailchimp",
      "theirs2@example.com unsubscribe/mailchimp",
    ]);
    // Imported from Mailchimp: not sent back to it; imported from Resend: not sent back to Resend.
    const jobs = after.jobs.map((j) => `${j.sink} ${j.email}`);
    expect(jobs).toEqual([
      "newsletter ours1@example.com",
      "newsletter ours2@example.com",
      "newsletter ours3@example.com",
      "newsletter rb1@example.com",
      // Its reasons filter: bounces and complaints only, not the unsubscribes.
      "resend-suppressions cleaned1@example.com",
      "resend-suppressions ours3@example.com",
    ]);

    // The daemon sends the queued jobs; the audience is then in step.
    const daemon = await startDaemon({ config });
    try {
      for (let i = 0; i < 600; i++) {
        const pending = (await snapshot(dbFile)).jobs.filter(
          (j) => j.status === "pending" || j.status === "running",
        );
        if (pending.length === 0) break;
        await Bun.sleep(100);
      }
    } finally {
      await daemon.stop();
    }
    for (const u of ["ours1", "ours2", "ours3"])
      expect(mc.member("aud1", `${u}@example.com`)?.status).toBe("unsubscribed");
    expect(mc.member("aud1", "fine@example.com")?.status).toBe("subscribed");
    expect(resend.suppressions.map((x) => x.email).sort()).toEqual([
      "cleaned1@example.com",
      "ours1@example.com",
      "ours2@example.com",
      "ours3@example.com",
      "rb1@example.com",
    ]);
    const clean = await runCli(["reconcile", "--config", config]);
    expect(clean.code).toBe(0);
    expect(clean.stdout.match(/: none$/gm)?.length).toBe(4);
    const one = await runCli(["reconcile", "--sink", "newsletter", "--config", config]);
    expect(one.code).toBe(0);
    expect(one.stdout).not.toContain("resend:");
  } finally {
    mc.stop();
    resend.stop();
  }
}, 120_000);

test("reconcile: an unknown sink, or nothing to compare, is a config error (78)", async () => {
  const dir = join(tmp.dir, "errors");
  mkdirSync(dir);
  const config = writeConfig(dir, join(dir, "s.db"));
  const none = await runCli(["reconcile", "--config", config]);
  expect(none.code).toBe(78);
  expect(none.stderr).toContain("nothing to compare");
  const unknown = await runCli(["reconcile", "--sink", "nope", "--config", config]);
  expect(unknown.code).toBe(78);
  expect(unknown.stderr).toContain("--sink nope: no Mailchimp sink of that name");
});
