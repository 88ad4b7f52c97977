import type { Client, InStatement, InValue, ResultSet, Transaction } from "@libsql/client";
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type Driver,
  DummyDriver,
  Kysely,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from "kysely";

/**
 * What the dialect runs statements on: a `Connection` (autocommit statements only) or, for the
 * migrator, the client itself inside `Connection.exclusive` (transactions too).
 */
export type Executor = { execute(stmt: InStatement): Promise<ResultSet> } & Partial<
  Pick<Client, "transaction">
>;

/**
 * A Kysely dialect over our own `@libsql/client` instance. `@libsql/kysely-libsql` pins an old
 * client (^0.9); writing the dialect keeps one copy of the client and lets Kysely transactions map
 * to `client.transaction("write")` (BEGIN IMMEDIATE), which serialises migrations across processes.
 */
export class LibsqlDialect implements Dialect {
  constructor(private readonly client: Executor) {}
  createAdapter() {
    return new TransactionalSqliteAdapter();
  }
  createDriver(): Driver {
    return new LibsqlDriver(this.client);
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler();
  }
}

/** SQLite runs DDL inside transactions; saying so makes the Kysely migrator use one. */
class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl() {
    return true;
  }
}

class LibsqlDriver implements Driver {
  constructor(private readonly client: Executor) {}
  async init() {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new LibsqlConnection(this.client);
  }
  async beginTransaction(conn: DatabaseConnection) {
    await (conn as LibsqlConnection).begin();
  }
  async commitTransaction(conn: DatabaseConnection) {
    await (conn as LibsqlConnection).end("commit");
  }
  async rollbackTransaction(conn: DatabaseConnection) {
    await (conn as LibsqlConnection).end("rollback");
  }
  async releaseConnection() {}
  async destroy() {}
}

class LibsqlConnection implements DatabaseConnection {
  private tx: Transaction | null = null;
  constructor(private readonly client: Executor) {}

  async begin() {
    if (!this.client.transaction)
      throw new Error("transactions need the client itself (Connection.exclusive)");
    this.tx = await this.client.transaction("write");
  }

  async end(how: "commit" | "rollback") {
    const tx = this.tx;
    this.tx = null;
    if (tx) await (how === "commit" ? tx.commit() : tx.rollback());
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await (this.tx ?? this.client).execute(toStatement(query));
    return {
      rows: result.rows as R[],
      numAffectedRows: BigInt(result.rowsAffected),
      insertId: result.lastInsertRowid,
    };
  }

  // biome-ignore lint/correctness/useYield: streaming is not used; Kysely requires the method.
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error("streamQuery is not supported by the libsql dialect");
  }
}

/** A compiled Kysely query in the shape `@libsql/client` executes. */
export function toStatement(query: CompiledQuery): InStatement {
  return { sql: query.sql, args: query.parameters as InValue[] };
}

/** A Kysely that only compiles queries (for a connection that is not @libsql/client's). */
export function compileOnly<DB>(): Kysely<DB> {
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}
