import type { Kysely } from "kysely";
import type { Database } from "../db/schema.ts";
import {
  changeCounts,
  historyIdBefore,
  lastHistoryId,
  lastWebhookRowid,
  webhookCounts,
  webhookRowidBefore,
} from "../db/ui_queries.ts";

/**
 * Counts over a sliding window, kept up to date by reading only the rows appended since the last
 * refresh. A GROUP BY over a day of deliveries or a month of history would block the event loop
 * (libSQL's local calls are synchronous) for as long as it reads; here each step reads at most
 * CHUNK rows by rowid and yields in between, so webhooks keep being answered.
 */
const CHUNK = 10_000;

const DAY = 86_400_000;
/** Deliveries are counted in 5-minute buckets: the 24 h window is exact to 5 minutes. */
const EVENT_BUCKET = 300_000;

const turn = () => new Promise((r) => setImmediate(r));

/** Adds `n` at `key` within `bucket`, dropping buckets older than `oldest`. */
class Buckets {
  private readonly map = new Map<number, Map<string, number>>();
  add(bucket: number, key: string, n: number) {
    const m = this.map.get(bucket) ?? new Map<string, number>();
    this.map.set(bucket, m);
    m.set(key, (m.get(key) ?? 0) + n);
  }
  prune(oldest: number) {
    for (const b of this.map.keys()) if (b < oldest) this.map.delete(b);
  }
  entries(): [number, Map<string, number>][] {
    return [...this.map.entries()];
  }
}

export interface EventCount {
  type: string;
  status: string;
  n: number;
}

/** Deliveries received in the last 24 hours, by type and outcome. */
export class RecentEvents {
  private readonly buckets = new Buckets();
  private cursor: number | null = null;

  async refresh(db: Kysely<Database>, now: number): Promise<void> {
    const since = Math.floor((now - DAY) / EVENT_BUCKET) * EVENT_BUCKET;
    // After a long pause, rows older than the window need not be read at all.
    const start = await webhookRowidBefore(db, since);
    let from = Math.max(this.cursor ?? start, start);
    const last = await lastWebhookRowid(db);
    while (from < last) {
      const to = Math.min(last, from + CHUNK);
      for (const r of await webhookCounts(db, from, to, EVENT_BUCKET))
        if (r.bucket >= since) this.buckets.add(r.bucket, `${r.type}\u0000${r.status}`, r.n);
      from = to;
      await turn();
    }
    this.cursor = from;
    this.buckets.prune(since);
  }

  counts(): EventCount[] {
    const total = new Map<string, number>();
    for (const [, m] of this.buckets.entries()) for (const [k, n] of m) total.set(k, (total.get(k) ?? 0) + n);
    return [...total.entries()]
      .map(([k, n]) => {
        const [type = "", status = ""] = k.split("\u0000");
        return { type, status, n };
      })
      .sort((a, b) => b.n - a.n || a.type.localeCompare(b.type) || a.status.localeCompare(b.status));
  }
}

export interface DayCount {
  /** Start of the UTC day, ms. */
  day: number;
  added: number;
  lifted: number;
}

/** Suppressions added and lifted per UTC day, over the last `days` days (today included). */
export class DailyChanges {
  private readonly buckets = new Buckets();
  private cursor: number | null = null;

  constructor(private readonly days = 30) {}

  async refresh(db: Kysely<Database>, now: number): Promise<void> {
    const since = this.firstDay(now);
    if (this.cursor === null) this.cursor = await historyIdBefore(db, since);
    let from = this.cursor;
    const last = await lastHistoryId(db);
    while (from < last) {
      const to = Math.min(last, from + CHUNK);
      for (const r of await changeCounts(db, from, to))
        if (r.day >= since) this.buckets.add(r.day, r.decision, r.n);
      from = to;
      await turn();
    }
    this.cursor = from;
    this.buckets.prune(since);
  }

  series(now: number): DayCount[] {
    const byDay = new Map(this.buckets.entries());
    const first = this.firstDay(now);
    return Array.from({ length: this.days }, (_, i) => {
      const day = first + i * DAY;
      const m = byDay.get(day);
      return { day, added: m?.get("suppressed") ?? 0, lifted: m?.get("lifted") ?? 0 };
    });
  }

  private firstDay(now: number): number {
    return Math.floor(now / DAY) * DAY - (this.days - 1) * DAY;
  }
}
