/**
 * Preloaded into the daemon by `bench/ingest.ts --probe` (bun --preload): measures, without
 * touching src/, how long each group commit holds the event loop and how late timers fire.
 * libsql's local calls are synchronous, so a commit's wall time is time the loop cannot serve
 * anything else: that is what a GET waits for while ingest runs.
 *
 * Writes one JSON line `{"msg":"bench probe", …}` to stdout when the process exits.
 * BENCH_SRC_ROOT names the source tree the daemon runs from (the working tree or a --rev export).
 */
import { writeSync } from "node:fs";
import { join } from "node:path";

interface Patchable {
  prototype: Record<string, unknown>;
}

const root = process.env.BENCH_SRC_ROOT ?? join(import.meta.dir, "../..");
const { Writer } = (await import(join(root, "src/db/writer.ts"))) as { Writer: Patchable };

const commits: number[] = [];
const sizes: number[] = [];
const original = Writer.prototype.commit as ((items: unknown[]) => Promise<unknown>) | undefined;
if (typeof original === "function") {
  Writer.prototype.commit = async function (this: unknown, items: unknown[]) {
    const started = performance.now();
    try {
      return await original.call(this, items);
    } finally {
      commits.push(performance.now() - started);
      sizes.push(items.length);
    }
  };
}

// Event-loop lag: a 2 ms timer that fires late by however long the loop was busy.
const lags: number[] = [];
const TICK = 2;
let expected = performance.now() + TICK;
setInterval(() => {
  const now = performance.now();
  lags.push(Math.max(0, now - expected));
  expected = now + TICK;
}, TICK).unref();

function stats(values: number[]) {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? 0;
  const sum = s.reduce((a, b) => a + b, 0);
  return { n: s.length, mean: s.length ? sum / s.length : 0, p50: at(50), p99: at(99), max: at(100), sum };
}

process.on("exit", () => {
  const line = {
    msg: "bench probe",
    patched: typeof original === "function",
    commitMs: stats(commits),
    batchSize: stats(sizes),
    loopLagMs: stats(lags),
  };
  writeSync(1, `${JSON.stringify(line)}\n`);
});
