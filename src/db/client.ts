import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { type Client, createClient, type ResultSet } from "@libsql/client";
import { Kysely } from "kysely";
import { type MigrationResultSet, Migrator } from "kysely/migration";
import { AppError, configError } from "../errors.ts";
import { Connection, withBusyRetry } from "./connection.ts";
import { LibsqlDialect } from "./dialect.ts";
import { migrations } from "./migrations/index.ts";
import { NativeReader } from "./native_read.ts";
import { databasePath } from "./path.ts";
import type { Database } from "./schema.ts";

export interface DatabaseOptions {
  url: string;
  authToken?: string | null;
  busyTimeoutMs?: number;
}

/**
 * Two connections to one database, each used by one caller at a time (see `Connection`).
 * The write connection takes the Writer's group commits and the short writes beside them (the sync
 * worker's claims, the pruner's deletes), so those never contend for SQLite's lock inside this
 * process: they queue here instead. Reads have their own connection and, in WAL mode, never wait
 * behind a commit.
 */
export interface Db {
  writer: Connection;
  reader: Connection;
  /** Typed queries on the read connection. Compiling a query needs no connection, so it is built here too. */
  read: Kysely<Database>;
  /** Typed queries on the write connection: writes beside the Writer's group commits (the outbox). */
  write: Kysely<Database>;
  close(): void;
}

export async function openDatabase(
  opts: DatabaseOptions,
  /** Kysely's reads on the native binding with cached statements (the daemon; native_read.ts). */
  { nativeReads = false }: { nativeReads?: boolean } = {},
): Promise<Db> {
  const local = opts.url.startsWith("file:");
  if (local) prepareFile(databasePath(opts.url));
  const open = (concurrency: number) =>
    createClient({
      url: opts.url,
      authToken: opts.authToken ?? undefined,
      timeout: opts.busyTimeoutMs ?? 5000,
      intMode: "number",
      concurrency,
    });
  // WAL lets reads run beside a commit; FULL makes every acknowledged commit survive a power loss
  // (NORMAL may lose the last ones). synchronous is per connection, so it is set again whenever
  // the write connection is replaced.
  const durable = async (c: Client) => {
    if (local) await c.execute("PRAGMA synchronous=FULL");
  };
  const writeClient = open(1);
  if (local) await writeClient.execute("PRAGMA journal_mode=WAL");
  await durable(writeClient);
  const writer = new Connection(writeClient, { setup: durable });
  const reader = local ? new Connection(open(1)) : new Connection(open(4), { shared: true });
  const native =
    local && nativeReads ? new NativeReader(databasePath(opts.url), opts.busyTimeoutMs ?? 5000) : null;
  // Every read then goes to the native connection: @libsql/client opens its own only when used.
  if (native) reader.routeStatements((stmt) => native.execute(stmt) as unknown as Promise<ResultSet>);
  return {
    writer,
    reader,
    read: new Kysely<Database>({ dialect: new LibsqlDialect(reader) }),
    write: new Kysely<Database>({ dialect: new LibsqlDialect(writer) }),
    close() {
      writer.close();
      reader.close();
      native?.close();
    },
  };
}

/** Creates the data directory (0700) and an empty database file (0600) so no one else can read it. */
function prepareFile(path: string) {
  if (path === "" || path === ":memory:") {
    throw configError("database.url must name a file (file:./data/suppressd.db).");
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
}

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrate(db: Db): Promise<string[]> {
  // Migrations run in transactions, so they get the write connection to themselves. The migrator
  // returns its error; throwing it inside lets the connection heal if it was SQLITE_BUSY.
  // A running daemon (or a CLI command beside it) may hold the lock for a moment: wait it out.
  let outcome: MigrationResultSet = {};
  await withBusyRetry(() =>
    db.writer.exclusive(async (client) => {
      const migrator = new Migrator({
        db: new Kysely<unknown>({ dialect: new LibsqlDialect(client) }),
        provider: { getMigrations: async () => migrations },
      });
      outcome = await migrator.migrateToLatest();
      if (outcome.error) throw outcome.error;
    }),
  ).catch((e) => {
    if (!outcome.error) throw e;
  });
  const { error, results } = outcome;
  const failed = results?.find((r) => r.status === "Error");
  if (error) {
    throw new AppError(
      "internal",
      "migration_failed",
      `Database migration ${failed?.migrationName ?? ""} failed: ${(error as Error).message ?? error}`,
    );
  }
  return (results ?? []).map((r) => r.migrationName);
}

/** Throws unless the database answers a read of the schema (GET /readyz). */
export async function ping(db: Db): Promise<void> {
  await db.reader.execute("SELECT 1 FROM webhook_events LIMIT 1");
}

/** Migration names not yet applied to the database. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db: db.read as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
  });
  return (await migrator.getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}
