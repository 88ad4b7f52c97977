/**
 * Issue 14 item 6: how far one instance goes. Grows one database in steps (default 10^5, 10^6,
 * 10^7 suppressed addresses) with `--history` history rows per address (default 5: 50,000,000 at
 * 10^7) and, at each step, one idempotency key per address received long ago, so retention has
 * a backlog to prune. Rows are generated inside SQLite (bench/lib/seed.ts and INSERT … SELECT over
 * a recursive CTE). At each step it reports:
 *   - the database file's size;
 *   - start to /readyz, GET /v1/suppressions/{email} p50/p99 (one client, sequential, half present,
 *     half absent), POST /v1/suppressions/check with 10,000 addresses, and the daemon's RSS;
 *   - `suppressd import` of `--import` new addresses (a plain list) with the daemon stopped: rows/s;
 *   - retention: the time `Retention.runOnce` takes to prune the step's expired keys.
 *
 *   ./node_modules/.bin/bun bench/scale.ts [--steps 100000,1000000,10000000] [--history 5] [--keep yes]
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_TOKEN } from "./lib/payloads.ts";
import { environment, flags, int, median, ms, OUT, percentile, table, writeResult } from "./lib/report.ts";
import { seededAddress, seedSuppressions } from "./lib/seed.ts";
import { BUN, ROOT, sourceInfo, startDaemon } from "./lib/servers.ts";

const HELP = `Usage: ./node_modules/.bin/bun bench/scale.ts [options]   (each also as BENCH_<NAME>)

  --steps LIST    list sizes to grow through (default 100000,1000000,10000000)
  --history N     history rows per address (default 5)
  --gets N        sequential GETs per step (default 2000)
  --import N      addresses imported per step with 'suppressd import' (default 100000)
  --keep yes      keep the database under bench/out/scale-*/ (default no)`;

const f = flags(
  { steps: "100000,1000000,10000000", history: "5", gets: "2000", import: "100000", keep: "no" },
  HELP,
);
const steps = f.steps.split(",").map(Number);
const historyPerAddress = Number(f.history);
const gets = Number(f.gets);
const importCount = Number(f.import);
const dir = join(OUT, `scale-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const dbFile = join(dir, "scale.db");
const DAY = 86_400_000;

type Db = Awaited<ReturnType<typeof import("../src/db/client.ts")["openDatabase"]>>;
const { openDatabase } = await import("../src/db/client.ts");
const { Retention } = await import("../src/db/retention.ts");

/** Extra history rows (soft bounces) and expired idempotency keys for addresses [from, to). */
async function seedExtra(from: number, to: number) {
  const db: Db = await openDatabase({ url: `file:${dbFile}` });
  const chunk = 200_000;
  const T0 = Date.UTC(2025, 0, 1);
  try {
    for (let a = from; a < to; a += chunk) {
      const b = Math.min(to, a + chunk) - 1;
      const n = `WITH RECURSIVE n(i) AS (SELECT ${a} UNION ALL SELECT i + 1 FROM n WHERE i < ${b})`;
      const address = "printf('user%07d@domain%d.example.com', i, i % 97)";
      const statements = [
        `${n} INSERT INTO webhook_events (svix_id, type, status, occurred_at, received_at)
         SELECT 'msg_old_' || i, 'email.opened', 'ignored', ${T0}, ${T0} FROM n`,
      ];
      for (let h = 1; h < historyPerAddress; h++)
        statements.push(`${n} INSERT INTO suppression_events
          (email, decision, reason, source, event_type, svix_id, occurred_at, recorded_at, note)
          SELECT ${address}, 'soft_bounce', NULL, 'resend', 'email.bounced', 'msg_h${h}_' || i,
          ${T0} - ${h} * ${DAY}, ${T0}, NULL FROM n`);
      await db.writer.exclusive((c) => c.batch(statements, "write"));
    }
    await db.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

function rss(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

async function measureDaemon(count: number) {
  const started = performance.now();
  const server = await startDaemon(dir, dbFile, undefined, { retention: { days: 30_000 } });
  while (
    !(await fetch(`${server.url}/readyz`).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await Bun.sleep(10);
  const readyMs = performance.now() - started;
  const auth = { authorization: `Bearer ${BENCH_TOKEN}` };
  const times: number[] = [];
  for (let g = 0; g < gets; g++) {
    const i = Math.floor(Math.random() * count) + (g % 2 === 0 ? 0 : count + 1_000_000);
    const t = performance.now();
    const r = await fetch(`${server.url}/v1/suppressions/${encodeURIComponent(seededAddress(i))}`, {
      headers: auth,
    });
    await r.arrayBuffer();
    times.push(performance.now() - t);
    if (r.status !== (g % 2 === 0 ? 200 : 404)) throw new Error(`GET answered ${r.status}`);
  }
  times.sort((a, b) => a - b);
  const checks: number[] = [];
  for (let c = 0; c < 5; c++) {
    const emails = Array.from({ length: 10_000 }, (_, k) =>
      seededAddress(k % 2 === 0 ? Math.floor(Math.random() * count) : count + 1_000_000 + k),
    );
    const t = performance.now();
    const r = await fetch(`${server.url}/v1/suppressions/check`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ emails }),
    });
    const body = (await r.json()) as { suppressed?: unknown[] };
    checks.push(performance.now() - t);
    if (!r.ok || !Array.isArray(body.suppressed)) throw new Error(`check answered ${r.status}`);
  }
  const mem = rss(server.pid);
  await server.stop();
  return {
    readyMs,
    getP50: percentile(times, 50),
    getP99: percentile(times, 99),
    checkMs: median(checks),
    ...mem,
  };
}

async function importRate(from: number): Promise<number> {
  const list = join(dir, "import.txt");
  writeFileSync(
    list,
    `${Array.from({ length: importCount }, (_, k) => seededAddress(from + k)).join("\n")}\n`,
  );
  const t = performance.now();
  const p = Bun.spawnSync(
    [BUN, join(ROOT, "src/main.ts"), "import", list, "--config", join(dir, "daemon-config.json")],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  if (p.exitCode !== 0) throw new Error(`import exited ${p.exitCode}: ${p.stderr.toString().slice(0, 400)}`);
  return importCount / ((performance.now() - t) / 1000);
}

async function pruneSeconds(): Promise<{ rows: number; seconds: number }> {
  const db: Db = await openDatabase({ url: `file:${dbFile}` });
  try {
    const retention = new Retention(db, { days: 30, pauseMs: 0 });
    const t = performance.now();
    const rows = await retention.runOnce();
    return { rows, seconds: (performance.now() - t) / 1000 };
  } finally {
    db.close();
  }
}

const size = () =>
  ["", "-wal"].reduce((s, ext) => s + (statSync(`${dbFile}${ext}`, { throwIfNoEntry: false })?.size ?? 0), 0);

console.log(`scale bench: steps ${steps.map(int).join(", ")}, ${historyPerAddress} history rows per address`);
console.log(`source: ${sourceInfo("").measured}\n`);
const rows: Record<string, unknown>[] = [];
let have = 0;
for (const count of steps) {
  const seedStart = performance.now();
  // seedSuppressions migrates and seeds [have, count); the imports sit above every step's range.
  await seedSuppressions(dbFile, count, ROOT, 200_000, have);
  await seedExtra(have, count);
  const seedS = (performance.now() - seedStart) / 1000;
  have = count;
  const d = await measureDaemon(count);
  const imported = await importRate(1_000_000_000 + count);
  const prune = await pruneSeconds();
  const row = {
    count,
    history: count * historyPerAddress,
    seedS,
    bytes: size(),
    ...d,
    importPerS: imported,
    ...prune,
  };
  rows.push(row);
  console.log(
    `${int(count)} addresses: seeded in ${seedS.toFixed(1)} s, ${(row.bytes / 2 ** 20).toFixed(0)} MiB, ` +
      `ready ${ms(d.readyMs)} ms, GET p99 ${ms(d.getP99)} ms, check ${ms(d.checkMs)} ms, RSS ${d.rss.toFixed(0)} MiB, ` +
      `import ${int(imported)}/s, pruned ${int(prune.rows)} in ${prune.seconds.toFixed(1)} s`,
  );
}

console.log(
  `\n${table(
    [
      "addresses",
      "history rows",
      "db MiB",
      "ready ms",
      "GET p50 ms",
      "GET p99 ms",
      "check 10k ms",
      "RSS MiB",
      "peak MiB",
      "import/s",
      "prune rows",
      "prune s",
    ],
    rows.map((r) => {
      const x = r as Record<string, number>;
      return [
        int(x.count as number),
        int(x.history as number),
        ((x.bytes as number) / 2 ** 20).toFixed(0),
        ms(x.readyMs as number),
        ms(x.getP50 as number),
        ms(x.getP99 as number),
        ms(x.checkMs as number),
        (x.rss as number).toFixed(0),
        (x.hwm as number).toFixed(0),
        int(x.importPerS as number),
        int(x.rows as number),
        (x.seconds as number).toFixed(1),
      ];
    }),
  )}`,
);
console.log(`\nresults: ${writeResult("scale", { environment: environment(), steps: rows })}`);
if (f.keep !== "yes") rmSync(dir, { recursive: true, force: true });
