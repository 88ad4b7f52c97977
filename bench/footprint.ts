/**
 * Issue 4 §7, footprint: how fast the daemon is ready and how much memory it holds.
 *
 *   npm run build && bun bench/footprint.ts [--starts 7] [--load-seconds 20] [--connections 64] [--source]
 *       [--daemon-config '{"database":{"writerThread":false}}']
 *
 * 1. start → /readyz 200: the median of `--starts` restarts on an existing database (the first
 *    start, which creates the schema, is reported on its own). Timed from spawn to the first 200,
 *    polling every 2 ms.
 * 2. idle RSS: VmRSS from /proc two seconds after ready, with no traffic.
 * 3. RSS under load: wrk replays distinct signed deliveries (bench/lib, shared with the ingest
 *    bench) for `--load-seconds`; VmRSS is sampled every 100 ms and VmHWM read at the end.
 *
 * Targets dist/suppressd (`npm run build`); without it, or with --source, `bun src/main.ts`, and
 * says so.
 * Loopback only; the default config (request log on, written to a file as journald would).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { startIngest } from "./lib/ingest_run.ts";
import { BENCH_SECRET, BENCH_TOKEN } from "./lib/payloads.ts";
import { ensureWrk } from "./lib/wrk.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values } = parseArgs({
  options: {
    starts: { type: "string", default: "7" },
    "load-seconds": { type: "string", default: "20" },
    connections: { type: "string", default: "64" },
    source: { type: "boolean", default: false },
    /** JSON merged over the config, top-level sections replaced, e.g. '{"database":{…}}'. */
    "daemon-config": { type: "string", default: "{}" },
  },
});
const STARTS = Number(values.starts);
const LOAD_S = Number(values["load-seconds"]);
const CONNECTIONS = Number(values.connections);
const LIMITS = { readyMs: 300, idleMiB: 80, loadMiB: 200 };

const binary = join(ROOT, "dist/suppressd");
const compiled = !values.source && existsSync(binary);
const cmd = compiled ? [binary] : [process.execPath, join(ROOT, "src/main.ts")];
const dir = mkdtempSync(join(tmpdir(), "suppressd-footprint-"));
const extra = JSON.parse(values["daemon-config"] as string) as Record<string, Record<string, unknown>>;
const port = freePort();
const url = `http://127.0.0.1:${port}`;
const config = join(dir, "config.json");
writeFileSync(
  config,
  JSON.stringify({
    server: { host: "127.0.0.1", port },
    resend: { webhookSecrets: [BENCH_SECRET] },
    api: { tokens: [BENCH_TOKEN] },
    ...extra,
    database: { url: `file:${join(dir, "footprint.db")}`, ...(extra.database ?? {}) },
  }),
);

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const p = s.port as number;
  s.stop(true);
  return p;
}

/** VmRSS and VmHWM (peak) of a process, in MiB, from /proc. */
function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** Spawns the daemon (cwd: an empty directory) and returns it with the ms from spawn to /readyz 200. */
async function start(): Promise<{ proc: Subprocess; readyMs: number }> {
  const empty = mkdtempSync(join(dir, "cwd-"));
  const spawned = performance.now();
  const proc = Bun.spawn([...cmd, "serve", "--config", config], {
    cwd: empty,
    stdin: "ignore",
    stdout: Bun.file(join(dir, "stdout.log")),
    stderr: Bun.file(join(dir, "stderr.log")),
  });
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { proc, readyMs: performance.now() - spawned };
    if (proc.exitCode !== null)
      throw new Error(
        `daemon exited with ${proc.exitCode}: ${readFileSync(join(dir, "stderr.log"), "utf8")}`,
      );
    if (performance.now() - spawned > 20_000) throw new Error("daemon not ready after 20 s");
    await Bun.sleep(2);
  }
}

async function stop(proc: Subprocess): Promise<void> {
  proc.kill("SIGTERM");
  const code = await proc.exited;
  if (code !== 0) throw new Error(`daemon exited with ${code} on SIGTERM`);
}

const fmt = (n: number, d = 1) => n.toFixed(d);
const verdict = (ok: boolean) => (ok ? "ok" : "OVER");
console.log(
  `suppressd footprint: ${compiled ? binary : `${cmd.join(" ")} ${values.source ? "(--source)" : "(dist/suppressd not built: run npm run build)"}`}`,
);
console.log(`loopback ${url}, ${STARTS} starts, ${LOAD_S} s ingest load over ${CONNECTIONS} connections\n`);

// 1. Start to ready.
const first = await start();
await stop(first.proc);
const times: number[] = [];
for (let i = 0; i < STARTS; i++) {
  const s = await start();
  times.push(s.readyMs);
  await stop(s.proc);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)] as number;
console.log(`start → /readyz 200   first start (creates the schema) ${fmt(first.readyMs)} ms`);
console.log(
  `                      restarts: median ${fmt(median)} ms (min ${fmt(times[0] as number)}, max ${fmt(times.at(-1) as number)}) ` +
    `limit ${LIMITS.readyMs} ms: ${verdict(median <= LIMITS.readyMs)}`,
);

// 2. Idle.
const daemon = await start();
const pid = daemon.proc.pid;
await Bun.sleep(2000);
const idle = memory(pid);
console.log(
  `idle RSS              ${fmt(idle.rss)} MiB  limit ${LIMITS.idleMiB} MiB: ${verdict(idle.rss <= LIMITS.idleMiB)}`,
);

// 3. Under load.
const wrk = await ensureWrk();
let peak = idle.rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, memory(pid).rss);
}, 100);
const { done } = startIngest({
  wrk,
  url,
  dir,
  label: "footprint",
  connections: CONNECTIONS,
  threads: 1,
  count: Math.ceil(LOAD_S * 6000),
  maxSeconds: LOAD_S,
});
const run = await done;
clearInterval(sampler);
const after = memory(pid);
await Bun.sleep(2000);
const settled = memory(pid);
await stop(daemon.proc);
const s = run.summary;
const peakAll = Math.max(peak, after.hwm);
console.log(
  `RSS under load        peak ${fmt(peakAll)} MiB (VmHWM ${fmt(after.hwm)}, sampled max ${fmt(peak)}), ` +
    `2 s after ${fmt(settled.rss)} MiB  limit ${LIMITS.loadMiB} MiB: ${verdict(peakAll <= LIMITS.loadMiB)}`,
);
console.log(
  `  load: ${s.ok} deliveries answered 2xx in ${fmt(s.seconds)} s (${fmt(s.perSecond, 0)}/s), ` +
    `p50 ${fmt(s.latencyMs.p50)} ms, p99 ${fmt(s.latencyMs.p99)} ms, non-2xx ${s.bad}, socket errors ${s.socketErrors}`,
);
rmSync(dir, { recursive: true, force: true });
const pass = median <= LIMITS.readyMs && idle.rss <= LIMITS.idleMiB && peakAll <= LIMITS.loadMiB;
process.exit(pass ? 0 : 1);
