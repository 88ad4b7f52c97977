import Database from "libsql";

type Statement = ReturnType<Database.Database["prepare"]>;

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
 * Why a statement cache was dropped before, and why this one is safe: a statement that fails
 * (SQLITE_BUSY above all) is left un-reset by libsql and keeps its transaction, and with it the
 * write lock or an old snapshot, alive. Here any error closes the whole connection, which rolls
 * back what was open and releases every statement; the next call opens a fresh one.
 */
export class NativeConnection {
  private db: Database.Database | null = null;
  private statements = new Map<string, Statement>();

  constructor(
    private readonly path: string,
    private readonly opts: {
      busyTimeoutMs: number;
      /** Run on each new connection (PRAGMA synchronous). */
      setup?: string;
      /** Statement texts kept prepared; queries with IN lists of many lengths make many texts. */
      capacity?: number;
    },
  ) {}

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
      this.close();
      throw e;
    }
  }

  close(): void {
    const db = this.db;
    this.db = null;
    this.statements = new Map();
    db?.close();
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
      this.db = new Database(this.path, { timeout: this.opts.busyTimeoutMs });
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
