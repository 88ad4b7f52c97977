import { afterAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { openTestDb, runCli } from "../cli/run.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { FakeResend } from "../fakes/resend.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET } from "../helpers/config.ts";
import { BUN, ROOT, writeConfig } from "../helpers/daemon.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

let n = 0;
function setup(extra: Record<string, unknown>) {
  const dir = join(tmp.dir, `run${n++}`);
  mkdirSync(dir);
  const dbFile = join(dir, "s.db");
  return { dbFile, config: writeConfig(dir, dbFile, extra) };
}

async function counts(dbFile: string) {
  const t = await openTestDb(dbFile);
  try {
    const one = async (q: ReturnType<typeof sql<{ n: number }>>) =>
      (await q.execute(t.db.read)).rows[0]?.n ?? 0;
    return {
      suppressed: await one(sql<{ n: number }>`SELECT count(*) AS n FROM suppressions WHERE suppressed = 1`),
      history: await one(sql<{ n: number }>`SELECT count(*) AS n FROM suppression_events`),
      jobs: Object.fromEntries(
        (
          await sql<{
            sink: string;
            n: number;
          }>`SELECT sink, count(*) AS n FROM sync_jobs WHERE status = 'pending' GROUP BY sink`.execute(
            t.db.read,
          )
        ).rows.map((r) => [r.sink, r.n]),
      ),
      cursorRows: await one(sql<{ n: number }>`SELECT coalesce(max(rows), 0) AS n FROM import_cursors`),
      reasons: Object.fromEntries(
        (
          await sql<{
            k: string;
            n: number;
          }>`SELECT reason || '/' || source AS k, count(*) AS n FROM suppression_reasons WHERE active = 1 GROUP BY k`.execute(
            t.db.read,
          )
        ).rows.map((r) => [r.k, r.n]),
      ),
    };
  } finally {
    await t.close();
  }
}

/** An HTTP sink elsewhere (it must hear of everything) and one on Resend's host (it must not). */
function resendSinksConfig(resendUrl: string) {
  return [
    { type: "http", name: "crm", url: "http://127.0.0.1:9/unsubscribe/{{email}}" },
    {
      type: "http",
      name: "resend-contacts",
      method: "PATCH",
      url: `${resendUrl}/contacts/{{email}}`,
      headers: { Authorization: "Bearer re_x" },
      body: '{"unsubscribed": true}',
    },
  ];
}

test("import --from resend: 50,000 suppressions, killed midway and resumed: nothing lost, nothing doubled, nothing echoed", async () => {
  const resend = new FakeResend();
  const url = resend.start();
  try {
    const base = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 50_000; i++)
      resend.suppress(`r${i}@example.com`, i % 10 === 0 ? "complaint" : "bounce", new Date(base + i * 1000));
    for (let i = 0; i < 150; i++) resend.add(`contact${i}@example.com`, i % 3 === 0);
    const { dbFile, config } = setup({
      resend: {
        webhookSecrets: [SECRET],
        apiKey: resend.apiKey,
        apiBaseUrl: url,
      },
      sinks: resendSinksConfig(url),
    });
    const proc = Bun.spawn(
      [BUN, join(ROOT, "src/main.ts"), "import", "--from", "resend", "--config", config],
      {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    // Killed (no chance to clean up) once a good part is committed.
    for (;;) {
      await Bun.sleep(200);
      const c = await counts(dbFile).catch(() => null);
      if (c && c.cursorRows >= 15_000) break;
      expect(proc.exitCode).toBeNull();
    }
    proc.kill("SIGKILL");
    await proc.exited;
    const midway = await counts(dbFile);
    expect(midway.suppressed).toBeGreaterThanOrEqual(15_000);
    expect(midway.suppressed).toBeLessThan(50_000);

    const second = await runCli(["import", "--from", "resend", "--config", config]);
    expect(second.stderr).not.toContain("Error");
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("(went on from the last run)");
    const done = await counts(dbFile);
    expect(done.suppressed).toBe(50_000 + 50);
    // One history row per address: no page was written twice, the one read again included.
    expect(done.history).toBe(50_050);
    expect(done.reasons).toEqual({
      "hard_bounce/resend": 45_000,
      "complaint/resend": 5000,
      "unsubscribe/resend_contact": 50,
    });
    expect(done.jobs).toEqual({ crm: 50_050 });

    // A third run (and one reading everything again) adds nothing.
    for (const args of [[], ["--full"]]) {
      const again = await runCli(["import", "--from", "resend", "--config", config, ...args]);
      expect(again.code).toBe(0);
      expect(again.stdout).toContain("newly suppressed 0");
      expect({ ...(await counts(dbFile)), cursorRows: 0 }).toEqual({ ...done, cursorRows: 0 });
    }
  } finally {
    resend.stop();
  }
}, 300_000);

test("import --from resend keeps to the rate limit: 429s are waited out with retry-after, nothing is lost", async () => {
  const resend = new FakeResend();
  const url = resend.start();
  try {
    resend.rateLimit = 2;
    for (let i = 0; i < 450; i++) resend.suppress(`slow${i}@example.com`, "manual");
    resend.listFaults.push("rate_limit_exceeded", "application_error");
    const { dbFile, config } = setup({
      resend: {
        webhookSecrets: [SECRET],
        apiKey: resend.apiKey,
        apiBaseUrl: url,
      },
    });
    const r = await runCli(["import", "--from", "resend", "--config", config]);
    expect(r.code).toBe(0);
    expect((await counts(dbFile)).reasons).toEqual({ "provider_suppressed/resend": 450 });
    // Every page asked for at most 100, and the fake's 429s were met and waited out.
    const lists = resend.calls.filter((c) => c.path === "/suppressions");
    expect(lists.length).toBeGreaterThanOrEqual(6);
  } finally {
    resend.stop();
  }
}, 120_000);

test("import --from resend: a refused key and a missing key are config errors (78) and change nothing", async () => {
  const resend = new FakeResend();
  const url = resend.start();
  try {
    resend.suppress("x@example.com");
    const secret = SECRET;
    const bad = setup({ resend: { webhookSecrets: [secret], apiKey: "re_wrong", apiBaseUrl: url } });
    const r = await runCli(["import", "--from", "resend", "--config", bad.config]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("Resend refused resend.apiKey (403 invalid_api_key: API key is invalid.)");
    expect(r.stderr).not.toContain("    at ");
    expect((await counts(bad.dbFile)).suppressed).toBe(0);
    const none = setup({ resend: { webhookSecrets: [secret] } });
    const m = await runCli(["import", "--from", "resend", "--config", none.config]);
    expect(m.code).toBe(78);
    expect(m.stderr).toContain("resend.apiKey is not set");
    const u = await runCli(["import", "--from", "sendgrid", "--config", none.config]);
    expect(u.code).toBe(2);
  } finally {
    resend.stop();
  }
});

test("import --from mailchimp: unsubscribed and cleaned members of every audience, throttling waited out, no job back to Mailchimp", async () => {
  const mc = FakeMailchimp.start({ lists: ["aud1", "aud2"] });
  try {
    const old = new Date("2025-06-01T10:00:00Z");
    for (let i = 0; i < 2500; i++)
      mc.addMember("aud1", `u${i}@example.com`, "unsubscribed", [], {
        lastChanged: old,
        unsubscribeReason: "No longer interested",
      });
    for (let i = 0; i < 700; i++)
      mc.addMember("aud2", `c${i}@example.com`, "cleaned", [], { lastChanged: old });
    for (let i = 0; i < 300; i++) mc.addMember("aud2", `s${i}@example.com`, "subscribed");
    mc.failNext(1, "bare403");
    mc.failNext(1, "429");
    const { dbFile, config } = setup({
      sinks: [
        {
          type: "mailchimp",
          name: "newsletter",
          apiKey: FAKE_KEY,
          listIds: ["aud1", "aud2"],
          baseUrl: mc.url,
        },
        { type: "http", name: "crm", url: "http://127.0.0.1:9/u/{{email}}" },
      ],
    });
    const r = await runCli(["import", "--from", "mailchimp", "--config", config]);
    expect(r.stderr).not.toContain("    at ");
    expect(r.code).toBe(0);
    // Pages overlap by a few members (read twice, written once).
    expect(r.stdout).toMatch(/mailchimp newsletter aud1 unsubscribed: read 25\d\d, newly suppressed 2500,/);
    const c = await counts(dbFile);
    expect(c.reasons).toEqual({ "unsubscribe/mailchimp": 2500, "hard_bounce/mailchimp": 700 });
    expect(c.jobs).toEqual({ crm: 3200 });
    // Only reads reached Mailchimp: nothing was written to any member.
    expect(mc.stats.statusWrites).toEqual([]);

    // A member who unsubscribes afterwards is the only thing the next run reads and writes.
    mc.addMember("aud2", "late@example.com", "unsubscribed");
    const again = await runCli(["import", "--from", "mailchimp", "--config", config]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("mailchimp newsletter aud2 unsubscribed: read 1, newly suppressed 1");
    expect(again.stdout).toContain("mailchimp newsletter aud1 unsubscribed: read 0, newly suppressed 0");
    const after = await counts(dbFile);
    expect(after.suppressed).toBe(3201);
    expect(after.history).toBe(3201);
  } finally {
    mc.stop();
  }
}, 120_000);

test("import --from mailchimp: a wrong key is a config error naming the sink, nothing written", async () => {
  const mc = FakeMailchimp.start({ lists: ["aud1"] });
  try {
    mc.addMember("aud1", "u@example.com", "unsubscribed");
    const { dbFile, config } = setup({
      sinks: [
        {
          type: "mailchimp",
          name: "newsletter",
          apiKey: "ffffffffffffffffffffffffffffffff-us19",
          listIds: ["aud1"],
          baseUrl: mc.url,
        },
      ],
    });
    const r = await runCli(["import", "--from", "mailchimp", "--config", config]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("sink newsletter: Mailchimp rejected the API key (401 API Key Invalid)");
    expect((await counts(dbFile)).suppressed).toBe(0);
    const none = setup({});
    const m = await runCli(["import", "--from", "mailchimp", "--config", none.config]);
    expect(m.code).toBe(78);
    expect(m.stderr).toContain("no Mailchimp sink");
  } finally {
    mc.stop();
  }
});

test("import --from resend: Ctrl-C stops after the page in hand (exit 130, says how to go on); the next run finishes", async () => {
  const resend = new FakeResend();
  const url = resend.start();
  try {
    for (let i = 0; i < 20_000; i++) resend.suppress(`int${i}@example.com`, "bounce");
    const { dbFile, config } = setup({
      resend: { webhookSecrets: [SECRET], apiKey: resend.apiKey, apiBaseUrl: url },
    });
    const proc = Bun.spawn(
      [BUN, join(ROOT, "src/main.ts"), "import", "--from", "resend", "--config", config],
      {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    for (;;) {
      await Bun.sleep(100);
      const c = await counts(dbFile).catch(() => null);
      if (c && c.cursorRows >= 2000) break;
      expect(proc.exitCode).toBeNull();
    }
    proc.kill("SIGINT");
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    expect(code).toBe(130);
    expect(stderr).toContain("interrupted: run the same command again to go on where it stopped.");
    expect(stdout).toContain("resend suppressions: read ");
    expect(stdout).toContain("(interrupted)");
    const midway = await counts(dbFile);
    expect(midway.suppressed).toBeLessThan(20_000);
    const rest = await runCli(["import", "--from", "resend", "--config", config]);
    expect(rest.code).toBe(0);
    const done = await counts(dbFile);
    expect(done.suppressed).toBe(20_000);
    expect(done.history).toBe(20_000);
  } finally {
    resend.stop();
  }
}, 120_000);

test("import --from mailchimp: killed midway and resumed at its offset: every member once", async () => {
  const mc = FakeMailchimp.start({ lists: ["aud1"] });
  try {
    const base = Date.parse("2025-01-01T00:00:00Z");
    for (let i = 0; i < 6000; i++)
      mc.addMember("aud1", `k${i}@example.com`, "unsubscribed", [], {
        lastChanged: new Date(base + i * 1000),
      });
    // Slow enough that the kill lands between pages.
    mc.latencyMs = 150;
    const { dbFile, config } = setup({
      sinks: [
        { type: "mailchimp", name: "newsletter", apiKey: FAKE_KEY, listIds: ["aud1"], baseUrl: mc.url },
      ],
    });
    const proc = Bun.spawn(
      [BUN, join(ROOT, "src/main.ts"), "import", "--from", "mailchimp", "--config", config],
      {
        cwd: ROOT,
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    for (;;) {
      await Bun.sleep(50);
      const c = await counts(dbFile).catch(() => null);
      if (c && c.cursorRows >= 2000) break;
      expect(proc.exitCode).toBeNull();
    }
    proc.kill("SIGKILL");
    await proc.exited;
    const midway = await counts(dbFile);
    expect(midway.suppressed).toBeLessThan(6000);
    mc.latencyMs = 0;
    const rest = await runCli(["import", "--from", "mailchimp", "--config", config]);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain("mailchimp newsletter aud1 unsubscribed: read");
    expect(rest.stdout).toContain("(went on from the last run)");
    const done = await counts(dbFile);
    expect(done.suppressed).toBe(6000);
    expect(done.history).toBe(6000);
    expect(done.jobs).toEqual({});
  } finally {
    mc.stop();
  }
}, 120_000);
