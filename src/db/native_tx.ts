import type { CompiledQuery } from "kysely";
import type { ExecResult, NativeConnection } from "./native.ts";
import type { TxRunner, TxStatements } from "./write_item.ts";

/**
 * The Writer thread's transactions on a native connection (native.ts): BEGIN IMMEDIATE, the
 * batch's statements, COMMIT. If anything throws, the transaction is rolled back and the
 * connection abandoned (native.ts).
 */
export class NativeTxRunner implements TxRunner {
  readonly waitsForLocks = true;

  constructor(private readonly connection: NativeConnection) {}

  async transaction<T>(fn: (tx: TxStatements) => Promise<T>, opts: { lockWaitMs: number }): Promise<T> {
    // Blocking this thread holds up nothing that need not wait for the lock anyway.
    this.connection.waitForLocks(opts.lockWaitMs);
    this.connection.execute("BEGIN IMMEDIATE", []);
    try {
      const result = await fn({
        exec: (text, args) => this.run(text, args),
        run: (q: CompiledQuery) => this.run(q.sql, q.parameters.map(toSql)),
      });
      this.connection.execute("COMMIT", []);
      return result;
    } catch (e) {
      this.connection.discard();
      throw e;
    }
  }

  private run(sql: string, args: readonly unknown[]): Promise<ExecResult> {
    return Promise.resolve(this.connection.execute(sql, args));
  }
}

/** Kysely's parameters as SQLite values, as @libsql/client converts them. */
export function toSql(value: unknown): unknown {
  if (typeof value === "boolean") return value ? 1 : 0;
  if (value === undefined) return null;
  return value;
}
