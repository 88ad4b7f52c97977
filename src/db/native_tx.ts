import type { CompiledQuery } from "kysely";
import Database from "libsql";
import type { TxRunner, TxStatements } from "./write_item.ts";

type Statement = ReturnType<Database.Database["prepare"]>;

/**
 * The Writer thread's connection: libSQL's native binding (the `libsql` package that
 * @libsql/client itself wraps), with each statement prepared once (issue 14). @libsql/client
 * prepares every statement on every execute and asks for its columns twice; for the Writer's
 * handful of fixed texts that was about 30% of a group commit's CPU (bench/writer.ts).
 *
 * Why a cache was dropped before, and why this one is safe: a statement that fails (SQLITE_BUSY
 * above all) is left un-reset by libsql and keeps its transaction, and so the write lock, alive.
 * Here any error closes the whole connection, which rolls the transaction back and releases every
 * statement with it; the next transaction opens a fresh connection and prepares afresh.
 */
export class NativeWriteConnection implements TxRunner {
  private db: Database.Database | null = null;
  private statements = new Map<string, Statement>();

  constructor(
    private readonly path: string,
    private readonly busyTimeoutMs: number,
    /** FULL: every acknowledged commit survives a power loss, as on the main connection (client.ts). */
    private readonly synchronous: "FULL" | "OFF" = "FULL",
  ) {}

  async transaction<T>(fn: (tx: TxStatements) => Promise<T>): Promise<T> {
    this.prepared("BEGIN IMMEDIATE").run([]);
    try {
      const result = await fn({
        exec: (text, args) => this.execute(text, args),
        run: (q: CompiledQuery) => this.execute(q.sql, q.parameters.map(toSql)),
      });
      this.prepared("COMMIT").run([]);
      return result;
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

  private execute(text: string, args: readonly unknown[]): Promise<{ rows: Record<string, unknown>[] }> {
    const stmt = this.prepared(text);
    if (stmt.reader) return Promise.resolve({ rows: stmt.all(args) as Record<string, unknown>[] });
    stmt.run(args);
    return Promise.resolve({ rows: [] });
  }

  private prepared(text: string): Statement {
    let stmt = this.statements.get(text);
    if (stmt === undefined) {
      stmt = this.open().prepare(text);
      this.statements.set(text, stmt);
    }
    return stmt;
  }

  private open(): Database.Database {
    if (this.db === null) {
      this.db = new Database(this.path, { timeout: this.busyTimeoutMs });
      this.db.exec(`PRAGMA synchronous=${this.synchronous}`);
    }
    return this.db;
  }
}

/** Kysely's parameters as SQLite values, as @libsql/client converts them. */
function toSql(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value === undefined) return null;
  return value;
}
