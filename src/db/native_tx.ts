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
    await this.begin(Date.now() + opts.lockWaitMs);
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

  /** BEGIN IMMEDIATE, asking again every millisecond or so until `deadline` (native.ts, tryBegin). */
  private async begin(deadline: number): Promise<void> {
    while (!this.connection.tryBegin(deadline)) await new Promise((r) => setTimeout(r, 1));
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
