import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Db } from "../db/client.ts";
import { withBusyRetry } from "../db/connection.ts";
import {
  type Completion,
  claimDue,
  complete,
  pruneFinished,
  reclaimExpired,
  renewLeases,
} from "../db/outbox.ts";
import { type Logger, redactAddresses, silentLogger } from "../log.ts";
import type { SyncBatchReport } from "../metrics/metrics.ts";
import type { Failure, FailureOutcome } from "../status/sink_health.ts";
import { errorClass, SinkHealth } from "../status/sink_health.ts";
import { backoffMs, RETRY_DEFAULTS, type RetryPolicy } from "./backoff.ts";
import { OutageLog } from "./outage_log.ts";
import { type Outcome, outcomeOf, type Sink, type SyncJob } from "./sink.ts";

export interface WorkerOptions {
  db: Db;
  sinks: readonly Sink[];
  clock?: () => number;
  /** Waits between polls and after SQLITE_BUSY; tests pass one that moves a fake clock. */
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
  /** Names this worker in `lease_owner`; unique per process by default. */
  owner?: string;
  /** Jobs per claim. */
  claimLimit?: number;
  /** How long a claim is ours before another worker may take it over; renewed while sending. */
  leaseMs?: number;
  /** How often an idle worker looks for due jobs. */
  pollMs?: number;
  /** Claims being sent at once (a Mailchimp batch may take minutes; others need not wait). */
  maxInFlight?: number;
  retry?: RetryPolicy;
  random?: () => number;
  /** Done and superseded rows older than this are deleted; null keeps them. */
  retentionMs?: number | null;
  /** Called after each sink's part of a claim (metrics and the "sync batch" log line). */
  report?: (r: SyncBatchReport) => void;
  /** Each sink's state (shared with /v1/status); the worker's own if absent. */
  health?: SinkHealth;
  /** Failures are logged once per sink, error class and outcome per this interval (default 60 s). */
  logIntervalMs?: number;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Lets queued I/O (webhooks, the writer's commits) run before the next slice of work. */
const turn = () => new Promise<void>((r) => setImmediate(r));
/** Rows per outbox statement: a few milliseconds of blocking each. */
const STATEMENT_ROWS = 500;

/**
 * The outbox worker: claims due sync jobs with an expiring lease, sends them through their sink
 * and records the outcome.
 *
 * Crash recovery needs nothing from memory: the database is the queue. A worker that dies (crash,
 * SIGKILL, lost machine) leaves its claims `running` with a lease that expires after `leaseMs`;
 * the next claim by any worker, this process after a restart included, puts them back in the
 * queue. Sync is therefore at-least-once, and every sink call is an idempotent upsert.
 */
export class SyncWorker {
  readonly owner: string;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: Logger;
  private sinks: Map<string, Sink>;
  readonly health: SinkHealth;
  private readonly outage: OutageLog;
  private readonly claimLimit: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly maxInFlight: number;
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly inFlight = new Map<Promise<void>, number[]>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wake: () => void = () => {};
  private lastPrune = 0;

  constructor(private readonly opts: WorkerOptions) {
    this.clock = opts.clock ?? Date.now;
    this.sleep = opts.sleep ?? realSleep;
    this.log = opts.log ?? silentLogger;
    this.sinks = new Map(opts.sinks.map((s) => [s.name, s]));
    this.health = opts.health ?? new SinkHealth([...this.sinks.keys()], this.clock);
    this.outage = new OutageLog(this.log, this.clock, opts.logIntervalMs);
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.claimLimit = opts.claimLimit ?? 2000;
    this.leaseMs = opts.leaseMs ?? 60_000;
    this.pollMs = opts.pollMs ?? 1000;
    this.maxInFlight = opts.maxInFlight ?? 4;
    this.retry = opts.retry ?? RETRY_DEFAULTS;
    this.random = opts.random ?? Math.random;
  }

  start(): void {
    if (this.loop || this.sinks.size === 0) return;
    this.loop = this.run();
  }

  /**
   * Takes sinks built from a reloaded config (same names) and lets every stopped sink send again:
   * the operator fixed its key or audience, or the account, and said so by reloading.
   */
  setSinks(sinks: readonly Sink[]): void {
    this.sinks = new Map(sinks.map((s) => [s.name, s]));
    this.health.configure([...this.sinks.keys()]);
    for (const sink of this.health.resumeAll()) {
      this.log.log("info", `sink ${sink}: sending again after a reload`, { sink });
    }
    this.wake();
  }

  /**
   * Stops claiming and lets the claims being sent finish (up to `graceMs`). What is still being
   * sent after that goes back to the queue untouched, to be sent again by whoever runs next.
   */
  async stop(graceMs = 8000): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
    this.outage.flush(true);
    const all = Promise.allSettled([...this.inFlight.keys()]);
    const late = await Promise.race([all.then(() => false), realSleep(graceMs).then(() => true)]);
    if (!late) return;
    this.abort.abort();
    const unfinished = [...this.inFlight.values()].flat();
    this.log.log("warn", "sync stopped with sends in flight; they go back to the queue", {
      jobs: unfinished.length,
    });
    await this.record(unfinished.map((id) => handBack(id, this.clock()))).catch(() => {});
  }

  /** One claim, sent and recorded; how many jobs it held (tests drive the worker with it). */
  async runOnce(): Promise<number> {
    const { jobs, at } = await this.claim();
    if (jobs.length > 0) await this.process(jobs, at);
    return jobs.length;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (this.inFlight.size >= this.maxInFlight) {
        await Promise.race(this.inFlight.keys());
        continue;
      }
      let jobs: SyncJob[] = [];
      let claimedAt = this.clock();
      try {
        ({ jobs, at: claimedAt } = await this.claim());
        await this.maybePrune();
      } catch (e) {
        this.log.log("error", "sync claim failed", { error: String((e as Error)?.message ?? e) });
      }
      if (jobs.length > 0) {
        const ids = jobs.map((j) => j.id);
        const p: Promise<void> = this.process(jobs, claimedAt)
          .catch((e) =>
            this.log.log("error", "sync send failed", { error: String((e as Error)?.message ?? e) }),
          )
          .finally(() => {
            this.inFlight.delete(p);
            this.wake();
          });
        this.inFlight.set(p, ids);
        // A full claim means more are waiting: claim again at once (up to maxInFlight).
        if (jobs.length === this.claimLimit) continue;
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.sleep(this.pollMs).then(resolve);
      });
      this.wake = () => {};
    }
  }

  /**
   * Claims due jobs; `at` is when the earliest slice's lease was computed (process() renews the
   * claim first when that is a third of a lease ago). Each slice computes its lease when its
   * statement is sent, not when the claim began: waiting for another process's lock (reclaim,
   * earlier slices) once left a slice leased for only a moment, and a second daemon reclaimed and
   * sent its 40 jobs too (instances test).
   */
  private async claim(): Promise<{ jobs: SyncJob[]; at: number }> {
    const db = this.opts.db.write;
    const now = this.clock();
    this.outage.flush();
    await withBusyRetry(() => reclaimExpired(db, now), this.sleep);
    // A stopped sink's jobs stay pending, unclaimed, until a reload resumes it.
    const sinks = [...this.sinks.keys()].filter((name) => !this.health.isStopped(name));
    if (sinks.length === 0) return { jobs: [], at: now };
    const jobs: SyncJob[] = [];
    let at = Number.POSITIVE_INFINITY;
    // In slices with a turn of the event loop between them: each statement runs synchronously in
    // libsql, and a webhook waiting behind a 2,000-row UPDATE would wait for all of it.
    while (jobs.length < this.claimLimit) {
      if (jobs.length > 0) await turn();
      const limit = Math.min(STATEMENT_ROWS, this.claimLimit - jobs.length);
      let slice: SyncJob[];
      try {
        slice = await withBusyRetry(() => {
          const sent = this.clock();
          at = Math.min(at, sent);
          return claimDue(db, {
            owner: this.owner,
            now: sent,
            leaseUntil: sent + this.leaseMs,
            limit,
            sinks,
          });
        }, this.sleep);
      } catch (e) {
        // Send what is already ours rather than leave it leased until the lease runs out.
        if (jobs.length === 0) throw e;
        this.log.log("warn", "sync claim cut short", { error: String((e as Error)?.message ?? e) });
        break;
      }
      jobs.push(...slice);
      if (slice.length < limit) break;
    }
    return { jobs, at: Number.isFinite(at) ? at : now };
  }

  /**
   * Sends jobs this worker claimed at `claimedAt` and records the outcomes; a claim older than a
   * third of the lease is first renewed, and only the jobs still held are sent. `runOnce` is a
   * claim and this; test/sync/worker.test.ts holds a claim in between, as a starved process would.
   */
  async process(claimed: SyncJob[], claimedAt = this.clock()): Promise<void> {
    if (this.clock() - claimedAt > this.leaseMs / 3) {
      // Delayed since the claim (a starved process, a long wait for the database): send only
      // what is still ours, or a worker that took an expired lease over would send it too.
      const held = new Set(
        await withBusyRetry(
          () =>
            renewLeases(
              this.opts.db.write,
              this.owner,
              claimed.map((j) => j.id),
              this.clock() + this.leaseMs,
            ),
          this.sleep,
        ),
      );
      claimed = claimed.filter((j) => held.has(j.id));
      if (claimed.length === 0) return;
    }
    // Two claims of one address on one sink (a reclaimed lease beside a newer job): only the
    // newest state matters.
    const newest = new Map<string, SyncJob>();
    const stale: SyncJob[] = [];
    for (const job of [...claimed].sort((a, b) => b.id - a.id)) {
      const key = `${job.sink}\u0000${job.email}`;
      if (newest.has(key)) stale.push(job);
      else newest.set(key, job);
    }
    const bySink = new Map<string, SyncJob[]>();
    for (const job of newest.values()) {
      const list = bySink.get(job.sink) ?? [];
      list.push(job);
      bySink.set(job.sink, list);
    }
    const pending = new Set(newest.values());
    const heartbeat = setInterval(
      () => {
        const ids = [...pending].map((j) => j.id);
        withBusyRetry(
          () => renewLeases(this.opts.db.write, this.owner, ids, this.clock() + this.leaseMs),
          this.sleep,
        ).catch((e) =>
          this.log.log("warn", "could not renew sync leases", { error: String(e?.message ?? e) }),
        );
      },
      Math.max(1000, Math.floor(this.leaseMs / 3)),
    );
    try {
      const now = () => this.clock();
      const done: Completion[] = stale.map((j) => ({
        id: j.id,
        status: "superseded",
        next: now(),
        error: null,
        attempted: false,
      }));
      await Promise.all(
        [...bySink].map(async ([name, jobs]) => {
          const sink = this.sinks.get(name);
          const started = performance.now();
          let outcomes: Map<number, Outcome>;
          // A sink-wide refusal (wrong key, missing audience): the error that stops the sink.
          let refusal: string | undefined;
          if (!sink || this.health.isStopped(name)) {
            // Claimed before the sink stopped (or was removed by a reload): back to the queue
            // unsent, keeping why they wait. Nothing was sent, so there is nothing to report.
            const why = this.health.get(name).stopped?.reason ?? null;
            const back = jobs.map((j) => ({ ...handBack(j.id, now()), error: why }));
            await this.record(back).finally(() => {
              for (const j of jobs) pending.delete(j);
            });
            return;
          }
          try {
            outcomes = await sink.send(jobs, this.abort.signal);
            refusal = sharedRefusal(jobs, outcomes);
          } catch (e) {
            const o = this.abort.signal.aborted ? undefined : outcomeOf(e);
            if (o?.kind === "fail") refusal = o.error;
            outcomes = new Map(o ? jobs.map((j) => [j.id, o]) : []);
          }
          if (refusal !== undefined) this.stopSink(name, redactAddresses(refusal), jobs.length);
          // The jobs of a refused send wait, due at once: nothing claims them until a reload.
          const results = jobs.map((j) =>
            refusal !== undefined
              ? { id: j.id, status: "pending" as const, next: now(), error: refusal, attempted: true }
              : this.completion(j, outcomes.get(j.id), now()),
          );
          const failures = failuresOf(results, refusal !== undefined);
          const done = results.filter((r) => r.status === "done").length;
          for (const f of failures) this.outage.add(name, f.outcome, f.class, f.n, f.error);
          if (refusal !== undefined || outcomes.size > 0) this.health.call(name, { done, failures });
          const top = [...failures].sort((a, b) => b.n - a.n)[0];
          const retried = results.filter((r) => r.status === "pending" && r.attempted).length;
          this.opts.report?.({
            sink: name,
            jobs: jobs.length,
            done,
            retry: refusal === undefined ? retried : 0,
            waiting: refusal === undefined ? 0 : retried,
            dead: results.filter((r) => r.status === "dead").length,
            durationMs: performance.now() - started,
            failures,
            ...(top === undefined ? {} : { error: top.error }),
          });
          // Record each sink's results as soon as they are known, not after the slowest sink. The
          // leases stay renewed until then: recording can wait on another process's write lock,
          // and a lease that ran out meanwhile would let another worker send these jobs again.
          const applied = await this.record(results).finally(() => {
            for (const j of jobs) pending.delete(j);
          });
          if (applied < results.length) {
            // Our lease ran out and another worker took these over: its outcome is the one kept.
            this.log.log("warn", "sync results not recorded: lease lost", {
              sink: name,
              jobs: results.length,
              recorded: applied,
            });
          }
        }),
      );
      await this.record(done);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private completion(job: SyncJob, outcome: Outcome | undefined, now: number): Completion {
    if (outcome === undefined) return handBack(job.id, now);
    if (outcome.kind === "done") {
      return { id: job.id, status: "done", next: now, error: null, attempted: true };
    }
    if (outcome.kind === "fail") {
      return { id: job.id, status: "dead", next: now, error: outcome.error, attempted: true };
    }
    if (now - job.created_at >= this.retry.giveUpMs) {
      const days = Math.round(this.retry.giveUpMs / 86_400_000);
      const error = `gave up after ${days} days of failures; last: ${outcome.error}`;
      return { id: job.id, status: "dead", next: now, error, attempted: true };
    }
    const wait = Math.max(backoffMs(job.attempts + 1, this.retry, this.random), outcome.retryAfterMs ?? 0);
    return { id: job.id, status: "pending", next: now + wait, error: outcome.error, attempted: true };
  }

  /** Opens the circuit: one error line, and the sink's jobs wait unclaimed until a reload. */
  private stopSink(name: string, reason: string, jobs: number) {
    if (!this.health.stop(name, reason)) return;
    this.log.log("error", `sink ${name} stopped: ${reason}`, {
      sink: name,
      error_class: errorClass(reason),
      jobs_held: jobs,
      hint: "its jobs wait (pending); fix the sink's config, then reload the daemon (SIGHUP) to send them",
    });
  }

  private async record(items: Completion[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < items.length; i += STATEMENT_ROWS) {
      if (i > 0) await turn();
      const slice = items.slice(i, i + STATEMENT_ROWS);
      n += await withBusyRetry(
        () => complete(this.opts.db.write, this.owner, this.clock(), slice),
        this.sleep,
      );
    }
    return n;
  }

  private async maybePrune() {
    const keep = this.opts.retentionMs;
    const now = this.clock();
    if (keep == null || now - this.lastPrune < 3_600_000) return;
    this.lastPrune = now;
    const n = await withBusyRetry(() => pruneFinished(this.opts.db.write, now - keep), this.sleep);
    if (n > 0) this.log.log("info", "pruned finished sync jobs", { rows: n });
  }
}

/**
 * A sink that answers per job may still be refusing everyone: when every job of a send failed
 * permanently with one and the same authorization error (401/403), it is the key, not the
 * addresses. Per-address refusals (400s) never stop a sink.
 */
function sharedRefusal(jobs: readonly SyncJob[], outcomes: Map<number, Outcome>): string | undefined {
  let error: string | undefined;
  for (const j of jobs) {
    const o = outcomes.get(j.id);
    if (o?.kind !== "fail" || (error !== undefined && o.error !== error)) return undefined;
    error = o.error;
  }
  return error !== undefined && errorClass(error) === "auth" ? error : undefined;
}

/** Failed jobs of one batch, grouped by what became of them and why. */
function failuresOf(results: readonly Completion[], stopped: boolean): Failure[] {
  const groups = new Map<string, Failure>();
  for (const r of results) {
    if (r.error === null || r.status === "done") continue;
    const outcome: FailureOutcome = r.status === "dead" ? "dead" : stopped ? "waiting" : "retry";
    if (r.status !== "dead" && !r.attempted) continue;
    const cls = errorClass(r.error);
    const key = `${outcome}\u0000${cls}`;
    const g = groups.get(key) ?? { outcome, class: cls, n: 0, error: "" };
    g.n++;
    g.error = redactAddresses(r.error);
    groups.set(key, g);
  }
  return [...groups.values()];
}

function handBack(id: number, now: number): Completion {
  return { id, status: "pending", next: now, error: null, attempted: false };
}
