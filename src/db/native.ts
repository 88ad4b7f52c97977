import Database from "libsql";
import { isBusy } from "./connection.ts";

type Statement = ReturnType<Database.Database["prepare"]>;

/** How long one try at another process's write lock waits in SQLite's busy handler. */
const POLL_MS = 4;
/** Atomics.wait on this sleeps the calling thread (a worker's; never the main thread's). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** A result as Kysely's dialect and the callers of `execute` read it. */
export interface ExecResult {
  rows: Record<string, unknown>[];
  rowsAffected: number;
  lastInsertRowid: bigint | undefined;
}

/**
 * One connection through libSQL's native binding (the `libsql` package, which @libsql/client
 * itself wraps), keeping the most recently used statement texts prepared (issue 14).
 * @libsql/client prepares every statement on every execute, asks for its columns twice and
 * converts every integer from a BigInt: about 30% of a group commit's CPU (bench/writer.ts) and
 * most of a lookup's.
 *
 * Why a statement cache was dropped before, and why this one is safe: libsql's API cannot reset
 * a statement, and one that failed with SQLITE_BUSY stays "running": the next statement on its
 * connection joins its implicit transaction and never commits, holding the write lock for good
 * (test/db/native.test.ts shows it). `close()` does not help while statements still refer to the
 * connection. So after any error the transaction is rolled back (which releases the lock) and the
 * connection is abandoned with all its statements, to be finalized by the garbage collector; the
 * next call opens a fresh one. What an abandoned connection still holds is at most a read
 * snapshot, which blocks no writer.
 */
export class NativeConnection {
  private db: Database.Database | null = null;
  private statements = new Map<string, Statement>();
  private busyTimeoutMs: number;
  /** A BEGIN met SQLITE_BUSY and has not run again (see executeWaiting). */
  private stalledBegin = false;

  constructor(
    private readonly path: string,
    private readonly opts: {
      busyTimeoutMs: number;
      /** Run on each new connection (PRAGMA synchronous). */
      setup?: string;
      /** Statement texts kept prepared; queries with IN lists of many lengths make many texts. */
      capacity?: number;
    },
  ) {
    this.busyTimeoutMs = opts.busyTimeoutMs;
  }

  /**
   * How long the next statements wait in SQLite's busy handler for another connection's lock
   * (`PRAGMA busy_timeout`), blocking the calling thread.
   */
  waitForLocks(ms: number): void {
    const wanted = Math.round(ms);
    if (wanted === this.busyTimeoutMs && this.db !== null) return;
    this.busyTimeoutMs = wanted;
    this.db?.exec(`PRAGMA busy_timeout = ${wanted}`);
  }

  /** Runs one statement; an error closes the connection before it goes on. */
  execute(sql: string, args: readonly unknown[]): ExecResult {
    if (this.stalledBegin) {
      // A programming error, not a database's: see executeWaiting for what it would cost.
      throw new Error("a BEGIN that met SQLITE_BUSY must run again before any other statement");
    }
    try {
      const stmt = this.prepared(sql);
      if (stmt.reader) {
        return {
          rows: stmt.all(args) as Record<string, unknown>[],
          rowsAffected: 0,
          lastInsertRowid: undefined,
        };
      }
      const info = stmt.run(args);
      return { rows: [], rowsAffected: info.changes, lastInsertRowid: BigInt(info.lastInsertRowid) };
    } catch (e) {
      this.discard();
      throw e;
    }
  }

  /**
   * One statement in a transaction of its own, waiting for another process's write lock until
   * `deadline` (epoch ms) by asking again every few milliseconds (`tryBegin`): in SQLite's busy
   * handler a sync worker's lease renewal once lost the race to a second daemon's writer for over
   * 10 s, and that daemon sent its jobs again (test/reliability/instances.test.ts). The pauses
   * block this thread, which holds up only writes that must wait anyway.
   *
   * Why BEGIN first, not the statement alone: the Writer's BEGIN on this connection may have met
   * SQLITE_BUSY and be waiting to run again. Until it does, SQLite counts it as a running write, so
   * a lone statement run meanwhile does not commit when it ends, and the BEGIN's rerun then rolls
   * it back: a claim returned its rows and vanished, and the other daemon sent the same 40 jobs
   * (test/db/native.test.ts shows it). A BEGIN here is that rerun.
   */
  executeWaiting(sql: string, args: readonly unknown[], deadline: number): ExecResult {
    while (!this.tryBegin(deadline)) Atomics.wait(PAUSE, 0, 0, 1);
    const result = this.execute(sql, args);
    this.execute("COMMIT", []);
    return result;
  }

  /**
   * One try at BEGIN IMMEDIATE, waiting at most a few milliseconds in SQLite's busy handler: true
   * when the transaction is open; false while another process holds the write lock and `deadline`
   * (epoch ms) has not passed, for the caller to pause a moment and ask again (after it, the
   * SQLITE_BUSY is thrown). SQLite's own handler sleeps longer and longer, up to 100 ms a try:
   * against a second daemon committing back to back it lost the race for most of a second (p99
   * 824 ms in bench/two_instances.ts); asking every few milliseconds keeps the turns fair.
   */
  tryBegin(deadline: number): boolean {
    this.waitForLocks(Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
    try {
      this.begin();
      return true;
    } catch (e) {
      if (!isBusy(e) || Date.now() >= deadline) throw e;
      return false;
    }
  }

  /**
   * BEGIN IMMEDIATE. Unlike `execute`, SQLITE_BUSY here keeps the connection: the BEGIN took no
   * lock and opened nothing, and running its statement again resets it (test/db/native.test.ts).
   */
  begin(): void {
    const stmt = this.prepared("BEGIN IMMEDIATE");
    try {
      stmt.run([]);
      this.stalledBegin = false;
    } catch (e) {
      if (!isBusy(e)) this.discard();
      else this.stalledBegin = true;
      throw e;
    }
  }

  /** Rolls back what is open and abandons the connection (see above); also the way to close it. */
  discard(): void {
    const db = this.db;
    this.db = null;
    this.statements = new Map();
    this.stalledBegin = false;
    if (db === null) return;
    try {
      if (db.inTransaction) db.exec("ROLLBACK");
    } catch {
      // Nothing was open after all, or the connection is unusable: it is abandoned either way.
    }
    db.close();
  }

  close(): void {
    this.discard();
  }

  private prepared(sql: string): Statement {
    let stmt = this.statements.get(sql);
    if (stmt !== undefined) {
      // Most recently used last: the first key is the one to evict.
      this.statements.delete(sql);
      this.statements.set(sql, stmt);
      return stmt;
    }
    if (this.db === null) {
      this.db = new Database(this.path, { timeout: this.busyTimeoutMs });
      if (this.opts.setup) this.db.exec(this.opts.setup);
    }
    stmt = this.db.prepare(sql);
    this.statements.set(sql, stmt);
    if (this.statements.size > (this.opts.capacity ?? 256)) {
      this.statements.delete(this.statements.keys().next().value as string);
    }
    return stmt;
  }
}
