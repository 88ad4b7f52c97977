import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import { AppError } from "../errors.ts";
import { LibsqlDialect } from "./dialect.ts";
import { migrations } from "./migrations/index.ts";
import type { Database } from "./schema.ts";

export interface DatabaseOptions {
  url: string;
  authToken?: string | null;
  busyTimeoutMs?: number;
}

/**
 * Two clients on one database. The writer has a single connection that only the batching writer
 * and the migrator use, so its transactions never contend inside this process; reads go through
 * Kysely on their own connections and never wait behind a commit's transaction.
 */
export interface Db {
  writer: Client;
  reader: Client;
  /** Typed queries for reads (and the migrator). */
  kysely: Kysely<Database>;
  /** Kysely over the writer's connection, for building statements the writer runs. */
  builder: Kysely<Database>;
  /** Replaces the writer's connection (after SQLITE_BUSY left a statement open on it). */
  resetWriter(): Promise<void>;
  close(): void;
}

export async function openDatabase(opts: DatabaseOptions): Promise<Db> {
  const local = opts.url.startsWith("file:");
  if (local) prepareFile(opts.url.slice("file:".length).split("?")[0] ?? "");
  const common = {
    url: opts.url,
    authToken: opts.authToken ?? undefined,
    timeout: opts.busyTimeoutMs ?? 5000,
    intMode: "number" as const,
  };
  const writer = createClient({ ...common, concurrency: 1 });
  const reader = createClient({ ...common, concurrency: 4 });
  // WAL lets readers run beside the writer; FULL makes every acknowledged commit survive a power
  // loss (NORMAL may lose the last ones). synchronous is per connection, so it is set again
  // whenever the writer's connection is replaced.
  const durable = async () => {
    if (local) await writer.execute("PRAGMA synchronous=FULL");
  };
  if (local) await writer.execute("PRAGMA journal_mode=WAL");
  await durable();
  const kysely = new Kysely<Database>({ dialect: new LibsqlDialect(reader) });
  const builder = new Kysely<Database>({ dialect: new LibsqlDialect(writer) });
  return {
    writer,
    reader,
    kysely,
    builder,
    async resetWriter() {
      await writer.reconnect();
      await durable();
    },
    close() {
      writer.close();
      reader.close();
    },
  };
}

/** Creates the data directory (0700) and an empty database file (0600) so no one else can read it. */
function prepareFile(path: string) {
  if (path === "" || path === ":memory:") {
    throw new AppError(
      500,
      "config_invalid",
      "database.url must name a file (file:./data/suppressd.db).",
      78,
    );
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (!existsSync(path)) closeSync(openSync(path, "a", 0o600));
}

/** Brings the schema up to date; throws with the failing migration's name. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({
    db: db.builder as Kysely<unknown>,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === "Error");
  if (error) {
    throw new AppError(
      500,
      "migration_failed",
      `Database migration ${failed?.migrationName ?? ""} failed: ${(error as Error).message ?? error}`,
      70,
    );
  }
  return (results ?? []).map((r) => r.migrationName);
}
