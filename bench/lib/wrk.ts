import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const LUA = resolve(import.meta.dir, "../lua");

/**
 * wrk from Debian's packages. Installing it needs root and the network, so only the bench does it,
 * never CI; elsewhere it says what to run.
 */
export async function ensureWrk(): Promise<string> {
  const found = Bun.which("wrk");
  if (found) return found;
  console.log("wrk is missing: apt-get update && apt-get install -y wrk");
  for (const cmd of [
    ["apt-get", "update", "-qq"],
    ["apt-get", "install", "-y", "-qq", "wrk"],
  ]) {
    const p = Bun.spawnSync(cmd, { stdout: "inherit", stderr: "inherit" });
    if (p.exitCode !== 0) {
      throw new Error(
        `'${cmd.join(" ")}' failed; install wrk yourself (Debian/Ubuntu: apt-get install wrk).`,
      );
    }
  }
  const installed = Bun.which("wrk");
  if (!installed) throw new Error("wrk is still not on PATH after apt-get install.");
  return installed;
}

export interface WrkOptions {
  url: string;
  script: "ingest.lua" | "lookup.lua";
  connections: number;
  threads: number;
  /** Upper bound; an ingest run ends earlier when its pool is used up. */
  durationS: number;
  /** Requests slower than this count as timeouts (wrk's default is 2 s). */
  timeoutS?: number;
  /** Read by the Lua script (BENCH_*); BENCH_OUT is set here. */
  env: Record<string, string>;
  outFile: string;
}

export interface WrkThread {
  issued: number;
  ok: number;
  bad: number;
  first_us: number;
  last_us: number;
  exhausted?: number;
  pool?: number;
  /** lookup.lua: 200 (suppressed) and 404 (mailable) answers. */
  found?: number;
  absent?: number;
  statuses: Record<string, number>;
}

export interface WrkResult {
  threads: WrkThread[];
  wrk_duration_us: number;
  wrk_requests: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  /** wrk's histogram, in µs, after wrk's own coordinated-omission correction. */
  latency_us: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
}

/** Totals over threads, timed from the first request sent to the last response received. */
export interface WrkSummary {
  ok: number;
  bad: number;
  issued: number;
  /** Sent but unanswered when the run stopped (pool used up, or -d reached). */
  inFlightAtStop: number;
  socketErrors: number;
  seconds: number;
  perSecond: number;
  exhausted: boolean;
  statuses: Record<string, number>;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
}

export interface WrkProcess {
  running: Promise<WrkResult>;
  /** Every thread has loaded its script state (ingest.lua only; others resolve at once). */
  started: Promise<void>;
  /** Ends the run now; wrk still reports what it measured. */
  stop(): void;
}

export function runWrk(wrk: string, o: WrkOptions): WrkProcess {
  const args = [
    wrk,
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${Math.ceil(o.durationS)}s`,
    `--timeout`,
    `${o.timeoutS ?? 10}s`,
    "-s",
    join(LUA, o.script),
    o.url,
  ];
  const markers = Array.from({ length: o.threads }, (_, t) => `${o.outFile}.exhausted-${t}`);
  const starts = Array.from({ length: o.threads }, (_, t) => `${o.outFile}.started-${t}`);
  for (const m of [o.outFile, ...markers, ...starts]) rmSync(m, { force: true });
  const proc = Bun.spawn(args, {
    env: { ...process.env, ...o.env, BENCH_OUT: o.outFile },
    stdout: "pipe",
    stderr: "pipe",
  });
  // wrk sleeps for the whole -d even when every thread has stopped; SIGINT ends that sleep, and wrk
  // then reports as usual. The Lua script leaves a marker per thread whose pool ran out.
  const poll = setInterval(() => {
    if (markers.every((m) => existsSync(m))) proc.kill("SIGINT");
  }, 50);
  let ready = o.script !== "ingest.lua";
  const started = (async () => {
    while (!ready && proc.exitCode === null) {
      ready = starts.every((m) => existsSync(m));
      if (!ready) await Bun.sleep(20);
    }
  })();
  const running = (async () => {
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    clearInterval(poll);
    ready = true;
    for (const m of [...markers, ...starts]) rmSync(m, { force: true });
    if (code !== 0) throw new Error(`wrk exited with ${code}:\n${out}\n${err}`);
    try {
      return JSON.parse(readFileSync(o.outFile, "utf8")) as WrkResult;
    } catch (e) {
      throw new Error(`wrk left no readable result in ${o.outFile} (${e}):\n${out}\n${err}`);
    }
  })();
  return { running, started, stop: () => proc.kill("SIGINT") };
}

export function summarize(r: WrkResult): WrkSummary {
  const sum = (f: (t: WrkThread) => number) => r.threads.reduce((s, t) => s + f(t), 0);
  const started = r.threads.filter((t) => t.first_us > 0);
  const first = Math.min(...started.map((t) => t.first_us));
  const last = Math.max(...started.map((t) => t.last_us));
  const seconds = started.length > 0 && last > first ? (last - first) / 1e6 : r.wrk_duration_us / 1e6;
  const ok = sum((t) => t.ok);
  const statuses: Record<string, number> = {};
  for (const t of r.threads) {
    for (const [k, v] of Object.entries(t.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  }
  const ms = (us: number) => us / 1000;
  const e = r.errors;
  return {
    ok,
    bad: sum((t) => t.bad),
    issued: sum((t) => t.issued),
    inFlightAtStop: sum((t) => t.issued - t.ok - t.bad),
    socketErrors: e.connect + e.read + e.write + e.timeout,
    seconds,
    perSecond: ok / seconds,
    exhausted: r.threads.some((t) => t.exhausted === 1),
    statuses,
    latencyMs: {
      p50: ms(r.latency_us.p50),
      p90: ms(r.latency_us.p90),
      p99: ms(r.latency_us.p99),
      p999: ms(r.latency_us.p999),
      max: ms(r.latency_us.max),
      mean: ms(r.latency_us.mean),
    },
  };
}
