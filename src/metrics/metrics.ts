import type { Kysely } from "kysely";
import type { Database, JobStatus } from "../db/schema.ts";
import { VERSION } from "../version.ts";
import { lastEventReceived, outboxByStatus, quarantineCounts, suppressedByReason } from "./db_stats.ts";
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
  durationMs: number;
  /** Why the batch as a whole failed (timeout, 5xx, network). Never put keys or URLs with secrets here. */
  error?: string;
}

export type WebhookOutcome = "processed" | "ignored" | "quarantined" | "duplicate";

/** Outbox statuses exported as gauges: the backlog and the failures, not the finished history. */
const LIVE_JOBS: readonly JobStatus[] = ["pending", "running", "dead"];

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
    "When the newest webhook delivery was stored (unix seconds); 0 before the first.",
  );
  readonly syncDuration = this.registry.histogram(
    "suppressd_sync_batch_duration_seconds",
    "Time one batch took to reach a sink, by sink.",
    ["sink"],
  );
  readonly syncBatches = this.registry.counter(
    "suppressd_sync_batches_total",
    "Batches sent to a sink, by result (ok: the sink answered; error: the whole batch failed).",
    ["sink", "result"],
  );
  readonly syncJobs = this.registry.counter(
    "suppressd_sync_jobs_total",
    "Sync jobs handled, by sink and outcome (done, retry, dead).",
    ["sink", "outcome"],
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

  constructor(private readonly opts: { db?: Kysely<Database>; cacheMs?: number; clock?: () => number } = {}) {
    this.started.set(undefined, Math.floor(Date.now() / 1000) - Math.round(process.uptime()));
    this.build.set({ version: VERSION }, 1);
    this.registry.onCollect(async () => {
      this.rss.set(undefined, process.memoryUsage.rss());
      await this.refreshDatabaseGauges();
    });
  }

  webhook(type: string, outcome: WebhookOutcome): void {
    this.webhookEvents.inc({ type: this.typeLabel(type), outcome });
    if (outcome === "duplicate") this.duplicates.inc();
  }

  request(method: string, route: string, status: number, seconds: number): void {
    this.httpRequests.inc({ method, route, status: String(status) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  /** Called by the sync worker once per batch (see `reportSyncBatch`, which also logs it). */
  syncBatch(r: SyncBatchReport): void {
    this.syncDuration.observe({ sink: r.sink }, r.durationMs / 1000);
    this.syncBatches.inc({ sink: r.sink, result: r.error === undefined ? "ok" : "error" });
    if (r.done > 0) this.syncJobs.inc({ sink: r.sink, outcome: "done" }, r.done);
    if (r.retry) this.syncJobs.inc({ sink: r.sink, outcome: "retry" }, r.retry);
    if (r.dead) this.syncJobs.inc({ sink: r.sink, outcome: "dead" }, r.dead);
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

  private refreshDatabaseGauges(): Promise<void> {
    const db = this.opts.db;
    const now = Date.now();
    if (!db || now - this.refreshed < (this.opts.cacheMs ?? 15_000)) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        // One after the other, not Promise.all: each local query blocks the event loop while it runs.
        const reasons = await suppressedByReason(db);
        const jobs = await outboxByStatus(db, LIVE_JOBS);
        const quarantine = await quarantineCounts(db);
        const last = await lastEventReceived(db);
        for (const r of reasons) this.suppressions.set({ reason: r.reason }, r.n);
        this.outbox.clear();
        for (const j of jobs) this.outbox.set({ sink: j.sink, status: j.status }, j.n);
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
