import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { FakeMailchimp } from "../../fakes/mailchimp.ts";
import { type RunningDaemon, startDaemon } from "../../helpers/daemon.ts";
import { drained, outbox, reliabilityConfig, SINK, stallReport } from "./daemons.ts";
import { type DriverResult, drive, driverProblems } from "./driver.ts";
import type { Figures } from "./figures.ts";
import { type Message, MessageSource } from "./messages.ts";
import { judge, sample, type Verdict, verdictProblems } from "./verdict.ts";

export interface InstancesOptions {
  dir: string;
  messages: number;
  /** Connections per daemon. */
  connections: number;
  lists: readonly string[];
  budgetMs: number;
  log?: (line: string) => void;
  /** The command that runs `suppressd` (default: this tree's source under Bun). */
  daemonCmd?: string[];
}

export interface InstancesResult {
  figures: Figures;
  verdict: Verdict;
  drivers: DriverResult[];
  /** Messages applied (answered other than `duplicate`) by both daemons, or by neither. */
  notOnce: string[];
  drained: boolean;
  /** When the outbox did not drain: who holds the database's write lock, the daemons' last warnings. */
  stall: string[];
  /** Jobs sent more than once although Mailchimp never failed. */
  attemptedTwice: number;
  /** Member status writes the fake received, and how many there would be with one per job. */
  writes: { got: number; once: number };
  throttled: number;
  outbox: Record<string, number>;
}

/**
 * Two daemons (two processes) on one database file, each receiving every message, at once. The
 * fake is healthy and each daemon may use half of Mailchimp's 10 connections per key (with 10 each,
 * the pair would draw 429s: a real limit of running two instances on one key), so no job ever has
 * a reason to be sent again: any second write to a member is a job sent twice.
 *
 * Claims are small so both workers take part; the Mailchimp sink runs without createMissing, so
 * every member exists beforehand and bursts go through batch operations (PATCH per member).
 */
export async function instancesScenario(o: InstancesOptions): Promise<InstancesResult> {
  const fake = FakeMailchimp.start({ lists: [...o.lists], latencyMs: 2 });
  // A directory of its own: config.json and the database of one run only.
  const dir = mkdtempSync(join(o.dir, "instances-"));
  const dbFile = join(dir, "shared.db");
  const source = new MessageSource(`two${Date.now().toString(36)}`);
  const messages: Message[] = Array.from({ length: o.messages }, () => source.next());
  for (const m of messages) for (const l of o.lists) for (const e of m.emails) fake.addMember(l, e);
  const daemons: RunningDaemon[] = [];
  try {
    const config = reliabilityConfig(dir, dbFile, fake, o.lists, {
      createMissing: false,
      maxConnections: 5,
      claimSize: 40,
    });
    const start = () => startDaemon({ config, ...(o.daemonCmd ? { cmd: o.daemonCmd } : {}) });
    daemons.push(await start(), await start());
    const started = Date.now();
    // Each daemon gets every message, in its own order: the copies race each other.
    const drivers = await Promise.all(
      daemons.map((d, n) => {
        const order = n === 0 ? [...messages] : [...messages].reverse();
        return drive({
          url: () => d.url,
          next: () => order.shift() ?? null,
          connections: o.connections,
          stopAt: started + o.budgetMs,
          giveUpAt: started + o.budgetMs,
          redeliver: 0.02,
        });
      }),
    );
    // A type nothing acts on is not stored (resend.recordIgnored false): both answer `ignored`.
    const notOnce = messages
      .filter((m) => m.stored !== null)
      .filter((m) => drivers.filter((d) => applied(d.acked.get(m.id))).length !== 1)
      .map((m) => `${m.id}: ${drivers.map((d) => d.acked.get(m.id) ?? "no answer").join(" / ")}`);
    const isDrained = await drained(dbFile, Math.max(20_000, o.budgetMs - (Date.now() - started)));
    const stall = isDrained ? [] : stallReport(dbFile, daemons);
    const acked = new Map<string, string>();
    for (const d of drivers)
      for (const [id, s] of d.acked) if (!acked.has(id) || applied(s)) acked.set(id, s);
    const verdict = await judge({
      dbFile,
      messages,
      acked,
      sinks: [SINK],
      audiences: { fake, lists: o.lists },
    });
    const twice = await attemptsAbove(dbFile, 1);
    const writes = { got: fake.stats.statusWrites.length, once: verdict.addresses * o.lists.length };
    const appliedAgain = drivers.reduce((n, d) => n + d.appliedAgain.length, 0);
    o.log?.(`two instances: ${messages.length} messages to each, ${writes.got} audience writes`);
    for (const [n, d] of daemons.entries()) {
      for (const line of d.stdout().split("\n")) {
        if (/"level":"(warn|error)"/.test(line)) o.log?.(`daemon ${n + 1}: ${line.slice(0, 300)}`);
      }
    }
    return {
      verdict,
      drivers,
      notOnce,
      drained: isDrained,
      stall,
      attemptedTwice: twice,
      writes,
      throttled: fake.stats.throttled,
      outbox: await outbox(dbFile),
      figures: {
        events: acked.size,
        attempts: drivers.reduce((n, d) => n + d.attempts, 0),
        crashes: 0,
        lost: verdict.lost.length + appliedAgain,
        duplicates:
          verdict.duplicates.length + notOnce.length + Math.max(0, writes.got - writes.once) + twice,
        hostile: 0,
        extra: {
          instances: 2,
          copies_delivered: drivers.reduce((n, d) => n + d.acked.size, 0),
          redelivered: drivers.reduce((n, d) => n + d.redelivered, 0),
          addresses: verdict.addresses,
          audience_writes: writes.got,
          jobs_sent_twice: twice,
          // Who sent what (from each daemon's "sync batch" log lines): both workers take part.
          jobs_sent_by_first: sentBy(daemons[0]),
          jobs_sent_by_second: sentBy(daemons[1]),
        },
      },
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    fake.stop();
  }
}

/** Jobs a daemon reported as done in its "sync batch" log lines. */
function sentBy(d: RunningDaemon | undefined): number {
  let n = 0;
  for (const line of d?.stdout().split("\n") ?? []) {
    if (line.includes('"msg":"sync batch"')) n += (JSON.parse(line) as { done: number }).done;
  }
  return n;
}

const applied = (status: string | undefined) => status !== undefined && status !== "duplicate";

async function attemptsAbove(dbFile: string, n: number): Promise<number> {
  const db = createClient({ url: `file:${dbFile}`, intMode: "number" });
  try {
    const r = await db.execute({ sql: "SELECT count(*) AS n FROM sync_jobs WHERE attempts > ?", args: [n] });
    return r.rows[0]?.n as number;
  } finally {
    db.close();
  }
}

/**
 * Everything that broke a promise in a two-instance run. Mailchimp never failed (no 429 either),
 * so no job had a reason to be sent again: one attempt each, and one status write per member and
 * audience. Every member had to be written at least once to become unsubscribed, so as many
 * writes as members means none was written twice.
 */
export function instancesProblems(r: InstancesResult): string[] {
  return [
    ...r.drivers.flatMap((d, n) => driverProblems(d, `daemon ${n + 1}`)),
    // Exactly one of the two applies each message; the other answers "duplicate".
    ...sample(r.notOnce).map((m) => `not applied exactly once: ${m}`),
    ...(r.drained ? [] : ["the outbox did not drain", ...r.stall]),
    ...verdictProblems(r.verdict),
    ...(r.throttled > 0 ? [`Mailchimp answered 429 ${r.throttled} times: the run was not healthy`] : []),
    ...(r.attemptedTwice > 0 ? [`${r.attemptedTwice} jobs needed a second attempt`] : []),
    ...(r.writes.got !== r.writes.once ? [`${r.writes.got} member writes for ${r.writes.once} members`] : []),
  ];
}
