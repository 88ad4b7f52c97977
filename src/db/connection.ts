import type { Client, InArgs, InStatement, ResultSet } from "@libsql/client";

/**
 * One libSQL connection used by one caller at a time, that heals itself after SQLITE_BUSY.
 *
 * libsql 0.5 leaves a statement that failed with SQLITE_BUSY un-reset until the garbage collector
 * finalizes it. Until then SQLite counts it as running, so the next write on its connection never
 * commits and keeps the write lock (the daemon locked itself out and answered 503 until the GC
 * happened to run), and the next read keeps an old snapshot. Closing the connection is the only
 * cure the client offers, so a BUSY closes it before the error goes on; the next caller gets a
 * fresh one. Callers run one after another so that no one is using the connection when it closes,
 * which costs nothing: a local statement runs synchronously on the one JavaScript thread anyway.
 *
 * A libSQL server has no such statements left behind, and its round trips gain from running side
 * by side, so `shared: true` lets reads from a remote client overlap.
 */
export class Connection {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly client: Client,
    private readonly opts: {
      /** Settings to apply again to each new connection (PRAGMA synchronous). */
      setup?: (client: Client) => Promise<void>;
      /** Callers overlap and nothing heals (a remote client's reads). */
      shared?: boolean;
    } = {},
  ) {}

  /** Runs `fn` with the connection to itself (a transaction, several statements). */
  exclusive<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    if (this.opts.shared) return fn(this.client);
    const run = this.tail
      .then(() => fn(this.client))
      .catch(async (e: unknown) => {
        if (isBusy(e)) await this.replace();
        throw e;
      });
    this.tail = run.catch(() => {});
    return run;
  }

  execute(stmt: InStatement, args?: InArgs): Promise<ResultSet> {
    if (this.route) return this.route(stmt, args);
    return this.exclusive((c) => (args === undefined ? c.execute(stmt) : c.execute(stmt as string, args)));
  }

  private route: ((stmt: InStatement, args?: InArgs) => Promise<ResultSet>) | null = null;

  /**
   * Sends single statements (and so Kysely's queries on this connection) to `to` instead: the
   * daemon's writes to its Writer thread (writer_thread.ts), its reads to a native connection
   * (native_read.ts). Rows arrive as plain objects, read by column name. `exclusive`
   * (migrations, erasure's transactions) stays on this connection.
   */
  routeStatements(to: (stmt: InStatement, args?: InArgs) => Promise<ResultSet>): void {
    this.route = to;
  }

  close(): void {
    this.client.close();
  }

  private async replace() {
    await this.client.reconnect();
    await this.opts.setup?.(this.client);
  }
}

/** Another connection (or process) holds the lock SQLite needed. */
export function isBusy(e: unknown): boolean {
  const code = String((e as { code?: string })?.code ?? "");
  return /SQLITE_BUSY|SQLITE_LOCKED/.test(code) || /database is locked/i.test(String((e as Error)?.message));
}

/**
 * Runs a statement, waiting out SQLITE_BUSY (another process holds the write lock) with short
 * asynchronous sleeps, so the event loop keeps serving webhooks meanwhile.
 */
export async function withBusyRetry<T>(
  run: () => Promise<T>,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  waitMs = 10_000,
): Promise<T> {
  let waited = 0;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      return await run();
    } catch (e) {
      if (!isBusy(e) || waited >= waitMs) throw e;
      await sleep(delay);
      waited += delay;
    }
  }
}
