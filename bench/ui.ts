/**
 * Issue 13: what a status page view costs on a 1,000,000-address list, alone and while webhooks
 * are ingested, and whether a viewer slows the webhooks down.
 * Run: ./node_modules/.bin/bun bench/ui.ts --help
 */
import { mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { startIngest } from "./lib/ingest_run.ts";
import { BENCH_TOKEN } from "./lib/payloads.ts";
import {
  environment,
  flags,
  int,
  median,
  ms,
  num,
  OUT,
  percentile,
  table,
  writeResult,
} from "./lib/report.ts";
import { seededAddress, seedSuppressions } from "./lib/seed.ts";
import { type Server, sourceInfo, sourceRoot, startDaemon } from "./lib/servers.ts";
import { ensureWrk, type WrkSummary } from "./lib/wrk.ts";

const HELP = `Usage: ./node_modules/.bin/bun bench/ui.ts [options]   (each also as BENCH_<NAME>)

  --addresses N          suppressed addresses to seed (default 1000000)
  --duration S           seconds of each ingest phase (default 10)
  --views N              page views measured alone (default 50)
  --ingest-connections N connections for the ingest load (default 64)
  --refresh S            ui.refreshSeconds, so the background refresh runs during the load (default 2)
  --rev REV              run (and seed with) a committed revision, e.g. HEAD (default: working tree)
  --root DIR             run (and seed with) another source tree with src/ and node_modules
  --keep yes             keep the seeded database under bench/out/ui-*/ (default no)`;

const f = flags(
  {
    addresses: "1000000",
    duration: "10",
    views: "50",
    "ingest-connections": "64",
    refresh: "2",
    rev: "",
    root: "",
    keep: "no",
  },
  HELP,
);
const addresses = num(f.addresses, "addresses");
const duration = num(f.duration, "duration");
const views = num(f.views, "views");
const ingestConnections = num(f["ingest-connections"], "ingest-connections");
const refresh = num(f.refresh, "refresh");
const root = f.root ? resolve(f.root) : sourceRoot(f.rev);
const source = f.root ? { ...sourceInfo(""), measured: resolve(f.root) } : sourceInfo(f.rev);
/** Pre-signed deliveries: enough for ~15k/s over a phase (above what suppressd sustains here). */
const INGEST_RATE = 15_000;

const wrk = await ensureWrk();
const dir = join(OUT, `ui-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const db = join(dir, "ui.db");

process.stdout.write(`seeding ${int(addresses)} suppressed addresses (+ one history row each) … `);
const seedSeconds = await seedSuppressions(db, addresses, root);
console.log(`${seedSeconds.toFixed(1)} s`);
console.log(`suppressd source: ${source.measured}`);

const server: Server = await startDaemon(dir, db, undefined, { ui: { refreshSeconds: refresh } }, root);

interface View {
  /** Server-Timing of the page route: the handler's own time in the daemon. */
  serverMs: number;
  /** From sending the request to the last byte, as the viewer sees it. */
  totalMs: number;
  status: number;
  /** The page's form token (the lookups post it). */
  csrf: string;
}

let cookie = "";
let csrf = "";
let first: View;
let alone: View[];
let lookups: View[];
let ingestAlone: WrkSummary;
let withViewer: { ingest: WrkSummary; views: View[] };
try {
  await logIn();
  // The first view computes the figures: what the first look after start (or an idle spell) costs.
  first = await view();
  csrf = first.csrf;
  alone = [];
  for (let i = 0; i < views; i++) alone.push(await view());
  lookups = [];
  for (let i = 0; i < 20; i++)
    lookups.push(await lookup(seededAddress(Math.floor(Math.random() * addresses))));

  console.log(`phase 2: ${ingestConnections} connections replay webhooks, nobody looks at the page`);
  ingestAlone = await ingest("alone", async () => {});
  console.log(`phase 3: the same load while a viewer reloads the page back to back`);
  const during: View[] = [];
  const ingestRun = await ingest("with-viewer", async (running) => {
    while (running()) during.push(await view());
  });
  withViewer = { ingest: ingestRun, views: during };
} finally {
  await server.stop();
}
if (f.keep !== "yes") rmSync(db, { force: true });

async function logIn() {
  const form = await fetch(`${server.url}/ui`);
  csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? "";
  const loginCookie = form.headers.getSetCookie()[0]?.split(";")[0] ?? "";
  const res = await fetch(`${server.url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: loginCookie },
    body: new URLSearchParams({ csrf, token: BENCH_TOKEN }),
  });
  cookie =
    res.headers
      .getSetCookie()
      .find((c) => c.startsWith("suppressd_session="))
      ?.split(";")[0] ?? "";
  if (res.status !== 303 || !cookie) throw new Error(`login answered ${res.status}`);
}

async function timed(req: () => Promise<Response>, check: (html: string) => boolean): Promise<View> {
  const started = performance.now();
  const res = await req();
  const html = await res.text();
  const totalMs = performance.now() - started;
  const serverMs = Number(/app;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "")?.[1] ?? Number.NaN);
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  return { serverMs, totalMs, status: res.ok && check(html) ? res.status : -res.status, csrf };
}

function view(): Promise<View> {
  return timed(
    () => fetch(`${server.url}/ui`, { headers: { cookie } }),
    (html) => html.includes('id="total-suppressed"'),
  );
}

function lookup(email: string): Promise<View> {
  return timed(
    () =>
      fetch(`${server.url}/ui/lookup`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", cookie },
        body: new URLSearchParams({ csrf, email }),
      }),
    (html) => html.includes("State: <strong"),
  );
}

async function ingest(label: string, alongside: (running: () => boolean) => Promise<void>) {
  const window = duration + 3;
  const run = startIngest({
    wrk,
    url: server.url,
    dir,
    label,
    connections: ingestConnections,
    threads: 1,
    count: Math.ceil(INGEST_RATE * window),
    maxSeconds: Math.ceil(window),
  });
  await run.started;
  let running = true;
  const side = alongside(() => running);
  const done = await run.done;
  running = false;
  await side;
  const s = done.summary;
  console.log(
    `  ingest: ${int(s.perSecond)}/s, p50 ${ms(s.latencyMs.p50)} ms, p99 ${ms(s.latencyMs.p99)} ms, ` +
      `max ${ms(s.latencyMs.max)} ms, ${s.bad} non-2xx, ${s.socketErrors} socket errors`,
  );
  return s;
}

function stats(vs: View[]) {
  const server = vs.map((v) => v.serverMs).sort((a, b) => a - b);
  const total = vs.map((v) => v.totalMs).sort((a, b) => a - b);
  return {
    n: vs.length,
    failed: vs.filter((v) => v.status < 0).length,
    serverP50: median(server),
    serverP99: percentile(server, 99),
    serverMax: server[server.length - 1] ?? Number.NaN,
    totalP50: median(total),
    totalP99: percentile(total, 99),
    totalMax: total[total.length - 1] ?? Number.NaN,
  };
}

const rows = {
  alone: stats(alone),
  lookups: stats(lookups),
  duringIngest: stats(withViewer.views),
};
console.log(
  `\nfirst view after start (computes the figures): server ${ms(first.serverMs)} ms, total ${ms(first.totalMs)} ms\n`,
);
console.log(
  table(
    [
      "requests",
      "n",
      "failed",
      "server p50 ms",
      "server p99 ms",
      "server max ms",
      "total p50 ms",
      "total p99 ms",
    ],
    [
      ["GET /ui, alone", rows.alone],
      ["POST /ui/lookup, alone", rows.lookups],
      ["GET /ui while ingest runs", rows.duringIngest],
    ].map(([name, r]) => {
      const s = r as ReturnType<typeof stats>;
      return [
        name as string,
        s.n,
        s.failed,
        ms(s.serverP50),
        ms(s.serverP99),
        ms(s.serverMax),
        ms(s.totalP50),
        ms(s.totalP99),
      ];
    }),
  ),
);
console.log(
  `\n${table(
    ["ingest", "events/s", "p50 ms", "p99 ms", "max ms", "non-2xx"],
    [
      ["nobody viewing", ingestAlone],
      ["a viewer reloading", withViewer.ingest],
    ].map(([name, s]) => {
      const w = s as WrkSummary;
      return [
        name as string,
        int(w.perSecond),
        ms(w.latencyMs.p50),
        ms(w.latencyMs.p99),
        ms(w.latencyMs.max),
        w.bad,
      ];
    }),
  )}`,
);

const verdicts = [
  {
    target: "page server time ≤ 50 ms while ingest runs (p99)",
    value: `${ms(rows.duringIngest.serverP99)} ms (max ${ms(rows.duringIngest.serverMax)} ms)`,
    pass: rows.duringIngest.serverP99 <= 50 && rows.duringIngest.failed === 0,
  },
  {
    target: "webhooks not slowed by a viewer (events/s within 10 %)",
    value: `${int(withViewer.ingest.perSecond)}/s vs ${int(ingestAlone.perSecond)}/s`,
    pass: withViewer.ingest.perSecond >= 0.9 * ingestAlone.perSecond && withViewer.ingest.bad === 0,
  },
];
console.log(
  `\n${table(
    ["issue 13 target", "measured", ""],
    verdicts.map((v) => [v.target, v.value, v.pass ? "PASS" : "MISS"]),
  )}`,
);
const path = writeResult("ui", {
  command: `bun bench/ui.ts ${process.argv.slice(2).join(" ")}`.trim(),
  options: { addresses, duration, views, ingestConnections, refresh },
  environment: environment(),
  source,
  seedSeconds,
  first,
  rows,
  ingestAlone,
  ingestWithViewer: withViewer.ingest,
  verdicts,
});
console.log(`\nresults: ${path}\nlogs and wrk output: ${dir}`);
