import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { FakeMailchimp } from "../../fakes/mailchimp.ts";
import { type RunningDaemon, startDaemon } from "../../helpers/daemon.ts";
import { between, drained, outbox, reliabilityConfig, SINK, sleep, stallReport } from "./daemons.ts";
import { type DriverResult, drive, driverProblems } from "./driver.ts";
import type { Figures } from "./figures.ts";
import { MessageSource } from "./messages.ts";
import { judge, type Verdict, verdictProblems } from "./verdict.ts";

export interface CrashOptions {
  dir: string;
  crashes: number;
  connections: number;
  /** How long the daemon runs under load before each kill -9, chosen at random in this range. */
  upMs: [number, number];
  lists: readonly string[];
  createMissing: boolean;
  /** Bound on the whole run (the driver gives up retrying after it). */
  budgetMs: number;
  /** Bound on messages, so a fast machine does not build a huge backlog. */
  maxMessages: number;
  /** New messages per second at most, so the load lasts through every crash (default unbounded). */
  maxRate?: number;
  /**
   * How long the outbox may take to drain after the load, as long as it keeps shrinking (default:
   * what is left of the budget, at least 20 s).
   */
  drainMs?: number;
  log?: (line: string) => void;
  /** The command that runs `suppressd` (default: this tree's source under Bun). */
  daemonCmd?: string[];
}

export interface CrashResult {
  figures: Figures;
  verdict: Verdict;
  driver: DriverResult;
  drained: boolean;
  /** Messages handed to the driver by each kill -9, then by the end of the load. */
  loadAtKills: number[];
  /** When the outbox did not drain: who holds the database's write lock, the daemon's last warnings. */
  stall: string[];
  outbox: Record<string, number>;
}

/**
 * kill -9 under load, `crashes` times in a row, restarting on the same database each time, while
 * `connections` deliveries are in flight; then the outbox drains to the fake audiences and the
 * run is judged. Leases are the shortest allowed (10 s), so the last dead process's claims come
 * back soon; jobs it was sending are sent again (at-least-once: counted as re-sent writes).
 */
export async function crashScenario(o: CrashOptions): Promise<CrashResult> {
  const fake = FakeMailchimp.start({ lists: [...o.lists], latencyMs: 5 });
  // A directory of its own: config.json and the database of one run only.
  const dir = mkdtempSync(join(o.dir, "crash-"));
  const dbFile = join(dir, "crash.db");
  const config = reliabilityConfig(dir, dbFile, fake, o.lists, { createMissing: o.createMissing });
  const source = new MessageSource(`crash${Date.now().toString(36)}`);
  const start = () => startDaemon({ config, ...(o.daemonCmd ? { cmd: o.daemonCmd } : {}) });
  let daemon: RunningDaemon | null = await start();
  let producing = true;
  let crashes = 0;
  const loadAtKills: number[] = [];
  const started = Date.now();
  try {
    const driving = drive({
      url: () => daemon?.url ?? null,
      next: () => {
        if (!producing || source.all.length >= o.maxMessages) return null;
        const m = source.next();
        // Without createMissing only members are written: every address is one, added once (adding
        // it again would resubscribe it in the fake).
        if (!o.createMissing)
          for (const l of o.lists) for (const e of m.emails) if (!fake.member(l, e)) fake.addMember(l, e);
        return m;
      },
      connections: o.connections,
      stopAt: started + o.budgetMs,
      giveUpAt: started + o.budgetMs,
      redeliver: 0.05,
      ...(o.maxRate ? { maxRate: o.maxRate } : {}),
    });
    for (let i = 0; i < o.crashes && Date.now() - started < o.budgetMs / 2; i++) {
      await sleep(between(o.upMs[0], o.upMs[1]));
      const victim: RunningDaemon = daemon as RunningDaemon;
      daemon = null;
      await victim.kill();
      crashes++;
      loadAtKills.push(source.all.length);
      o.log?.(`crash ${crashes}: kill -9 after ${source.all.length} messages`);
      daemon = await start();
    }
    await sleep(500);
    producing = false;
    loadAtKills.push(source.all.length);
    const driver = await driving;
    const left = Math.max(20_000, o.budgetMs - (Date.now() - started));
    const isDrained = await drained(dbFile, o.drainMs ?? left, Math.min(o.drainMs ?? left, 60_000));
    const stall = isDrained ? [] : stallReport(dbFile, [daemon]);
    const verdict = await judge({
      dbFile,
      messages: source.all,
      acked: driver.acked,
      sinks: [SINK],
      audiences: { fake, lists: o.lists },
    });
    const writes = fake.stats.statusWrites.length;
    const lost = verdict.lost.length + driver.appliedAgain.length;
    return {
      verdict,
      driver,
      drained: isDrained,
      loadAtKills,
      stall,
      outbox: await outbox(dbFile),
      figures: {
        events: driver.acked.size,
        attempts: driver.attempts,
        crashes,
        lost,
        duplicates: verdict.duplicates.length,
        hostile: 0,
        extra: {
          redelivered: driver.redelivered,
          first_ack_was_duplicate: [...driver.acked.values()].filter((s) => s === "duplicate").length,
          failed_attempts: Object.values(driver.failures).reduce((a, b) => a + b, 0),
          unacked: driver.unacked.length,
          addresses: verdict.addresses,
          audience_writes: writes,
          resent_writes: writes - verdict.addresses * o.lists.length,
        },
      },
    };
  } finally {
    await daemon?.stop();
    fake.stop();
  }
}

/** Everything that broke a promise in a crash run; empty when all is well. */
export function crashProblems(r: CrashResult): string[] {
  return [
    ...driverProblems(r.driver),
    ...(r.drained ? [] : ["the outbox did not drain", ...r.stall]),
    ...((r.outbox.dead ?? 0) > 0 ? [`${r.outbox.dead} dead jobs although Mailchimp was healthy`] : []),
    ...verdictProblems(r.verdict),
    // Every kill came while deliveries flowed: new messages were handed out since the last one.
    ...r.loadAtKills.flatMap((n, i) =>
      i > 0 && n <= (r.loadAtKills[i - 1] as number)
        ? [`no load before kill ${i + 1} (pool of ${n} used up?)`]
        : [],
    ),
  ];
}
