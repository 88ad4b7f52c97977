/**
 * How long does `suppressd jobs backfill` take on a large list, and how long does each of its
 * statements hold the write lock (what a webhook commit of the running daemon may wait behind)?
 * Seeds COUNT suppressed addresses, then backfills a sink twice: the first run queues every
 * address, the second finds every one waiting and queues none.
 *
 *   bun bench/backfill.ts [--count 1000000] [--chunk 5000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/db/client.ts";
import { backfill } from "../src/db/jobs.ts";
import { seedSuppressions } from "./lib/seed.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    chunk: { type: "string", default: "5000" },
  },
});
const COUNT = Number(values.count);
const CHUNK = Number(values.chunk);

const dir = mkdtempSync(join(tmpdir(), "suppressd-backfill-bench-"));
try {
  const file = join(dir, "bench.db");
  process.stdout.write(`seeding ${COUNT.toLocaleString("en")} suppressed addresses … `);
  process.stdout.write(`${(await seedSuppressions(file, COUNT)).toFixed(1)} s\n`);
  const db = await openDatabase({ url: `file:${file}` });
  for (const round of ["first run", "second run"]) {
    // Each chunk is a read and an insert; the time between two callbacks is both.
    const gaps: number[] = [];
    let last = performance.now();
    const started = last;
    const r = await backfill(db.write, "bench", Date.now(), {
      chunk: CHUNK,
      onChunk: () => {
        const t = performance.now();
        gaps.push(t - last);
        last = t;
      },
    });
    const total = (performance.now() - started) / 1000;
    gaps.sort((a, b) => a - b);
    const at = (q: number) => (gaps[Math.min(gaps.length - 1, Math.floor(q * gaps.length))] ?? 0).toFixed(1);
    console.log(
      `${round}: scanned ${r.scanned.toLocaleString("en")}, queued ${r.queued.toLocaleString("en")} in ${total.toFixed(1)} s ` +
        `(${Math.round(r.scanned / total).toLocaleString("en")} addresses/s); per chunk of ${CHUNK}: ` +
        `median ${at(0.5)} ms, max ${at(1)} ms`,
    );
  }
  db.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
