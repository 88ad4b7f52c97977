/**
 * Issue 2 §7, ingest: replays distinct pre-signed Resend deliveries over 64 keep-alive connections
 * with wrk against the real daemon and, in the same run, against bench/reference/server.ts, then
 * checks each database. Run: ./node_modules/.bin/bun bench/ingest.ts --help
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { summarizeProfile } from "./lib/cpuprofile.ts";
import { checkDatabase, type DbCheck, type IngestRun, startIngest } from "./lib/ingest_run.ts";
import { BENCH_SECRET, MIXES, type Mix } from "./lib/payloads.ts";
import { environment, flags, int, median, ms, num, OUT, table, writeResult } from "./lib/report.ts";
import {
  type ProbeResult,
  readProbe,
  type Server,
  sourceInfo,
  sourceRoot,
  startDaemon,
  startReference,
} from "./lib/servers.ts";
import { ensureWrk } from "./lib/wrk.ts";

const HELP = `Usage: ./node_modules/.bin/bun bench/ingest.ts [options]   (each also as BENCH_<NAME>)

  --duration S      seconds per measured run (default 10; a run stops early if its pool runs out)
  --warmup S        seconds of warm-up load before each measured run (default 2)
  --connections N   concurrent keep-alive connections (default 64)
  --threads N       wrk threads (default 1: wrk shares the 2 cores with the server)
  --targets LIST    suppressd,reference[,echo] (default suppressd,reference); echo = svix verify, no DB
  --rounds N        alternate the targets N times and report medians (default 1)
  --profile LIST    targets to run under 'bun --cpu-prof' (default none), e.g. suppressd
  --rev REV         run the daemon from a committed revision (git archive, e.g. HEAD) instead of
                    the working tree, which other engineers may be editing (default: working tree)
  --probe yes       preload bench/lib/probe.ts into the daemon: group-commit durations (the time
                    each commit holds the event loop), batch sizes, event-loop lag (default no)
  --root DIR        run the daemon from another source tree (a copy with src/ and node_modules,
                    e.g. a prototype of a hot-path change); overrides --rev
  --daemon-config J JSON merged over the daemon's bench config, top-level sections replaced,
                    e.g. '{"log":{"requests":false}}' (default {})
  --mix NAME        bench (35% delivered, 25% opened, 40% bounces and complaints) or real (a real
                    account's stream: 38% sent, 36% delivered, 18% opened, 5% clicked, 3% bounces
                    and complaints; bench/lib/payloads.ts) (default bench)
  --record-ignored yes|no  resend.recordIgnored for the daemon, set explicitly (so an older --rev
                    is measured the same way): no, the daemon's default, answers ignored types
                    (sent, opened, clicked) without a write and the database check expects them
                    absent; yes stores them as the reference does (default no)
  --keep yes        keep the databases under bench/out/ingest-*/ (default no)`;

const f = flags(
  {
    duration: "10",
    warmup: "2",
    connections: "64",
    threads: "1",
    targets: "suppressd,reference",
    rounds: "1",
    profile: "",
    "daemon-config": "{}",
    rev: "",
    root: "",
    probe: "no",
    keep: "no",
    mix: "bench",
    "record-ignored": "no",
  },
  HELP,
);
const duration = num(f.duration, "duration");
const warmup = num(f.warmup, "warmup");
const connections = num(f.connections, "connections");
const threads = num(f.threads, "threads");
const rounds = num(f.rounds, "rounds");
const targets = f.targets.split(",").filter(Boolean);
if (!Object.hasOwn(MIXES, f.mix)) throw new Error(`--mix must be one of ${Object.keys(MIXES).join(", ")}`);
const mix = f.mix as Mix;
const profiled = f.profile.split(",").filter(Boolean);
const daemonConfig = JSON.parse(f["daemon-config"]) as Record<string, unknown>;
if (!["yes", "no"].includes(f["record-ignored"])) throw new Error("--record-ignored is yes or no");
const recordIgnored = f["record-ignored"] === "yes";
daemonConfig.resend = {
  webhookSecrets: [BENCH_SECRET],
  ...(daemonConfig.resend ?? {}),
  recordIgnored,
};
const daemonRoot = f.root ? resolve(f.root) : sourceRoot(f.rev);
const source = f.root ? { ...sourceInfo(""), measured: resolve(f.root) } : sourceInfo(f.rev);
for (const t of targets) {
  if (!["suppressd", "reference", "echo"].includes(t)) throw new Error(`unknown target ${t}`);
}

/** At most this many deliveries are pre-signed for one run (about 1 KB each, in wrk's memory). */
const MAX_POOL = 600_000;
/** The ceiling on this machine is ~17k/s (DESIGN.md): enough warm-up deliveries not to run dry. */
const WARMUP_RATE = 20_000;

interface TargetRun {
  target: string;
  round: number;
  warmupPerSecond: number;
  warmupSeconds: number;
  run: IngestRun["summary"];
  pool: number;
  signSeconds: number;
  check: DbCheck | null;
  serverExit: number | null;
  profile?: ReturnType<typeof summarizeProfile>;
  /** Whole-process figures (warm-up included) from bench/lib/probe.ts. */
  probe?: ProbeResult | null;
}

const wrk = await ensureWrk();
const runDir = join(OUT, `ingest-${Date.now()}`);
mkdirSync(runDir, { recursive: true });
console.log(
  `ingest bench: ${connections} connections, ${duration} s runs after ${warmup} s warm-up, ` +
    `wrk -t${threads}, targets ${targets.join(", ")}, ${rounds} round(s)`,
);
console.log(
  `suppressd source: ${source.measured}${
    !f.rev && !f.root && source.dirtySrc.length > 0
      ? ` (uncommitted changes in ${source.dirtySrc.length} src file(s))`
      : ""
  }\n`,
);

const results: TargetRun[] = [];
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) results.push(await measure(target, round));
}

async function measure(target: string, round: number): Promise<TargetRun> {
  const dir = join(runDir, `${target}-${round}`);
  mkdirSync(dir, { recursive: true });
  const db = join(dir, "bench.db");
  const profileDir = profiled.includes(target) ? join(dir, "profile") : undefined;
  const server: Server =
    target === "suppressd"
      ? await startDaemon(dir, db, profileDir, daemonConfig, daemonRoot, f.probe === "yes")
      : await startReference(dir, db, target === "echo" ? "echo" : "server", profileDir);
  const load = { wrk, url: server.url, dir, connections, threads, mix };
  let warm: IngestRun;
  let main: IngestRun;
  let serverExit: number | null;
  try {
    warm = await startIngest({
      ...load,
      label: "warmup",
      count: Math.ceil(WARMUP_RATE * warmup),
      maxSeconds: warmup,
    }).done;
    // Size the pool so the measured run lasts about `duration` at the warm-up's pace; if the server
    // speeds up the run just ends sooner, if it slows down wrk's -d stops it.
    const estimate = Math.max(warm.summary.perSecond, 100);
    const count = Math.min(MAX_POOL, Math.max(2_000, Math.ceil(estimate * duration * 1.25)));
    process.stdout.write(`  ${target} #${round}: warm-up ${int(estimate)}/s, signing ${int(count)} … `);
    main = await startIngest({ ...load, label: "main", count, maxSeconds: Math.ceil(duration * 1.5) + 1 })
      .done;
    console.log(`${int(main.summary.perSecond)}/s`);
  } finally {
    serverExit = await server.stop();
  }
  // The reference stores every delivery, whatever its type.
  const stores = target === "reference" || recordIgnored;
  const check = target === "echo" ? null : await checkDatabase(db, [warm, main], stores);
  let profile: ReturnType<typeof summarizeProfile> | undefined;
  if (profileDir) {
    const file = readdirSync(profileDir).find((p) => p.endsWith(".cpuprofile"));
    if (file) profile = summarizeProfile(join(profileDir, file), ["flush", "commit", "fetch"]);
  }
  if (f.keep !== "yes") {
    for (const name of readdirSync(dir)) {
      if (name.startsWith("bench.db") || name.startsWith("pool-")) rmSync(join(dir, name), { force: true });
    }
  }
  return {
    target,
    round,
    warmupPerSecond: warm.summary.perSecond,
    warmupSeconds: warm.summary.seconds,
    run: main.summary,
    pool: main.pool.count,
    signSeconds: main.pool.signMs / 1000,
    check,
    serverExit,
    profile,
    probe: target === "suppressd" && f.probe === "yes" ? readProbe(server.log) : undefined,
  };
}

// ---- report -------------------------------------------------------------------------------------

const rows = results.map((r) => [
  `${r.target}${rounds > 1 ? ` #${r.round}` : ""}`,
  int(r.run.perSecond),
  ms(r.run.latencyMs.p50),
  ms(r.run.latencyMs.p99),
  ms(r.run.latencyMs.max),
  int(r.run.bad),
  int(r.run.socketErrors),
  int(r.run.ok),
  r.run.seconds.toFixed(1),
  r.check ? `${r.check.ok ? "ok" : "FAIL"} (${int(r.check.rows)} rows, ${r.check.missing} missing)` : "n/a",
]);
console.log(
  `\n${table(
    [
      "target",
      "events/s",
      "p50 ms",
      "p99 ms",
      "max ms",
      "non-2xx",
      "sock err",
      "2xx",
      "secs",
      "database check",
    ],
    rows,
  )}`,
);

const med = (target: string, pick: (r: TargetRun) => number) =>
  median(results.filter((r) => r.target === target).map(pick));
const verdicts: { target: string; value: string; pass: boolean }[] = [];
if (targets.includes("suppressd")) {
  const rate = med("suppressd", (r) => r.run.perSecond);
  const p99 = med("suppressd", (r) => r.run.latencyMs.p99);
  const errors = results
    .filter((r) => r.target === "suppressd")
    .reduce((s, r) => s + r.run.bad + r.run.socketErrors, 0);
  if (targets.includes("reference")) {
    const ratio = rate / med("reference", (r) => r.run.perSecond);
    verdicts.push({ target: "events/s ≥ 6× reference", value: `${ratio.toFixed(1)}×`, pass: ratio >= 6 });
  }
  verdicts.push({ target: "≥ 10,000 durable events/s", value: int(rate), pass: rate >= 10_000 });
  verdicts.push({ target: "p99 ≤ 25 ms", value: `${ms(p99)} ms`, pass: p99 <= 25 });
  verdicts.push({ target: "0 non-2xx (and no socket errors)", value: String(errors), pass: errors === 0 });
  const checks = results.filter((r) => r.target === "suppressd");
  verdicts.push({
    target: "every 2xx'd svix-id stored",
    value: [...new Set(checks.map((r) => r.check?.note ?? ""))].join("; "),
    pass: checks.every((r) => r.check?.ok),
  });
}
if (targets.includes("echo") && targets.includes("suppressd")) {
  const share = med("suppressd", (r) => r.run.perSecond) / med("echo", (r) => r.run.perSecond);
  console.log(`\nsuppressd reaches ${(100 * share).toFixed(0)}% of the verify-only echo server's rate.`);
}
console.log(
  `\n${table(
    ["issue 2 §7 target", "measured", ""],
    verdicts.map((v) => [v.target, v.value, v.pass ? "PASS" : "MISS"]),
  )}`,
);

for (const r of results.filter((r) => r.probe)) {
  const p = r.probe as ProbeResult;
  const lag = `event-loop lag p99 ${ms(p.loopLagMs.p99)} / max ${ms(p.loopLagMs.max)} ms`;
  if (p.commitMs.n === 0) {
    // The probe patches the Writer class of the main thread; a writer on a Worker is out of reach.
    console.log(`\nprobe ${r.target} #${r.round}: no group commit ran on the main thread; ${lag}`);
    continue;
  }
  const busy = (100 * p.commitMs.sum) / ((r.warmupSeconds + r.run.seconds) * 1000);
  console.log(
    `\nprobe ${r.target} #${r.round} (whole process): ${int(p.commitMs.n)} commits, batch mean ` +
      `${p.batchSize.mean.toFixed(1)} (max ${p.batchSize.max}); commit holds the loop p50 ` +
      `${ms(p.commitMs.p50)} / p99 ${ms(p.commitMs.p99)} / max ${ms(p.commitMs.max)} ms ` +
      `(≈${busy.toFixed(0)}% of the loaded wall time); ${lag}`,
  );
}

for (const r of results.filter((r) => r.profile)) {
  const p = r.profile as NonNullable<TargetRun["profile"]>;
  console.log(`\nCPU profile of ${r.target} #${r.round} (self time, ${int(p.totalMs)} ms sampled):`);
  console.log(
    table(
      ["area", "ms", "%"],
      p.areas.slice(0, 12).map((a) => [a.area, int(a.ms), a.pct.toFixed(1)]),
    ),
  );
  console.log(
    table(
      ["function", "where", "%"],
      p.functions.slice(0, 15).map((x) => [x.name, x.where, x.pct.toFixed(1)]),
    ),
  );
  console.log(`inclusive: ${JSON.stringify(p.inclusive)}`);
}

const path = writeResult("ingest", {
  command: `bun bench/ingest.ts ${process.argv.slice(2).join(" ")}`.trim(),
  options: { duration, warmup, connections, threads, targets, rounds, daemonConfig },
  environment: environment(),
  source,
  results,
  verdicts,
});
console.log(`\nresults: ${path}\nlogs, wrk output and profiles: ${runDir}`);
