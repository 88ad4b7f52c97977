import { AppError, unavailable } from "../errors.ts";
import type { DatabaseOptions } from "./client.ts";
import type { WriteItem, WriteQueue, WriteResult, WriterOptions } from "./writer.ts";
import type { FromWorker, ToWorker } from "./writer_worker.ts";

/**
 * The Writer on a thread of its own. With @libsql/client a local commit is synchronous native
 * code, fsync included, so on the main thread every commit stopped HTTP for its duration; here
 * the main thread verifies and parses the next requests while the writer thread commits the last
 * ones. Semantics are the Writer's: a result arrives only after its transaction committed.
 */
export class ThreadedWriter implements WriteQueue {
  private readonly pending = new Map<
    number,
    { resolve: (r: WriteResult) => void; reject: (e: unknown) => void }
  >();
  private queue: { id: number; item: WriteItem }[] = [];
  private scheduled = false;
  private nextId = 1;
  private closed = false;
  private onClosed: (() => void) | null = null;

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    worker.onerror = (e) => this.fail(`the writer thread stopped: ${e.message}`);
  }

  /** Starts the thread, which opens its own connection to the (already migrated) database. */
  static async start(
    database: DatabaseOptions,
    options: Omit<WriterOptions, "clock">,
  ): Promise<ThreadedWriter> {
    const worker = new Worker(workerSpecifier(), { type: "module" });
    const ready = new Promise<void>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "ready") resolve();
        else if (e.data.type === "failed") reject(new AppError(500, "database", e.data.message, 69));
      };
      worker.onerror = (e) => reject(new Error(`the writer thread did not start: ${e.message}`));
    });
    const message: ToWorker = { type: "init", database, options };
    worker.postMessage(message);
    try {
      await ready;
    } catch (e) {
      worker.terminate();
      throw e;
    }
    return new ThreadedWriter(worker);
  }

  submit(item: WriteItem): Promise<WriteResult> {
    if (this.closed) return Promise.reject(unavailable("suppressd is shutting down; retry shortly."));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.queue.push({ id, item });
      if (this.scheduled) return;
      this.scheduled = true;
      // One message per turn of the event loop carries every item that arrived in it.
      setImmediate(() => {
        this.scheduled = false;
        const items = this.queue;
        this.queue = [];
        this.post({ type: "submit", items });
      });
    });
  }

  /** Waits for everything submitted to commit, then closes the thread's connection and the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.scheduled) await new Promise((r) => setImmediate(r));
    await new Promise<void>((resolve) => {
      this.onClosed = resolve;
      this.post({ type: "close" });
    });
    this.worker.terminate();
  }

  private post(message: ToWorker) {
    this.worker.postMessage(message);
  }

  private receive(msg: FromWorker) {
    if (msg.type === "closed") {
      this.onClosed?.();
      return;
    }
    if (msg.type !== "results") return;
    for (const r of msg.results) {
      const p = this.pending.get(r.id);
      if (!p) continue;
      this.pending.delete(r.id);
      if ("result" in r) p.resolve(r.result);
      else p.reject(new AppError(r.error.status, r.error.code, r.error.message));
    }
  }

  /** The thread died: nothing it had not answered is known to be stored, so all of it gets 503. */
  private fail(reason: string) {
    console.error(JSON.stringify({ level: "error", msg: "writer thread failed", error: reason }));
    for (const p of this.pending.values())
      p.reject(unavailable(`${reason}; nothing was stored, retry later.`));
    this.pending.clear();
    this.closed = true;
    this.onClosed?.();
  }
}

/**
 * From source (Bun or Deno) the worker is the module beside this one. In a compiled binary it is
 * an extra entry point (scripts/build.ts), embedded under its path relative to src/; there
 * import.meta.url names the binary, not this file, so it is addressed by that path.
 */
function workerSpecifier(): string {
  const compiled = typeof Bun !== "undefined" && Bun.main.startsWith("/$bunfs/");
  return compiled ? "./db/writer_worker.ts" : new URL("./writer_worker.ts", import.meta.url).href;
}
