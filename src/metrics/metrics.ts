import type { Kysely } from "kysely";
import { type Database, LIVE_STATUSES } from "../db/schema.ts";
import {
  lastEventReceived,
  oldestPending,
  outboxByStatus,
  quarantineCounts,
  suppressedByReason,
} from "../db/stats.ts";
import { ERROR_CLASSES, type Failure, type SinkHealth } from "../status/sink_health.ts";
import { VERSION } from "../version.ts";
import { Registry } from "./registry.ts";

/** What the sync worker reports after each batch it sent to a sink (one call per batch). */
export interface SyncBatchReport {
  sink: string;
  /** Jobs in the batch. */
  jobs: number;
  /** Jobs the sink accepted (including "already unsubscribed", which is success for us). */
  done: number;
  /** Jobs scheduled for another attempt. */
  retry?: number;
  /** Jobs given up on. */
  dead?: number;
  /** Jobs held back, pending, because the sink refused the whole send and stopped. */
  waiting?: number;
  durationMs: number;
  /** The most frequent failure of the batch. Never put keys or URLs with secrets here. */
  error?: string;
  /** Failed jobs by outcome and error class. */
  failures?: readonly Failure[];
}

export type WebhookOutcome = "processed" | "ignored" | "quarantined" | "duplicate";

/** Distinct event types kept as labels; Resend has about twenty, so more means something odd. */
const MAX_TYPES = 64;

/**
 * Every metric suppressd exports, on one registry per daemon (tests build their own). Counters
 * are incremented where things happen; the gauges that describe the database are read from it
 * when scraped, at most once per `cacheMs`, so a busy scraper cannot load the database.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly types = new Set<string>();

  readonly webhookEvents = this.registry.counter(
    "suppressd_webhook_events_total",
    "Verified webhook deliveries by event type and outcome (processed, ignored, quarantined, duplicate).",
    ["type", "outcome"],
  );
  readonly duplicates = this.registry.counter(
    "suppressd_webhook_duplicates_total",
    "Deliveries whose svix-id was already stored (Resend retries and dashboard replays).",
  );
  readonly signatureFailures = this.registry.counter(
    "suppressd_webhook_signature_failures_total",
    "Webhook requests rejected with 401: missing, wrong or stale Svix signature.",
  );
  readonly forbiddenIps = this.registry.counter(
    "suppressd_webhook_forbidden_ip_total",
    "Webhook requests rejected with 403 because the source address is not in resend.allowedIps.",
  );
  readonly httpRequests = this.registry.counter(
    "suppressd_http_requests_total",
    "HTTP requests by method, route pattern and status code.",
    ["method", "route", "status"],
  );
  readonly httpDuration = this.registry.histogram(
    "suppressd_http_request_duration_seconds",
    "Time from receiving a request to its response, by method and route pattern.",
    ["method", "route"],
  );
  readonly suppressions = this.registry.gauge(
    "suppressd_suppressions",
    "Addresses currently suppressed, by reason (read from the database).",
    ["reason"],
  );
  readonly outbox = this.registry.gauge(
    "suppressd_outbox_jobs",
    "Sync jobs waiting (pending), being sent (running) or given up (dead), by sink; read from the database.",
    ["sink", "status"],
  );
  readonly quarantine = this.registry.gauge(
    "suppressd_quarantine_waiting",
    "Quarantined deliveries not yet reprocessed (suppressd events reprocess).",
  );
  readonly lastEvent = this.registry.gauge(
    "suppressd_last_event_received_timestamp_seconds",
    "When the newest webhook delivery arrived, stored or only answered (unix seconds); 0 before the first.",
  );
  readonly syncDuration = this.registry.histogram(
    "suppressd_sync_batch_duration_seconds",
    "Time one batch took to reach a sink, by sink.",
    ["sink"],
  );
  readonly syncBatches = this.registry.counter(
    "suppressd_sync_batches_total",
    "Batches sent to a sink, by result (ok: every job done; partial: some failed; error: none done).",
    ["sink", "result"],
  );
  readonly syncJobs = this.registry.counter(
    "suppressd_sync_jobs_total",
    "Sync jobs handled, by sink and outcome (done, retry, dead, waiting: held back by a stopped sink).",
    ["sink", "outcome"],
  );
  readonly syncFailures = this.registry.counter(
    "suppressd_sync_job_failures_total",
    "Failed sync jobs by sink, outcome (retry, dead, waiting) and error class (auth, not_found, rejected, throttled, timeout, network, server, other).",
    ["sink", "outcome", "class"],
  );
  readonly sinkUp = this.registry.gauge(
    "suppressd_sink_up",
    "1 when the sink's last call (before any, its start-up check) reached a working sink; 0 when it failed or the sink is stopped.",
    ["sink"],
  );
  readonly sinkStopped = this.registry.gauge(
    "suppressd_sink_stopped",
    "1 while a sink-wide refusal (wrong key, missing audience) holds its jobs back until a reload.",
    ["sink"],
  );
  readonly sinkLastSuccess = this.registry.gauge(
    "suppressd_sink_last_success_timestamp_seconds",
    "When the sink last accepted a job (unix seconds); 0 before the first since start.",
    ["sink"],
  );
  readonly oldestPending = this.registry.gauge(
    "suppressd_outbox_oldest_pending_age_seconds",
    "Age of the sink's oldest pending job (since it was queued or requeued); 0 when none waits. Read from the database.",
    ["sink"],
  );
  readonly pruned = this.registry.counter(
    "suppressd_retention_pruned_total",
    "webhook_events rows (idempotency keys, ignored events) deleted by retention.",
  );
  readonly dbUp = this.registry.gauge(
    "suppressd_database_up",
    "1 when the last read of the database gauges succeeded, else 0.",
  );
  private readonly rss = this.registry.gauge("process_resident_memory_bytes", "Resident memory size.");
  private readonly started = this.registry.gauge(
    "process_start_time_seconds",
    "Start time of the process since the unix epoch, in seconds.",
  );
  private readonly build = this.registry.gauge("suppressd_build_info", "The running version.", ["version"]);

  private refreshed = 0;
  private refreshing: Promise<void> | null = null;
  private health: SinkHealth | null = null;

  constructor(private readonly opts: { db?: Kysely<Database>; cacheMs?: number; clock?: () => number } = {}) {
    this.started.set(undefined, Math.floor(Date.now() / 1000) - Math.round(process.uptime()));
    this.build.set({ version: VERSION }, 1);
    this.registry.onCollect(async () => {
      this.rss.set(undefined, process.memoryUsage.rss());
      this.refreshSinkGauges();
      await this.refreshDatabaseGauges();
    });
  }

  /**
   * The configured sinks: every sync series exists from start at zero (an alert on a rate or a
   * ratio needs the series before the first failure), and the sink gauges follow `health`.
   */
  watchSinks(health: SinkHealth): void {
    this.health = health;
    for (const sink of health.names()) {
      for (const result of ["ok", "partial", "error"]) this.syncBatches.inc({ sink, result }, 0);
      for (const outcome of ["done", "retry", "dead", "waiting"]) this.syncJobs.inc({ sink, outcome }, 0);
      for (const outcome of ["retry", "dead", "waiting"])
        for (const cls of ERROR_CLASSES) this.syncFailures.inc({ sink, outcome, class: cls }, 0);
    }
    this.refreshSinkGauges();
  }

  webhook(type: string, outcome: WebhookOutcome): void {
    this.hookHandles.get(type, outcome, "", () =>
      this.webhookEvents.bind({ type: this.typeLabel(type), outcome }),
    )();
    if (outcome === "duplicate") this.duplicates.inc();
    this.lastWebhook = { type, receivedAt: (this.opts.clock ?? Date.now)() };
  }

  /**
   * The newest delivery this process answered, stored or not: with resend.recordIgnored false
   * (the default) sends, opens and clicks reach no table, yet they show that webhooks arrive.
   */
  private lastWebhook: { type: string; receivedAt: number } | null = null;

  /** The newer of `stored` (the database's newest delivery) and the newest this process answered. */
  lastEventAlso(stored: { type: string; receivedAt: number } | null) {
    const mine = this.lastWebhook;
    if (mine === null) return stored;
    return stored === null || mine.receivedAt > stored.receivedAt ? mine : stored;
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.requestHandles.get(route, method, status, () =>
      this.httpRequests.bind({ method, route, status: String(status) }),
    )();
    this.durationHandles.get(route, method, "", () => this.httpDuration.bind({ method, route }))(seconds);
  }

  /**
   * The per-request series, each found through its labels rather than the registry's key for
   * them (the lookups were ~4% of the main thread under ingest, issue 14; a key string built per
   * request was still 2.6%). Bounded: methods and types come from outside.
   */
  private readonly hookHandles = new Handles<() => void>();
  private readonly requestHandles = new Handles<() => void>();
  private readonly durationHandles = new Handles<(seconds: number) => void>();

  /** Called by the sync worker once per batch (see `reportSyncBatch`, which also logs it). */
  syncBatch(r: SyncBatchReport): void {
    this.syncDuration.observe({ sink: r.sink }, r.durationMs / 1000);
    // A sink that answered per job (not by throwing) still failed them: count by the jobs.
    const result = r.done === r.jobs && r.error === undefined ? "ok" : r.done === 0 ? "error" : "partial";
    this.syncBatches.inc({ sink: r.sink, result });
    this.syncJobs.inc({ sink: r.sink, outcome: "done" }, r.done);
    for (const f of r.failures ?? []) {
      this.syncJobs.inc({ sink: r.sink, outcome: f.outcome }, f.n);
      this.syncFailures.inc({ sink: r.sink, outcome: f.outcome, class: f.class }, f.n);
    }
    if (r.failures === undefined) {
      if (r.retry) this.syncJobs.inc({ sink: r.sink, outcome: "retry" }, r.retry);
      if (r.dead) this.syncJobs.inc({ sink: r.sink, outcome: "dead" }, r.dead);
    }
    this.refreshSinkGauges();
  }

  render(): Promise<string> {
    return this.registry.render();
  }

  /** Event types come from signed payloads, but a label per unknown string is still unbounded. */
  private typeLabel(type: string): string {
    if (!/^[a-z0-9_.-]{1,64}$/i.test(type)) return "invalid";
    if (this.types.has(type)) return type;
    if (this.types.size >= MAX_TYPES) return "other";
    this.types.add(type);
    return type;
  }

  private refreshSinkGauges(): void {
    if (!this.health) return;
    for (const s of this.health.all()) {
      this.sinkUp.set({ sink: s.name }, s.up === false ? 0 : 1);
      this.sinkStopped.set({ sink: s.name }, s.stopped ? 1 : 0);
      this.sinkLastSuccess.set({ sink: s.name }, s.lastSuccessAt ? Math.floor(s.lastSuccessAt / 1000) : 0);
    }
  }

  private refreshDatabaseGauges(): Promise<void> {
    const db = this.opts.db;
    const now = (this.opts.clock ?? Date.now)();
    if (!db || now - this.refreshed < (this.opts.cacheMs ?? 15_000)) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        // One after the other, not Promise.all: each local query blocks the event loop while it runs.
        const reasons = await suppressedByReason(db);
        const jobs = await outboxByStatus(db, LIVE_STATUSES);
        const quarantine = await quarantineCounts(db);
        const last = this.lastEventAlso(await lastEventReceived(db));
        const oldest = await oldestPending(db);
        for (const r of reasons) this.suppressions.set({ reason: r.reason }, r.n);
        this.outbox.clear();
        this.oldestPending.clear();
        // Configured sinks are always there, at zero when nothing waits (no missing series).
        for (const sink of this.health?.names() ?? []) {
          for (const status of LIVE_STATUSES) this.outbox.set({ sink, status }, 0);
          this.oldestPending.set({ sink }, 0);
        }
        for (const j of jobs) this.outbox.set({ sink: j.sink, status: j.status }, j.n);
        for (const o of oldest)
          this.oldestPending.set({ sink: o.sink }, Math.max(0, (now - o.createdAt) / 1000));
        this.quarantine.set(undefined, quarantine.waiting);
        this.lastEvent.set(undefined, last ? Math.floor(last.receivedAt / 1000) : 0);
        this.dbUp.set(undefined, 1);
        this.refreshed = now;
      } catch {
        this.dbUp.set(undefined, 0);
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}

/** Handles by up to three labels, one Map per label: nothing is built per lookup. At most 1,024. */
class Handles<H> {
  private readonly top = new Map<unknown, Map<unknown, Map<unknown, H>>>();
  private count = 0;

  get(a: unknown, b: unknown, c: unknown, make: () => H): H {
    let byB = this.top.get(a);
    if (byB === undefined) {
      byB = new Map();
      this.top.set(a, byB);
    }
    let byC = byB.get(b);
    if (byC === undefined) {
      byC = new Map();
      byB.set(b, byC);
    }
    let h = byC.get(c);
    if (h === undefined) {
      if (this.count >= 1024) {
        this.top.clear();
        this.count = 0;
        return this.get(a, b, c, make);
      }
      h = make();
      byC.set(c, h);
      this.count++;
    }
    return h;
  }
}
