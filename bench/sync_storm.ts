/**
 * Sync storm: 50,000 new suppressions arrive as signed Resend webhooks (wrk, 64 connections) and
 * must reach a fake Mailchimp that answers every call after 100 ms and allows 10 simultaneous
 * connections per key. Targets (issue 3): all reached in ≤ 15 s with createMissing, ≤ 60 s
 * without (one call per address would need ≥ 500 s), while ingest keeps p99 ≤ 25 ms.
 *
 *   ./node_modules/.bin/bun bench/sync_storm.ts [--count 50000] [--mode all|baseline,create,update,outbox]
 *       [--tag] [--drain] [--profile] [--keep]
 *
 * "baseline": the same storm with no sink configured, for the ingest figures to compare with (the
 * machine is shared: an absolute p99 says little without one from the same minute).
 * "create": createMissing, every address new to the audience (POST /lists/{id}, 500 a call).
 * "update": no createMissing, half the addresses are members (batch requests of PATCHes; the
 * other half answer 404 and are left out). Times run from the first webhook sent.
 * "outbox": the sink is configured but the worker sleeps through the storm (the writer's share).
 * --drain: the worker sleeps through the storm, then the daemon restarts and the backlog's drain
 * alone is timed (sync throughput, whatever the ingest rate of the moment).
 * --tag: the sink also tags every member (through batch requests of tag calls).
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Webhook } from "svix";
import { FAKE_KEY, FakeMailchimp, hash } from "../test/fakes/mailchimp.ts";
import { summarizeProfile } from "./lib/cpuprofile.ts";
import { BENCH_SECRET, BENCH_TOKEN } from "./lib/payloads.ts";
import { ROOT, startServer } from "./lib/servers.ts";
import { ensureWrk, runWrk, summarize } from "./lib/wrk.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "50000" },
    mode: { type: "string", default: "all" },
    tag: { type: "boolean", default: false },
    connections: { type: "string", default: "64" },
    /** Sync alone: ingest with the worker idle, restart the daemon, time the backlog's drain. */
    drain: { type: "boolean", default: false },
    /** Keep the run directory (daemon log, database) for a look afterwards. */
    keep: { type: "boolean", default: false },
    /** Write a CPU profile of the daemon and print where its time went. */
    profile: { type: "boolean", default: false },
  },
});
const COUNT = Number(values.count);
const THREADS = 2;
// "baseline" is the same storm with no sink: the ingest figures to compare against, on this machine now.
const modes = values.mode === "all" ? ["baseline", "create", "update"] : (values.mode as string).split(",");

interface Result {
  mode: string;
  tag: boolean;
  count: number;
  ingest: {
    seconds: number;
    perSecond: number;
    p50: number;
    p99: number;
    max: number;
    non2xx: number;
    socketErrors: number;
  };
  /** From the first webhook sent until the fake had been asked about every address. */
  reachedS: number;
  /** From the first webhook sent until the outbox had every job done. */
  doneS: number;
  calls: Record<string, number>;
  maxConnections: number;
  throttled: number;
  dead: number;
}

async function run(mode: string): Promise<Result> {
  const dir = join(ROOT, "bench", "out", `sync-${mode}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  const fake = FakeMailchimp.start({ latencyMs: 100, maxConnections: 10, batchMs: 100 });
  const emails = Array.from({ length: COUNT }, (_, n) => `storm${n}@mail${n % 97}.example.com`);
  if (mode === "update") for (const e of emails.slice(0, COUNT / 2)) fake.addMember("list1", e, "subscribed");

  const config = join(dir, "config.json");
  const idle = mode === "outbox" || values.drain === true;
  const writeConfig = (workerIdle: boolean) =>
    writeFileSync(
      config,
      JSON.stringify({
        server: { host: "127.0.0.1", port: 0 },
        database: { url: `file:${join(dir, "storm.db")}` },
        resend: { webhookSecrets: [BENCH_SECRET] },
        api: { tokens: [BENCH_TOKEN] },
        log: { level: "info", requests: false },
        // "outbox" and --drain: jobs are written but the worker sleeps through the storm.
        ...(workerIdle ? { sync: { pollMs: 60_000 } } : {}),
        sinks:
          mode === "baseline"
            ? []
            : [
                {
                  type: "mailchimp",
                  name: "mailchimp",
                  apiKey: FAKE_KEY,
                  baseUrl: fake.url,
                  listIds: ["list1"],
                  createMissing: mode !== "update",
                  // All 10 connections the account has: the figures measure suppressd, not the share.
                  maxConnections: 10,
                  ...(values.tag ? { tag: "suppressd:{{reason}}" } : {}),
                },
              ],
      }),
    );
  writeConfig(idle);
  const pool = writeBounces(dir, emails);
  const profileDir = values.profile ? join(dir, "profile") : undefined;
  const start = () =>
    startServer({
      name: "suppressd",
      args: ["src/main.ts", "serve", "--config", config],
      log: join(dir, "daemon.log"),
      profileDir,
    });
  let daemon = await start();
  const wrk = await ensureWrk();
  try {
    const load = runWrk(wrk, {
      url: daemon.url,
      script: "ingest.lua",
      connections: Number(values.connections),
      threads: THREADS,
      durationS: 120,
      env: { BENCH_POOL: pool, BENCH_PATH: "/webhooks/resend" },
      outFile: join(dir, "wrk.json"),
    });
    // Without createMissing the sink reads members first and leaves the others alone (nothing to
    // suppress in an audience they are not in), so only the members can be reached.
    const wanted = new Set((mode === "update" ? emails.slice(0, COUNT / 2) : emails).map(hash));
    let started = performance.now();
    if (values.drain && mode !== "baseline" && mode !== "outbox") {
      await load.running;
      await daemon.stop(10_000);
      writeConfig(false);
      started = performance.now();
      daemon = await start();
    }
    let reachedS = 0;
    let doneS = 0;
    let ingest: ReturnType<typeof summarize> | undefined;
    load.running.then((r) => {
      ingest = summarize(r);
    });
    const deadline = started + 180_000;
    while (performance.now() < deadline) {
      await Bun.sleep(100);
      if (
        !reachedS &&
        fake.stats.touched.size >= wanted.size &&
        [...wanted].every((h) => fake.stats.touched.has(h))
      ) {
        reachedS = (performance.now() - started) / 1000;
      }
      if (reachedS && !doneS) {
        const counts = await jobCounts(daemon.url);
        if (counts.pending + counts.running === 0) doneS = (performance.now() - started) / 1000;
      }
      if (reachedS && doneS && ingest) break;
      // No sink: nothing to reach, only the ingest figures (once took the whole 180 s deadline).
      if (mode === "baseline" && ingest) break;
    }
    const counts = await jobCounts(daemon.url);
    if (!ingest) throw new Error("wrk did not finish");
    const i = ingest as ReturnType<typeof summarize>;
    return {
      mode,
      tag: values.tag === true,
      count: COUNT,
      ingest: {
        seconds: round(i.seconds),
        perSecond: Math.round(i.perSecond),
        p50: round(i.latencyMs.p50),
        p99: round(i.latencyMs.p99),
        max: round(i.latencyMs.max),
        non2xx: i.issued - i.ok - i.inFlightAtStop,
        socketErrors: i.socketErrors,
      },
      reachedS: round(reachedS),
      doneS: round(doneS),
      calls: Object.fromEntries(fake.stats.routes),
      maxConnections: fake.stats.maxInFlight,
      throttled: fake.stats.throttled,
      dead: counts.dead,
    };
  } finally {
    await daemon.stop(10_000);
    fake.stop();
    if (profileDir) {
      const file = readdirSync(profileDir).find((p) => p.endsWith(".cpuprofile"));
      if (file) {
        const p = summarizeProfile(join(profileDir, file), [
          "flush",
          "commit",
          "process",
          "claim",
          "record",
          "send",
        ]);
        console.log(
          JSON.stringify(
            {
              totalMs: Math.round(p.totalMs),
              areas: p.areas.slice(0, 8),
              top: p.functions.slice(0, 15),
              inclusive: p.inclusive,
            },
            null,
            1,
          ),
        );
      }
    }
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

/** One hard bounce per address, signed now, in the TSV files bench/lua/ingest.lua replays. */
function writeBounces(dir: string, emails: string[]): string {
  const hook = new Webhook(BENCH_SECRET);
  const now = new Date();
  const stamp = String(Math.floor(now.getTime() / 1000));
  const lines: string[][] = Array.from({ length: THREADS }, () => []);
  for (const [n, to] of emails.entries()) {
    const id = `msg_storm_${now.getTime().toString(36)}_${n}`;
    const body = JSON.stringify({
      type: "email.bounced",
      created_at: now.toISOString(),
      data: {
        created_at: now.toISOString(),
        email_id: crypto.randomUUID(),
        from: "Acme <news@acme.example>",
        to: [to],
        subject: "Weekly digest",
        bounce: { type: "Permanent", subType: "General", message: "The address does not exist." },
      },
    });
    lines[n % THREADS]?.push(`${id}\t${stamp}\t${hook.sign(id, now, body)}\t${body}`);
  }
  const prefix = join(dir, "pool");
  for (const [t, l] of lines.entries()) writeFileSync(`${prefix}-${t}.tsv`, `${l.join("\n")}\n`);
  return prefix;
}

async function jobCounts(url: string): Promise<{ pending: number; running: number; dead: number }> {
  const res = await fetch(`${url}/v1/sync/jobs?limit=1`, {
    headers: { authorization: `Bearer ${BENCH_TOKEN}` },
  });
  return ((await res.json()) as { counts: { pending: number; running: number; dead: number } }).counts;
}

const round = (n: number) => Math.round(n * 100) / 100;

for (const mode of modes) {
  const r = await run(mode);
  console.log(JSON.stringify(r));
  const ingest = `ingest ${r.ingest.perSecond}/s, p50 ${r.ingest.p50} ms, p99 ${r.ingest.p99} ms, non-2xx ${r.ingest.non2xx}`;
  if (mode === "baseline" || mode === "outbox") {
    console.log(
      `${mode} (${mode === "baseline" ? "no sink" : "outbox rows written, worker idle"}): ${ingest}`,
    );
    continue;
  }
  const target = mode === "create" ? 15 : 60;
  const from = values.drain
    ? "from the restart (backlog drain, worker idle during ingest)"
    : "from the first webhook";
  console.log(
    `${mode}${r.tag ? "+tag" : ""}: ${r.count} suppressions reached Mailchimp in ${r.reachedS} s, all jobs done in ${r.doneS} s ${from} ` +
      `(target ≤ ${target} s: ${r.doneS > 0 && r.doneS <= target ? "met" : "MISSED"}); ${ingest}; ` +
      `Mailchimp calls ${JSON.stringify(r.calls)}, max ${r.maxConnections} connections, ${r.throttled} × 429, ${r.dead} dead`,
  );
}
