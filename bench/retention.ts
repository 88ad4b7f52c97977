/**
 * Does the database stay bounded under a steady stream of opens and clicks? Simulates DAYS days of
 * webhook traffic (PER_DAY deliveries a day: mostly opens and clicks, some deliveries, a few hard
 * bounces) through the real writer with an injected clock, runs retention as the daemon does
 * (every simulated hour), and prints rows and file size as the days pass.
 *
 *   bun bench/retention.ts [--days 60] [--per-day 10000] [--retention-days 30]
 *
 * Expected: webhook_events grows for `retention-days` days, then stays at about
 * retention-days × per-day rows; the file stops growing because freed pages are reused;
 * suppressions and their history keep growing with the bounces (they are kept on purpose).
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { migrate, openDatabase } from "../src/db/client.ts";
import { Retention } from "../src/db/retention.ts";
import { type WriteItem, Writer } from "../src/db/writer.ts";

const { values } = parseArgs({
  options: {
    days: { type: "string", default: "60" },
    "per-day": { type: "string", default: "10000" },
    "retention-days": { type: "string", default: "30" },
  },
});
const DAYS = Number(values.days);
const PER_DAY = Number(values["per-day"]);
const KEEP = Number(values["retention-days"]);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const CHUNK = 500;

const dir = mkdtempSync(join(tmpdir(), "suppressd-retention-bench-"));
const file = join(dir, "bench.db");
const db = await openDatabase({ url: `file:${file}` });
await migrate(db);
const start = Date.parse("2026-01-01T00:00:00Z");
let now = start;
const clock = () => now;
const writer = new Writer(db, { softBounce: { count: 3, days: 14 }, sinks: [], clock });
const batchMs: number[] = [];
let lastMark = 0;
const retention = new Retention(db, {
  days: KEEP,
  clock,
  pauseMs: 0,
  onPruned: () => {
    const t = performance.now();
    batchMs.push(t - lastMark);
    lastMark = t;
  },
});

let seq = 0;
function delivery(i: number): WriteItem {
  const id = `msg_${++seq}`;
  const r = i % 100;
  const to = `user${seq % 50_000}@example.com`;
  if (r === 0) {
    return {
      claim: "new",
      svixId: id,
      type: "email.bounced",
      status: "processed",
      occurredAt: now,
      intents: [
        { kind: "suppress", email: to, reason: "hard_bounce", eventType: "email.bounced", occurredAt: now },
      ],
    };
  }
  const type = r < 5 ? "email.delivered" : r < 70 ? "email.opened" : "email.clicked";
  return { claim: "new", svixId: id, type, status: "ignored", occurredAt: now, intents: [] };
}

async function count(table: string): Promise<number> {
  const r = await db.reader.execute(`SELECT count(*) AS n FROM ${table}`);
  return Number(r.rows[0]?.n);
}

async function pragma(name: string): Promise<number> {
  const r = await db.reader.execute(`PRAGMA ${name}`);
  return Number(Object.values(r.rows[0] ?? {})[0]);
}

const size = (f: string) => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};
const mib = (b: number) => (b / 1048576).toFixed(1).padStart(7);

console.log(`suppressd retention bench: ${DAYS} days × ${PER_DAY} deliveries/day, retention.days ${KEEP}`);
console.log(`database ${file}\n`);
console.log("  day  webhook_events  suppressions  history  db file MiB  wal MiB  free pages");
const wall = performance.now();
let peakRows = 0;
const rowsAfterWindow: number[] = [];
const fileAfterWindow: number[] = [];
for (let day = 1; day <= DAYS; day++) {
  const perHour = Math.ceil(PER_DAY / 24);
  for (let hour = 0; hour < 24; hour++) {
    for (let sent = 0; sent < perHour; sent += CHUNK) {
      now = start + (day - 1) * DAY + hour * HOUR + Math.floor((sent / perHour) * HOUR);
      const n = Math.min(CHUNK, perHour - sent);
      await Promise.all(Array.from({ length: n }, (_, i) => writer.submit(delivery(sent + i))));
    }
    now = start + (day - 1) * DAY + (hour + 1) * HOUR;
    lastMark = performance.now();
    await retention.runOnce();
  }
  const rows = await count("webhook_events");
  peakRows = Math.max(peakRows, rows);
  const bytes = size(file);
  if (day > KEEP + 1) {
    rowsAfterWindow.push(rows);
    fileAfterWindow.push(bytes);
  }
  if (day % 5 === 0 || day === 1 || day === DAYS) {
    const line = [
      String(day).padStart(5),
      String(rows).padStart(15),
      String(await count("suppressions")).padStart(13),
      String(await count("suppression_events")).padStart(8),
      mib(bytes).padStart(12),
      mib(size(`${file}-wal`)).padStart(8),
      String(await pragma("freelist_count")).padStart(11),
    ];
    console.log(line.join(""));
  }
}
await writer.close();
db.close();

const sorted = [...batchMs].sort((a, b) => a - b);
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]?.toFixed(1);
console.log(
  `\n${DAYS * PER_DAY} deliveries simulated in ${((performance.now() - wall) / 1000).toFixed(1)} s`,
);
console.log(`webhook_events peak ${peakRows} rows (retention window holds ≈ ${KEEP * PER_DAY})`);
if (rowsAfterWindow.length > 0) {
  const minF = Math.min(...fileAfterWindow);
  const maxF = Math.max(...fileAfterWindow);
  console.log(
    `after day ${KEEP + 1}: rows ${Math.min(...rowsAfterWindow)}–${Math.max(...rowsAfterWindow)}, ` +
      `db file ${mib(minF).trim()}–${mib(maxF).trim()} MiB (growth ${(((maxF - minF) / minF) * 100).toFixed(1)}%, from the kept suppressions and history)`,
  );
}
console.log(
  `prune batches (≤1,000 rows, one autocommit DELETE each): ${batchMs.length}, median ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`,
);
rmSync(dir, { recursive: true, force: true });
