import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { openTestDb, runCli } from "../cli/run.ts";
import { tempDir } from "../helpers/app.ts";
import { TOKEN } from "../helpers/config.ts";
import { type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";

/**
 * A sink outage on a real daemon, as an operator meets it: the audience API refuses the key, the
 * sink stops within one sync cycle, `status` (exit 1) and GET /v1/status say so and what to fix,
 * the log holds a couple of lines for 2,000 jobs; the fixed config and a SIGHUP send them all.
 */

const tmp = tempDir("suppressd-outage-");
afterAll(() => tmp.cleanup());

const GOOD = "Bearer right-key-0123456789";
const JOBS = 2000;

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

async function v1Status(d: RunningDaemon): Promise<{ ok: boolean; sinks: Record<string, unknown>[] }> {
  const res = await fetch(`${d.url}/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return res.json() as Promise<{ ok: boolean; sinks: Record<string, unknown>[] }>;
}

/** Polls GET /v1/status until `done` holds (bounded: a count of polls, not a time). */
async function until(d: RunningDaemon, done: (s: Awaited<ReturnType<typeof v1Status>>) => boolean) {
  for (let i = 0; i < 1500; i++) {
    const s = await v1Status(d);
    if (done(s)) return s;
    await Bun.sleep(20);
  }
  throw new Error(`never reached the state: ${JSON.stringify(await v1Status(d))}\n${d.stdout()}`);
}

test("a refused key: stopped, visible, quiet; fixed config + SIGHUP sends every job", async () => {
  const seen = { accepted: 0, refused: 0 };
  const audience = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      if (req.headers.get("authorization") !== GOOD) {
        seen.refused++;
        return Response.json({ title: "Unauthorized", detail: "API key rejected" }, { status: 401 });
      }
      seen.accepted++;
      return new Response(null, { status: 204 });
    },
  });
  const dbFile = join(tmp.dir, "s.db");
  const seeded = await openTestDb(dbFile);
  const now = Date.now();
  await seeded.db.writer.execute({
    sql: `WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < ?)
      INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts,
        next_attempt_at, created_at, updated_at)
      SELECT 'crm', 'user' || k || '@example.com', 'suppress', 'hard_bounce', 'email.bounced', ?, 'pending', 0, ?, ?, ?
      FROM i`,
    args: [JOBS, now, now, now, now],
  });
  await seeded.close();
  const sink = (key: string) => ({
    type: "http",
    name: "crm",
    method: "PUT",
    url: `http://127.0.0.1:${audience.port}/contacts/{{email}}`,
    headers: { authorization: key },
  });
  const port = freePort();
  const write = (key: string) =>
    writeConfig(tmp.dir, dbFile, { server: { host: "127.0.0.1", port }, sinks: [sink(key)] });
  const config = write("Bearer wrong-key");
  const daemon = await startDaemon({ config });
  try {
    const stopped = await until(
      daemon,
      (s) => s.sinks[0]?.state === "stopped" && s.sinks[0]?.pending === JOBS,
    );
    expect(stopped.ok).toBe(false);
    expect(stopped.sinks[0]).toMatchObject({ pending: JOBS, dead: 0, up: false });
    expect(seen.refused).toBeLessThanOrEqual(4); // one per connection, not one per job

    const r = await runCli(["status", "--config", config]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/sinks\s+crm \(http\): STOPPED since \d+ s ago/);
    expect(r.stdout).toContain(`pending ${JOBS.toLocaleString("en-US")}`);
    expect(r.stdout).toMatch(/last error: PUT 127\.0\.0\.1:\d+ answered 401/);
    expect(r.stdout).toContain("fix: Sending is stopped and its jobs wait");
    expect(r.stdout).toMatch(/verdict\s+sink crm is stopped/);
    const j = JSON.parse((await runCli(["status", "--json", "--config", config])).stdout);
    expect(j.ok).toBe(false);
    expect(j.sinks[0]).toMatchObject({ name: "crm", state: "stopped", pending: JOBS });

    const metrics = await (
      await fetch(`${daemon.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    expect(metrics).toContain('suppressd_sink_stopped{sink="crm"} 1');
    expect(metrics).toContain('suppressd_sink_up{sink="crm"} 0');
    expect(metrics).toMatch(
      /suppressd_sync_job_failures_total\{sink="crm",outcome="waiting",class="auth"\} [1-9]/,
    );

    const loud = daemon
      .stdout()
      .split("\n")
      .filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"'));
    expect(loud.length).toBeLessThanOrEqual(3);
    expect(loud.join("\n")).toContain('"msg":"sink crm stopped: PUT 127.0.0.1:');

    write(GOOD);
    daemon.proc.kill("SIGHUP");
    const healed = await until(daemon, (s) => s.sinks[0]?.pending === 0 && s.sinks[0]?.state === "ok");
    expect(healed.ok).toBe(true);
    expect(seen.accepted).toBe(JOBS);
    expect(daemon.stdout()).toContain('"msg":"sink crm: sending again after a reload"');
    const after = await runCli(["status", "--config", config]);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/crm \(http\): ok; pending 0 · dead 0/);
  } finally {
    expect(await daemon.stop()).toBe(0);
    audience.stop(true);
  }
}, 60_000);
