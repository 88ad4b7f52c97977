/**
 * Issue 14 item 6: what a second process on the same database file gives. Runs the ingest load
 * (64 connections, bench mix) against one daemon, then split over two daemons on one file (32
 * connections each, at once), and checks the database as the ingest bench does. Both share
 * SQLite's one write lock: a commit waits out the other process's (database.lockWaitMs).
 *
 *   ./node_modules/.bin/bun bench/two_instances.ts [--count 150000]
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { checkDatabase, type IngestRun, startIngest } from "./lib/ingest_run.ts";
import { environment, flags, int, ms, OUT, table, writeResult } from "./lib/report.ts";
import { startDaemon } from "./lib/servers.ts";
import { ensureWrk } from "./lib/wrk.ts";

const f = flags(
  { count: "150000" },
  "Usage: ./node_modules/.bin/bun bench/two_instances.ts [--count 150000]",
);
const count = Number(f.count);
const wrk = await ensureWrk();
const dir = join(OUT, `two-instances-${Date.now()}`);

async function run(instances: number) {
  const base = join(dir, `x${instances}`);
  mkdirSync(base, { recursive: true });
  const db = join(base, "bench.db");
  const servers = [];
  for (let i = 0; i < instances; i++) {
    const d = join(base, `d${i}`);
    mkdirSync(d, { recursive: true });
    servers.push(await startDaemon(d, db));
  }
  const runs: IngestRun[] = [];
  const started = performance.now();
  try {
    const loads = servers.map((s, i) =>
      startIngest({
        wrk,
        url: s.url,
        dir: join(base, `d${i}`),
        label: `load${i}`,
        connections: 64 / instances,
        threads: 1,
        count: Math.ceil(count / instances),
        maxSeconds: 60,
      }),
    );
    runs.push(...(await Promise.all(loads.map((l) => l.done))));
  } finally {
    for (const s of servers) await s.stop();
  }
  const seconds = Math.max(...runs.map((r) => r.summary.seconds));
  const ok = runs.reduce((s, r) => s + r.summary.ok, 0);
  const check = await checkDatabase(db, runs);
  return {
    instances,
    perSecond: ok / seconds,
    p99: Math.max(...runs.map((r) => r.summary.latencyMs.p99)),
    non2xx: runs.reduce((s, r) => s + r.summary.bad, 0),
    wallS: (performance.now() - started) / 1000,
    check,
  };
}

const rows = [await run(1), await run(2)];
console.log(
  table(
    ["daemons", "events/s (sum)", "worst p99 ms", "non-2xx", "database check"],
    rows.map((r) => [
      r.instances,
      int(r.perSecond),
      ms(r.p99),
      r.non2xx,
      r.check.ok ? `ok (${r.check.note})` : `FAIL ${r.check.note}`,
    ]),
  ),
);
console.log(`results: ${writeResult("two-instances", { environment: environment(), rows })}`);
rmSync(dir, { recursive: true, force: true });
