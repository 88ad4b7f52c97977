import Database from "libsql";
import { isBusy } from "./connection.ts";

type Statement = ReturnType<Database.Database["prepare"]>;

/** How long one try at another process's write lock waits in SQLite's busy handler. */
export const POLL_MS = 4;

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
   * BEGIN IMMEDIATE. Unlike `execute`, SQLITE_BUSY here keeps the connection: the BEGIN took no
   * lock and opened nothing, and running its statement again resets it (test/db/native.test.ts).
   */
  begin(): void {
    const stmt = this.prepared("BEGIN IMMEDIATE");
    try {
      stmt.run([]);
    } catch (e) {
      if (!isBusy(e)) this.discard();
      throw e;
    }
  }

  /** Rolls back what is open and abandons the connection (see above); also the way to close it. */
  discard(): void {
    const db = this.db;
    this.db = null;
    this.statements = new Map();
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
