import type { CompiledQuery } from "kysely";
import { isBusy } from "./connection.ts";
import { type ExecResult, type NativeConnection, POLL_MS } from "./native.ts";
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

  /**
   * BEGIN IMMEDIATE, asking again every few milliseconds until `deadline` while another process
   * holds the write lock. SQLite's own busy handler sleeps longer and longer (up to 100 ms a
   * try), so against a second daemon committing back to back it lost the race for most of a
   * second (p99 824 ms in bench/two_instances.ts); short waits keep the turns fair. A BEGIN that
   * met SQLITE_BUSY left nothing open, so the connection is kept (native.ts).
   */
  private async begin(deadline: number): Promise<void> {
    for (;;) {
      this.connection.waitForLocks(Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      try {
        this.connection.begin();
        return;
      } catch (e) {
        if (!isBusy(e) || Date.now() >= deadline) throw e;
      }
      await new Promise((r) => setTimeout(r, 1));
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
