import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { FakeMailchimp } from "../../fakes/mailchimp.ts";
import { BUN, type RunningDaemon, startDaemon } from "../../helpers/daemon.ts";
import { drained, outbox, reliabilityConfig, SINK, sleep, stallReport } from "./daemons.ts";
import { type DriverResult, drive, driverProblems } from "./driver.ts";
import type { Figures } from "./figures.ts";
import { MessageSource } from "./messages.ts";
import { judge, type Verdict, verdictProblems } from "./verdict.ts";

export interface LockOptions {
  dir: string;
  connections: number;
  /** Each lock is held this long by another process, one after the other, under load. */
  locks: number[];
  lists: readonly string[];
  log?: (line: string) => void;
  /** The command that runs `suppressd` (default: this tree's source under Bun). */
  daemonCmd?: string[];
  /** The daemon's `database.lockWaitMs` (default: the config's default, 10 s). */
  lockWaitMs?: number;
}

export interface LockResult {
  figures: Figures;
  verdict: Verdict;
  driver: DriverResult;
  drained: boolean;
  stall: string[];
  outbox: Record<string, number>;
  /** What each lock holder printed, and its exit code. */
  holders: { held: number; exit: number }[];
}

const HOLDER = join(import.meta.dir, "hold_lock.ts");

/**
 * Another process takes the database's write lock (BEGIN IMMEDIATE, as a backup tool might) while
 * webhooks arrive over many connections. Deliveries wait for the lock (the writer retries for
 * up to `database.lockWaitMs`) or get 503, which Resend retries; none may get 200 without its commit, which the
 * database shows afterwards: every acknowledged message is there with its effect.
 */
export async function lockScenario(o: LockOptions): Promise<LockResult> {
  const fake = FakeMailchimp.start({ lists: [...o.lists], latencyMs: 2 });
  // A directory of its own: config.json and the database of one run only.
  const dir = mkdtempSync(join(o.dir, "lock-"));
  const dbFile = join(dir, "locked.db");
  const config = reliabilityConfig(dir, dbFile, fake, o.lists, {
    createMissing: true,
    ...(o.lockWaitMs === undefined ? {} : { lockWaitMs: o.lockWaitMs }),
  });
  const source = new MessageSource(`lock${Date.now().toString(36)}`);
  let daemon: RunningDaemon | null = null;
  const holders: { held: number; exit: number }[] = [];
  try {
    daemon = await startDaemon({ config, ...(o.daemonCmd ? { cmd: o.daemonCmd } : {}) });
    const url = daemon.url;
    let producing = true;
    const started = Date.now();
    const budget = 30_000 + o.locks.reduce((a, b) => a + b + 2000, 0);
    const driving = drive({
      url: () => url,
      next: () => (producing ? source.next() : null),
      connections: o.connections,
      stopAt: started + budget,
      giveUpAt: started + budget,
      redeliver: 0.02,
    });
    for (const ms of o.locks) {
      await sleep(1000);
      const proc = Bun.spawn([BUN, HOLDER, dbFile, String(ms)], { stdout: "pipe", stderr: "pipe" });
      const [out, err, exit] = await Promise.all([
        new Response(proc.stdout).text(),
        new Response(proc.stderr).text(),
        proc.exited,
      ]);
      const lines = out
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, number>);
      const locked = lines.find((l) => l.locked)?.locked ?? 0;
      const released = lines.find((l) => l.released)?.released ?? 0;
      holders.push({ held: released - locked, exit });
      o.log?.(`lock held ${released - locked} ms by another process (exit ${exit}) ${err.trim()}`);
    }
    await sleep(1000);
    producing = false;
    const driver = await driving;
    const isDrained = await drained(dbFile, 30_000);
    const stall = isDrained ? [] : stallReport(dbFile, [daemon]);
    const verdict = await judge({
      dbFile,
      messages: source.all,
      acked: driver.acked,
      sinks: [SINK],
      audiences: { fake, lists: o.lists },
    });
    return {
      verdict,
      driver,
      drained: isDrained,
      stall,
      outbox: await outbox(dbFile),
      holders,
      figures: {
        events: driver.acked.size,
        attempts: driver.attempts,
        crashes: 0,
        lost: verdict.lost.length + driver.appliedAgain.length,
        duplicates: verdict.duplicates.length,
        hostile: 0,
        extra: {
          write_locks: holders.length,
          locked_ms: holders.reduce((a, h) => a + h.held, 0),
          answered_503: driver.failures["503"] ?? 0,
          slowest_200_ms: driver.slowestMs,
          redelivered: driver.redelivered,
        },
      },
    };
  } finally {
    await daemon?.stop();
    fake.stop();
  }
}

/** Everything that broke a promise in a write-lock run (a 503 is allowed: Resend retries it). */
export function lockProblems(r: LockResult, locks: readonly number[]): string[] {
  return [
    ...r.holders.flatMap((h, i) =>
      h.exit !== 0 || h.held < (locks[i] ?? 0)
        ? [`lock holder ${i + 1}: exit ${h.exit}, held ${h.held} ms`]
        : [],
    ),
    ...driverProblems(r.driver),
    ...verdictProblems(r.verdict),
    ...(r.drained ? [] : ["the outbox did not drain", ...r.stall]),
    ...((r.outbox.dead ?? 0) > 0 ? [`${r.outbox.dead} dead jobs`] : []),
  ];
}
