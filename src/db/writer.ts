import type { InArgs } from "@libsql/client";
import type { Kysely } from "kysely";
import { AppError, unavailable } from "../errors.ts";
import { jsonLogger, type Logger } from "../log.ts";
import type { SoftBounceRule } from "../suppression/policy.ts";
import type { Db } from "./client.ts";
import { isBusy, withBusyRetry } from "./connection.ts";
import { toStatement } from "./dialect.ts";
import { jsonParam } from "./json_param.ts";
import type { Database } from "./schema.ts";
import { applyBatch } from "./write_batch.ts";
import type { SinkTarget, Tx, TxRunner, WriteItem, WriteResult } from "./write_item.ts";

export type { SinkTarget, WriteItem, WriteResult, WriteStatus } from "./write_item.ts";

/** @libsql/client's interactive transaction on the Db's write connection (see Connection). */
function clientConnection(db: Db): TxRunner {
  return {
    waitsForLocks: false,
    transaction: (fn) =>
      db.writer.exclusive(async (client) => {
        const t = await client.transaction("write");
        try {
          const result = await fn({
            exec: (sql, args) => t.execute({ sql, args: args as InArgs }),
            run: (q) => t.execute(toStatement(q)),
          });
          await t.commit();
          return result;
        } finally {
          t.close();
        }
      }),
  };
}

export interface WriterOptions {
  softBounce: SoftBounceRule;
  sinks: readonly SinkTarget[];
  clock?: () => number;
  /** Items per transaction; more waiting items go in the next one. */
  maxBatch?: number;
  /** How long a batch keeps retrying a locked database before its callers get 503. */
  lockWaitMs?: number;
  /** Where a failed commit is logged; defaults to error lines on stderr (the CLI's writer). */
  log?: Logger;
  /**
   * `privacy.hashKey`: with it, events about an address erased with `--keep-suppressed` are
   * dropped (acknowledged, nothing stored): it stays suppressed by its hash alone.
   */
  hashKey?: string | null;
}

/** What the HTTP layer writes through: all it needs of the Writer. */
export interface WriteQueue {
  submit(item: WriteItem): Promise<WriteResult>;
  /** Stops taking work and waits for everything queued to commit. */
  close(): Promise<void>;
}

interface Pending {
  item: WriteItem;
  /** When it was submitted (epoch ms): its wait for a lock counts from here. */
  queuedAt: number;
  resolve: (r: WriteResult) => void;
  reject: (e: unknown) => void;
}

/**
 * The single writer. Requests queue here and are committed together: one transaction and one fsync
 * for everything that arrived while the previous commit ran (group commit). Every caller's promise
 * settles only after its transaction committed, so a 200 always means "durably stored". What a
 * batch does inside its transaction is write_batch.ts.
 *
 * Crash safety: nothing is kept in memory across commits. A crash before COMMIT loses only
 * unanswered requests, which Resend retries; after COMMIT the outbox rows written in the same
 * transaction let the sync worker finish the job after restart.
 */
export class Writer implements WriteQueue {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly clock: () => number;
  private readonly log: Logger;
  readonly stats = { batches: 0, items: 0 };

  private readonly connection: TxRunner;
  private readonly build: Kysely<Database>;

  /** On a `Db`'s write connection, or on a connection of its own (the Writer's thread). */
  constructor(
    db: Db | { connection: TxRunner; build: Kysely<Database> },
    private readonly opts: WriterOptions,
  ) {
    this.connection = "connection" in db ? db.connection : clientConnection(db);
    this.build = "connection" in db ? db.build : db.read;
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? jsonLogger("error", (line) => process.stderr.write(line));
  }

  /** `queuedAt`: when the caller received it (the thread's callers pass the main thread's time). */
  submit(item: WriteItem, queuedAt = Date.now()): Promise<WriteResult> {
    if (this.closed) return Promise.reject(unavailable("suppressd is shutting down; retry shortly."));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, queuedAt, resolve, reject });
      this.schedule();
    });
  }

  /** Stops taking work and waits for everything queued to commit. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.schedule();
      await (this.running ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule() {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // setImmediate, not a microtask: it lets the event loop read every request that is already
    // waiting on a socket before we commit, so a batch holds many requests, not one.
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.flush().finally(() => {
        this.running = null;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async flush() {
    const batch = this.queue.splice(0, this.opts.maxBatch ?? 1000);
    try {
      const results = await this.commit(
        batch.map((p) => p.item),
        batch[0]?.queuedAt ?? Date.now(), // the oldest: the queue is in arrival order
      );
      for (const [i, p] of batch.entries()) p.resolve(results[i] as WriteResult);
    } catch (e) {
      if (batch.length > 1 && !isBusy(e)) {
        // One bad item must not fail its neighbours: commit each alone so only it fails.
        for (const p of batch) {
          await this.commit([p.item], p.queuedAt).then(
            (r) => p.resolve(r[0] as WriteResult),
            (e) => p.reject(this.asUnavailable(e)),
          );
        }
        return;
      }
      const error = this.asUnavailable(e);
      for (const p of batch) p.reject(error);
    }
  }

  /**
   * One transaction for `items`. SQLITE_BUSY (another process holds the write lock) is waited out
   * until `lockWaitMs` after the oldest item was submitted: by the connection itself on the
   * Writer's thread (native_tx.ts), else with short asynchronous sleeps, so the
   * event loop keeps serving webhooks meanwhile (the connection has already replaced itself,
   * see Connection).
   */
  private commit(items: WriteItem[], queuedAt: number): Promise<WriteResult[]> {
    const waitMs = this.opts.lockWaitMs ?? 10_000;
    const attempt = () =>
      this.connection.transaction(
        async (statements) => {
          const tx: Tx = {
            exec: (text, rows, arg) =>
              statements.exec(text, arg === undefined ? [jsonParam(rows)] : [jsonParam(rows), arg]),
            run: statements.run,
            build: this.build, // only to compile: the statements run on the transaction
            now: this.clock(),
          };
          const results = await applyBatch(tx, items, this.opts);
          this.stats.batches++;
          this.stats.items += items.length;
          return results;
        },
        { lockWaitMs: Math.max(0, queuedAt + waitMs - Date.now()) },
      );
    return this.connection.waitsForLocks ? attempt() : withBusyRetry(attempt, undefined, waitMs);
  }

  private asUnavailable(e: unknown): AppError {
    if (e instanceof AppError) return e;
    const reason = isBusy(e) ? "the database is locked by another process" : "the database could not commit";
    this.log.log("error", "commit failed", { error: String((e as Error)?.message ?? e) });
    return unavailable(`${reason}; nothing was stored, retry later.`);
  }
}
