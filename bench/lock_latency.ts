/**
 * What does a read cost while another process holds the database's write lock (a backup, an
 * `import` beside the daemon, a second instance)? Each attempt the daemon makes to take the lock
 * waits in SQLite's busy handler for up to `database.busyTimeoutMs`, and that wait holds the event
 * loop, so reads queue behind it. This starts the daemon, keeps 8 connections of webhooks going
 * (so the writer keeps trying), and times `GET /v1/suppressions/{email}` one after another, first
 * with the database free, then while another process holds the write lock.
 *
 *   bun bench/lock_latency.ts [--busy-timeout 10] [--lock-ms 5000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { authHeaders, BUN, startDaemon, writeConfig } from "../test/helpers/daemon.ts";
import { bounce, signedHeaders } from "../test/helpers/sign.ts";

const { values } = parseArgs({
  options: {
    "busy-timeout": { type: "string", default: "10" },
    "lock-ms": { type: "string", default: "5000" },
  },
});
const LOCK_MS = Number(values["lock-ms"]);
const dir = mkdtempSync(join(tmpdir(), "suppressd-lock-latency-"));
const dbFile = join(dir, "bench.db");
const config = writeConfig(dir, dbFile, {
  database: { url: `file:${dbFile}`, busyTimeoutMs: Number(values["busy-timeout"]) },
  log: { level: "info", requests: false },
});
const daemon = await startDaemon({ config });
let posting = true;
let n = 0;
const posters = Array.from({ length: 8 }, async () => {
  while (posting) {
    const body = bounce(`load${n++}@example.com`);
    await fetch(`${daemon.url}/webhooks/resend`, { method: "POST", body, headers: signedHeaders(body) }).then(
      (r) => r.text(),
      () => "",
    );
  }
});

async function reads(ms: number): Promise<number[]> {
  const out: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const t = performance.now();
    await (await fetch(`${daemon.url}/v1/suppressions/load1@example.com`, { headers: authHeaders() })).text();
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}
const summary = (name: string, l: number[]) => {
  const at = (q: number) => (l[Math.min(l.length - 1, Math.floor(q * l.length))] ?? 0).toFixed(1);
  console.log(`${name}: ${l.length} reads, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
};

try {
  await Bun.sleep(500);
  summary("database free  ", await reads(LOCK_MS));
  const holder = Bun.spawn(
    [BUN, join(import.meta.dir, "../test/reliability/helpers/hold_lock.ts"), dbFile, String(LOCK_MS)],
    { stdout: "pipe" },
  );
  const reader = holder.stdout.getReader();
  await reader.read(); // {"locked": …}: the lock is held from here
  summary("write lock held", await reads(LOCK_MS - 200));
  await holder.exited;
} finally {
  posting = false;
  await Promise.all(posters);
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
}
console.log(`busyTimeoutMs ${values["busy-timeout"]}, lock ${LOCK_MS} ms, ${n} webhooks posted`);
