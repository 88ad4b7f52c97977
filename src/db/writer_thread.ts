import type { InArgs, InStatement, ResultSet } from "@libsql/client";
import { AppError, type ErrorKind, unavailable } from "../errors.ts";
import type { Level, Logger } from "../log.ts";
import type { DatabaseOptions, Db } from "./client.ts";
import type { ExecResult } from "./native.ts";
import type { WriteItem, WriteQueue, WriteResult, WriterOptions } from "./writer.ts";
import type { FromWorker, ToWorker } from "./writer_worker.ts";

/** A caller waiting for the thread: an item's result, or a routed statement's rows. */
type Waiter = { resolve: (r: WriteResult | ExecResult) => void; reject: (e: unknown) => void };

/** What the thread needs to build its Writer: everything but the clock and the logger. */
export type ThreadOptions = Omit<WriterOptions, "clock" | "log">;

/**
 * The Writer on a thread of its own (issue 14). A local libSQL commit is synchronous native code
 * (its statements and fsync), and on the main thread it stopped HTTP for ~1 ms a batch, about
 * half the wall time under ingest, while the second core sat mostly idle. Here the main thread
 * verifies, parses and answers the next requests (and reads for GET) while the thread commits
 * the previous ones. The semantics are the Writer's: a result arrives only after its transaction
 * committed. Items cross in one message per turn of the event loop each way.
 */
export class ThreadedWriter implements WriteQueue {
  /** What the thread has not answered yet, submitted items and routed statements alike. */
  private readonly waiting = new Map<number, Waiter>();
  private queue: { id: number; item: WriteItem }[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;
  private dead: string | null = null;
  private onClosed: (() => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly log: Logger,
  ) {
    worker.onmessage = (e: MessageEvent<string>) => this.receive(JSON.parse(e.data) as FromWorker);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.fail(`the writer thread stopped: ${e.message}`);
    };
    // Bun reports a thread that ended without an error (terminated, exited) only as "close".
    worker.addEventListener("close", () => {
      if (!this.closed) this.fail("the writer thread ended");
    });
  }

  /**
   * Starts the thread, which opens its own connection to the (already migrated) database, and
   * sends `db`'s single write statements to it from then on (see `execute`).
   */
  static async start(
    database: DatabaseOptions,
    options: ThreadOptions,
    log: Logger,
    db: Db,
  ): Promise<ThreadedWriter> {
    // smol: a small JavaScriptCore heap; the thread holds one batch at a time.
    const worker = new Worker(workerSpecifier(), { type: "module", smol: true } as WorkerOptions);
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<string>) => {
        const msg = JSON.parse(e.data) as FromWorker;
        if (msg.type === "ready") resolve();
        else if (msg.type === "failed") reject(new AppError("unavailable", "database", msg.message));
      };
      worker.onerror = (e) => {
        e.preventDefault?.();
        reject(new AppError("internal", "writer_thread", `the writer thread did not start: ${e.message}`));
      };
    });
    post(worker, { type: "init", database, options });
    try {
      await ready;
    } catch (e) {
      worker.terminate();
      throw e;
    }
    const writer = new ThreadedWriter(worker, log);
    // Rows arrive as plain objects, which is how the daemon's code reads them (by column name).
    db.writer.routeStatements((stmt, args) => writer.execute(stmt, args) as unknown as Promise<ResultSet>);
    return writer;
  }

  submit(item: WriteItem): Promise<WriteResult> {
    if (this.closed || this.dead !== null) {
      return Promise.reject(unavailable(`${this.dead ?? "suppressd is shutting down"}; retry shortly.`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as Waiter["resolve"], reject });
      this.queue.push({ id, item });
      if (this.scheduled) return;
      this.scheduled = true;
      // setImmediate: every request already read in this turn goes in the same message, and so
      // in the same group commit.
      setImmediate(() => this.send());
    });
  }

  /**
   * One statement on the thread's connection, in a transaction of its own between the Writer's
   * (native.ts, executeWaiting): the main thread's other writes (the outbox, retention) go here,
   * so no two connections of this process contend for SQLite's write lock, and none of them makes
   * the event loop wait in SQLite's busy handler. Kysely's dialect runs on it (`db.write`).
   */
  execute(stmt: InStatement, args?: InArgs): Promise<ExecResult> {
    if (this.closed || this.dead !== null) {
      return Promise.reject(unavailable(`${this.dead ?? "suppressd is shutting down"}; retry shortly.`));
    }
    const sql = typeof stmt === "string" ? stmt : stmt.sql;
    const given = args ?? (typeof stmt === "string" ? [] : stmt.args);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as Waiter["resolve"], reject });
      post(this.worker, { type: "exec", id, sql, args: Array.isArray(given) ? [...given] : [] });
    });
  }

  /** Waits for everything submitted to commit, then closes the thread's connection and the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.scheduled) this.send();
    if (this.dead === null) {
      await new Promise<void>((resolve) => {
        this.onClosed = resolve;
        post(this.worker, { type: "close" });
      });
    }
    this.worker.terminate();
  }

  private send() {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.queue = [];
    // Sent with the time it left: a request's wait for a lock counts from here, not from when the
    // thread, perhaps itself waiting for the lock, reads the message.
    post(this.worker, {
      type: "submit",
      at: Date.now(),
      items: items.map(({ id, item }) => ({ id, item: toWire(item) })),
    });
  }

  private receive(msg: FromWorker) {
    if (msg.type === "closed") {
      this.onClosed?.();
    } else if (msg.type === "log") {
      this.log.log(msg.level, msg.msg, msg.fields);
    } else if (msg.type === "results") {
      for (const r of msg.results) {
        const p = this.waiting.get(r.id);
        if (!p) continue;
        this.waiting.delete(r.id);
        if ("result" in r) p.resolve(r.result);
        else if ("rows" in r) p.resolve(fromWireResult(r.rows));
        else p.reject(toError(r.error));
      }
    }
  }

  /**
   * The thread died: nothing it had not answered is known to be stored, so all of it gets 503,
   * the routed statements (a sync claim, a lease renewal) included.
   */
  private fail(reason: string) {
    if (this.dead !== null) return;
    this.dead = reason;
    this.log.log("error", "writer thread failed", { error: reason });
    for (const p of this.waiting.values())
      p.reject(unavailable(`${reason}; nothing was stored, retry later.`));
    this.waiting.clear();
    this.onClosed?.();
  }
}

/**
 * Messages cross as JSON text: Bun passes a string between threads without copying it, while its
 * structured clone of a batch's objects cost 12% of the main thread under ingest (profiled).
 */
export function post(to: { postMessage(text: string): void }, msg: ToWorker | FromWorker) {
  to.postMessage(JSON.stringify(msg));
}

/** A quarantined body's bytes travel as base64 inside the JSON text. */
export type WireItem = Omit<WriteItem, "quarantine"> & { quarantine?: { reason: string; body: string } };

function toWire(item: WriteItem): WireItem {
  if (!item.quarantine) return item as WireItem;
  const { reason, body } = item.quarantine;
  return { ...item, quarantine: { reason, body: Buffer.from(body).toString("base64") } };
}

export function fromWire(item: WireItem): WriteItem {
  if (!item.quarantine) return item as WriteItem;
  const { reason, body } = item.quarantine;
  return { ...item, quarantine: { reason, body: new Uint8Array(Buffer.from(body, "base64")) } };
}

/**
 * What crosses from the thread when a commit or statement failed: an AppError's parts, or
 * SQLite's code and message (`kind: "sqlite"`).
 */
export interface SerializedError {
  kind: ErrorKind | "sqlite";
  code: string;
  message: string;
}

function toError(e: SerializedError): Error {
  if (e.kind !== "sqlite") return new AppError(e.kind, e.code, e.message);
  return Object.assign(new Error(e.message), { code: e.code });
}

/** A statement's result as JSON carries it (the row id as a number). */
export interface WireResult {
  rows: Record<string, unknown>[];
  rowsAffected: number;
  lastInsertRowid: number | null;
}

function fromWireResult(r: WireResult): ExecResult {
  const rowid = r.lastInsertRowid === null ? undefined : BigInt(r.lastInsertRowid);
  return { rows: r.rows, rowsAffected: r.rowsAffected, lastInsertRowid: rowid };
}

export type LogMessage = { type: "log"; level: Level; msg: string; fields?: Record<string, unknown> };

/**
 * From source (Bun or Deno) the worker is the module beside this one. In a compiled binary it is
 * an extra entry point (scripts/build.ts), embedded under its path relative to src/; there
 * import.meta.url names the binary, not this file, so it is addressed by that path.
 */
function workerSpecifier(): string {
  const compiled = typeof Bun !== "undefined" && Bun.main.startsWith("/$bunfs/");
  return compiled ? "./db/writer_worker.ts" : new URL("./writer_worker.ts", import.meta.url).href;
}
