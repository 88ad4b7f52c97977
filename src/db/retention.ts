import type { Logger } from "../log.ts";
import type { Db } from "./client.ts";

const DAY_MS = 86_400_000;

export interface RetentionOptions {
  /** `retention.days`: rows received longer ago than this are pruned. */
  days: number;
  clock?: () => number;
  /** Rows per DELETE: one short write that a webhook commit waits behind for a few ms at most. */
  batchSize?: number;
  /** Pause between two batches, so ingest commits run in between. */
  pauseMs?: number;
  /** Time between two pruning runs. */
  intervalMs?: number;
  /** Delay before the first run, so pruning never competes with start-up. */
  firstRunMs?: number;
  log?: Logger;
  /** Told how many rows each batch deleted (the metrics counter). */
  onPruned?: (rows: number) => void;
}

/**
 * Deletes up to `limit` webhook_events rows received before `cutoff`: the idempotency keys of
 * processed and ignored deliveries. Quarantined ones stay (`events reprocess` needs their row),
 * and suppressions, their history and the outbox live in other tables. One autocommit statement
 * on the writer's connection, walking the received_at index: the writer's own transactions
 * queue behind it for its few milliseconds, never behind a long transaction.
 */
export async function pruneBatch(db: Db, cutoff: number, limit: number): Promise<number> {
  const result = await db.writer.execute({
    sql: `DELETE FROM webhook_events WHERE rowid IN (
            SELECT rowid FROM webhook_events
            WHERE received_at < ? AND status <> 'quarantined'
            ORDER BY received_at LIMIT ?)`,
    args: [cutoff, limit],
  });
  return result.rowsAffected;
}

/**
 * Deletes up to `limit` quarantined deliveries that `events reprocess` took over before `cutoff`:
 * their body (up to the request limit each) is kept as a record for `retention.days` after the
 * replay, not forever. Ones still quarantined stay until reprocessed.
 */
export async function pruneReprocessed(db: Db, cutoff: number, limit: number): Promise<number> {
  const result = await db.writer.execute({
    sql: `DELETE FROM quarantine WHERE rowid IN (
            SELECT rowid FROM quarantine
            WHERE reprocessed_at IS NOT NULL AND reprocessed_at < ?
            LIMIT ?)`,
    args: [cutoff, limit],
  });
  return result.rowsAffected;
}

/**
 * The background pruner: `start()` schedules runs, each run deletes batch after batch with a
 * pause between them until a batch comes back short. Nothing is held across batches, so a crash
 * or a stop mid-run loses nothing; the next run continues where this one stopped.
 */
export class Retention {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;
  private wake: (() => void) | null = null;
  private readonly clock: () => number;

  constructor(
    private readonly db: Db,
    private readonly opts: RetentionOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
  }

  start(): void {
    this.schedule(this.opts.firstRunMs ?? 60_000);
  }

  /** Prunes everything currently due; returns the number of rows deleted. */
  runOnce(): Promise<number> {
    this.running ??= this.run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** Cancels the schedule and waits for the batch in progress (never for a whole run). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
  }

  private schedule(delay: number) {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runOnce().finally(() => this.schedule(this.opts.intervalMs ?? 3_600_000));
    }, delay);
    this.timer.unref?.();
  }

  private async run(): Promise<number> {
    const started = performance.now();
    const cutoff = this.clock() - this.opts.days * DAY_MS;
    const limit = this.opts.batchSize ?? 1000;
    let total = 0;
    try {
      for (const prune of [pruneBatch, pruneReprocessed]) {
        while (!this.stopped) {
          const n = await prune(this.db, cutoff, limit);
          total += n;
          if (n > 0) this.opts.onPruned?.(n);
          if (n < limit) break;
          await this.pause(this.opts.pauseMs ?? 50);
        }
      }
    } catch (e) {
      // A locked database (another instance writing) or a closing client: the next run retries.
      this.opts.log?.log("warn", "retention paused", {
        error: String((e as Error)?.message ?? e),
        deleted: total,
      });
      return total;
    }
    if (total > 0) {
      this.opts.log?.log("info", "retention pruned", {
        deleted: total,
        older_than: new Date(cutoff).toISOString(),
        duration_ms: Math.round(performance.now() - started),
      });
    }
    return total;
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
}
