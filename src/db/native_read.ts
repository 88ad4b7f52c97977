import type { InStatement } from "@libsql/client";
import { type ExecResult, NativeConnection } from "./native.ts";
import { toSql } from "./native_tx.ts";

/**
 * The daemon's connection for Kysely's reads of a local file (issue 14): each
 * `GET /v1/suppressions/{email}` ran three statements, each prepared afresh by @libsql/client, on
 * the thread that also answers webhooks. Here they stay prepared (native.ts).
 */
export class NativeReader {
  private readonly connection: NativeConnection;

  constructor(path: string, busyTimeoutMs: number) {
    this.connection = new NativeConnection(path, { busyTimeoutMs });
  }

  execute(stmt: InStatement): Promise<ExecResult> {
    try {
      if (typeof stmt === "string") return Promise.resolve(this.connection.execute(stmt, []));
      const args = Array.isArray(stmt.args) ? stmt.args.map(toSql) : [];
      return Promise.resolve(this.connection.execute(stmt.sql, args));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): void {
    this.connection.close();
  }
}
