/**
 * Issue 5, the long variant of test/reliability, run by hand:
 *
 *   ./node_modules/.bin/bun bench/soak.ts --minutes 10
 *
 * The same scenarios and the same judge as the CI suite, bigger and for longer: kill -9 under 64
 * connections for as long as the crash share lasts (one database, dozens of crashes), two daemons
 * on one file, Mailchimp outages, write locks held by another process (one past the writer's 10 s
 * wait, so 503s and Resend's retries are exercised too), and the hostile-input properties with
 * their run counts multiplied. Prints one figures line per phase and a total; exits 1 if anything
 * was lost or applied twice, or a phase found another problem.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CrashResult, crashProblems, crashScenario } from "../test/reliability/helpers/crash.ts";
import { add, emptyFigures, type Figures, summaryLine } from "../test/reliability/helpers/figures.ts";
import { instancesProblems, instancesScenario } from "../test/reliability/helpers/instances.ts";
import { lockProblems, lockScenario } from "../test/reliability/helpers/lock.ts";
import { outageProblems, outageScenario } from "../test/reliability/helpers/outage.ts";
import { environment, flags, num, writeResult } from "./lib/report.ts";
import { BUN, ROOT, sourceInfo, sourceRoot } from "./lib/servers.ts";

const HELP = `Usage: ./node_modules/.bin/bun bench/soak.ts [options]   (each also as BENCH_<NAME>)

  --minutes M    how long, roughly (default 10): 40% crashes, 20% two instances, 15% outages,
                 15% write locks, 10% hostile input; each phase runs at least once
  --phases LIST  crash,instances,outage,lock,hostile (default all)
  --rev REV      run the daemons from a committed revision (git archive, e.g. HEAD) instead of
                 the working tree, which other engineers may be editing (default: working tree)
  --keep yes     keep the databases (default no); they are under the printed directory`;

const f = flags({ minutes: "10", phases: "crash,instances,outage,lock,hostile", rev: "", keep: "no" }, HELP);
const minutes = num(f.minutes, "minutes");
const phases = new Set(f.phases.split(",").map((p) => p.trim()));
const budget = minutes * 60_000;
const root = sourceRoot(f.rev);
const daemonCmd = [BUN, join(root, "src/main.ts")];
const dir = mkdtempSync(join(tmpdir(), "suppressd-soak-"));
const log = (line: string) => console.log(`  ${new Date().toISOString().slice(11, 19)} ${line}`);

const info = sourceInfo(f.rev);
console.log(`soak: ${minutes} min, daemon from ${info.measured}, working files in ${dir}`);
if (!f.rev && info.dirtySrc.length > 0)
  console.log(`  (src/ differs from HEAD in ${info.dirtySrc.length} files; --rev HEAD measures the commit)`);

const total = emptyFigures();
const lines: string[] = [];
const problems: string[] = [];

function report(name: string, figures: Figures, found: string[]) {
  add(total, figures);
  const line = summaryLine(name, figures);
  lines.push(line);
  console.log(line);
  for (const p of found) {
    problems.push(`${name}: ${p}`);
    console.log(`  PROBLEM ${p}`);
  }
}

/** Runs `round` again and again until `share` of the budget is spent (at least once). */
async function rounds(share: number, round: (n: number) => Promise<void>) {
  const until = Date.now() + budget * share;
  for (let n = 1; n === 1 || Date.now() < until; n++) await round(n);
}

const sub = (name: string) => mkdtempSync(join(dir, `${name}-`));

if (phases.has("crash")) {
  // One database through every crash: the crash loop takes half the share, the drain the rest.
  const r: CrashResult = await crashScenario({
    dir: sub("crash"),
    crashes: 100_000,
    connections: 64,
    upMs: [500, 4000],
    lists: ["list1", "list2"],
    createMissing: false,
    budgetMs: Math.max(60_000, budget * 0.4),
    // Paced so the load lasts through every crash and leaves a backlog the sync works off in
    // minutes; the outbox may take as long as it keeps shrinking.
    maxRate: 600,
    maxMessages: 1_000_000,
    drainMs: 15 * 60_000,
    log,
    daemonCmd,
  });
  report("soak crash", r.figures, crashProblems(r));
}

if (phases.has("instances")) {
  const figures = emptyFigures();
  const found: string[] = [];
  await rounds(0.2, async (n) => {
    const r = await instancesScenario({
      dir: sub("instances"),
      messages: 5000,
      connections: 32,
      lists: ["list1", "list2"],
      budgetMs: 120_000,
      log,
      daemonCmd,
    });
    add(figures, r.figures);
    found.push(...instancesProblems(r).map((p) => `round ${n}: ${p}`));
  });
  report("soak instances", figures, found);
}

if (phases.has("outage")) {
  const figures = emptyFigures();
  const found: string[] = [];
  await rounds(0.15, async (n) => {
    const r = await outageScenario({
      dir: sub("outage"),
      phaseMs: 3000,
      perPhase: 200,
      lists: ["list1", "list2"],
      log,
    });
    add(figures, r.figures);
    found.push(...outageProblems(r).map((p) => `round ${n}: ${p}`));
  });
  report("soak outage", figures, found);
}

if (phases.has("lock")) {
  const figures = emptyFigures();
  const found: string[] = [];
  const locks = [3000, 12_000];
  await rounds(0.15, async (n) => {
    const r = await lockScenario({
      dir: sub("lock"),
      connections: 64,
      locks,
      lists: ["list1"],
      log,
      daemonCmd,
    });
    add(figures, r.figures);
    found.push(...lockProblems(r, locks).map((p) => `round ${n}: ${p}`));
  });
  report("soak lock", figures, found);
}

if (phases.has("hostile")) {
  // The CI properties with their run counts multiplied, in a process of their own.
  const factor = Math.max(2, Math.round(minutes * 2));
  log(`hostile input: the properties of test/reliability with ${factor}× their runs`);
  const proc = Bun.spawn(
    [
      BUN,
      "test",
      "test/reliability/hostile.test.ts",
      "test/reliability/hostile_unicode.test.ts",
      "test/reliability/hostile_daemon.test.ts",
    ],
    {
      cwd: ROOT,
      env: { ...process.env, RELIABILITY_RUNS: String(factor) },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const text = out + err;
  const tried = [...text.matchAll(/hostile_inputs=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  const failed = text.split("\n").filter((l) => l.startsWith("(fail)"));
  report(
    "soak hostile",
    { ...emptyFigures(), hostile: tried },
    code === 0 ? [] : [`bun test exited ${code}`, ...failed],
  );
}

const totalLine = summaryLine("soak total", total);
console.log(totalLine);
const path = writeResult("soak", {
  minutes,
  source: info,
  environment: environment(),
  lines: [...lines, totalLine],
  total,
  problems,
});
console.log(`written: ${path}`);
if (f.keep !== "yes") rmSync(dir, { recursive: true, force: true });
const ok = total.lost === 0 && total.duplicates === 0 && problems.length === 0;
console.log(ok ? "soak: nothing lost, nothing applied twice" : `soak: ${problems.length} problems`);
process.exit(ok ? 0 : 1);
