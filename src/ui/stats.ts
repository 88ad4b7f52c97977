import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import { lastEventReceived, quarantineCounts, suppressedByReason } from "../db/stats.ts";
import { recentChanges, recentQuarantine } from "../db/ui_queries.ts";
import type { Metrics } from "../metrics/metrics.ts";
import type { SinkHealth } from "../status/sink_health.ts";
import type { Reason } from "../suppression/types.ts";
import { quarantinedAddresses } from "./quarantine.ts";
import { type SinkView, sinkViews } from "./sinks.ts";
import { DailyChanges, type DayCount, type EventCount, RecentEvents } from "./tallies.ts";

/** Everything the dashboard shows, computed in the background; a page view only renders it. */
export interface Snapshot {
  at: number;
  byReason: { reason: Reason; n: number }[];
  events24h: EventCount[];
  lastEvent: { type: string; receivedAt: number } | null;
  daily: DayCount[];
  sinks: SinkView[];
  changes: Awaited<ReturnType<typeof recentChanges>>;
  quarantine: {
    svixId: string;
    receivedAt: number;
    reason: string;
    type: string | null;
    addresses: string[];
    reprocessedAt: number | null;
  }[];
  quarantineCounts: { waiting: number; total: number };
}

/** Rows listed under recent changes and quarantined events. */
const LISTED = 25;
/** Without a page view for this long, the background refresh pauses: nobody is looking. */
const IDLE_MS = 10 * 60_000;

export interface UiStatsDeps {
  db: Db;
  config: Config;
  clock: () => number;
  /** The sync worker's view of each sink: state, last error, last success. */
  sinkHealth: SinkHealth;
  /** The newest delivery answered, stored or not (resend.recordIgnored). */
  metrics?: Metrics;
}

/**
 * The status page's cached aggregates. `start()` (the daemon) recomputes them every
 * `ui.refreshSeconds` while someone has looked in the last ten minutes; without it (tests, or
 * after an idle spell) `snapshot()` refreshes when the figures are too old. Page views never
 * query the aggregates themselves, so their cost does not grow with the list.
 */
export class UiStats {
  private current: Snapshot | null = null;
  private refreshing: Promise<Snapshot> | null = null;
  private readonly events = new RecentEvents();
  private readonly daily = new DailyChanges(30);
  private lastView = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: UiStatsDeps) {}

  start(): void {
    const every = this.deps.config.ui.refreshSeconds * 1000;
    this.timer = setInterval(() => {
      if (this.deps.clock() - this.lastView < IDLE_MS) void this.refresh().catch(() => {});
    }, every);
    this.timer.unref?.();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing?.catch(() => {});
  }

  /** The figures for a page view: cached, refreshed first only when older than two intervals. */
  async snapshot(): Promise<Snapshot> {
    const now = this.deps.clock();
    this.lastView = now;
    const every = this.deps.config.ui.refreshSeconds * 1000;
    const age = this.current ? now - this.current.at : Number.POSITIVE_INFINITY;
    if (age > 2 * every) return this.refresh();
    if (age > every) void this.refresh().catch(() => {});
    return this.current as Snapshot;
  }

  /** Recomputes everything once (one at a time); each query is bounded and yields in between. */
  refresh(): Promise<Snapshot> {
    this.refreshing ??= this.compute().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async compute(): Promise<Snapshot> {
    const db = this.deps.db.read;
    const now = this.deps.clock();
    await this.events.refresh(db, now);
    await this.daily.refresh(db, now);
    const quarantined = await recentQuarantine(db, LISTED);
    const snapshot: Snapshot = {
      at: now,
      byReason: await suppressedByReason(db),
      events24h: this.events.counts(),
      lastEvent: this.lastEvent(await lastEventReceived(db)),
      daily: this.daily.series(now),
      sinks: await sinkViews(db, this.deps.config, this.deps.sinkHealth, now),
      changes: await recentChanges(db, LISTED),
      quarantine: quarantined.map((q) => ({
        svixId: q.svix_id,
        receivedAt: q.received_at,
        reason: q.reason,
        reprocessedAt: q.reprocessed_at,
        ...quarantinedAddresses(q.body),
      })),
      quarantineCounts: await quarantineCounts(db),
    };
    this.current = snapshot;
    return snapshot;
  }

  private lastEvent(stored: Snapshot["lastEvent"]): Snapshot["lastEvent"] {
    return this.deps.metrics ? this.deps.metrics.lastEventAlso(stored) : stored;
  }
}

/** Counters of this process (memory, not the database): read at render time, they cost nothing. */
export function processCounters(metrics: Metrics) {
  return {
    signatureFailures: metrics.signatureFailures.get(),
    duplicates: metrics.duplicates.get(),
  };
}
