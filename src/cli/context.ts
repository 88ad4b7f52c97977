import { type LoadedConfig, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { sinkTargets } from "../daemon.ts";
import { type Db, migrate, openDatabase, pendingMigrations } from "../db/client.ts";
import { migrations } from "../db/migrations/index.ts";
import { Writer } from "../db/writer.ts";
import { AppError, unavailable } from "../errors.ts";
import { selfCommand } from "../self_command.ts";

/** What a command that works on the database needs: the configuration and an open database. */
export interface CliContext {
  loaded: LoadedConfig;
  config: Config;
  db: Db;
  /** The database URL without its query string (which may carry a token), for messages. */
  where: string;
  /** A writer like the daemon's (same policy and sinks), so CLI changes reach the outbox too. */
  writer(): Writer;
  close(): Promise<void>;
}

/**
 * Loads the configuration (development mode too, so `./data` is found without a config file) and
 * opens the database it names. `schema: "migrate"` brings the schema up to date first, as `serve`
 * does; `"require"` only reads and asks for `suppressd migrate` when the schema is behind, so a
 * read-only command never changes a database a running daemon of another version is using;
 * `"as-is"` leaves it to the caller.
 */
export async function openContext(
  values: Record<string, string | boolean | undefined>,
  opts: { schema: "migrate" | "require" | "as-is" },
): Promise<CliContext> {
  const loaded = loadConfig({ flag: values.config as string | undefined, allowDevelopment: "existing" });
  const { config } = loaded;
  const where = config.database.url.split("?")[0] ?? "";
  let db: Db;
  try {
    db = await openDatabase(config.database);
  } catch (e) {
    throw unreachable(e, where);
  }
  let writer: Writer | null = null;
  const ctx: CliContext = {
    loaded,
    config,
    db,
    where,
    writer() {
      // A command can wait longer for another process's write lock than a webhook can.
      writer ??= new Writer(db, {
        softBounce: config.policy.softBounce,
        sinks: sinkTargets(config),
        hashKey: config.privacy.hashKey,
        lockWaitMs: 60_000,
      });
      return writer;
    },
    async close() {
      await writer?.close();
      db.close();
    },
  };
  try {
    if (opts.schema === "migrate") await migrate(db);
    else if (opts.schema === "require") await requireSchema(db, where);
  } catch (e) {
    db.close();
    // A libsql:// server is only contacted on the first query: its errors surface here.
    throw unreachable(e, where);
  }
  return ctx;
}

/** Runs `fn` with an open context and closes it afterwards, whatever `fn` did. */
export async function withContext<T>(
  values: Record<string, string | boolean | undefined>,
  opts: { schema: "migrate" | "require" | "as-is" },
  fn: (ctx: CliContext) => Promise<T>,
): Promise<T> {
  const ctx = await openContext(values, opts);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

function unreachable(e: unknown, where: string): AppError {
  if (e instanceof AppError) return e;
  return unavailable(`Cannot use the database ${where}: ${(e as Error)?.message ?? e}`);
}

async function requireSchema(db: Db, where: string) {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return;
  const fresh = pending.length === Object.keys(migrations).length;
  throw unavailable(
    fresh
      ? `The database ${where} has no tables yet. Run \`${selfCommand()} migrate\` (or start \`${selfCommand()} serve\`, which migrates on start).`
      : `The database ${where} is missing migrations ${pending.join(", ")}. Run \`${selfCommand()} migrate\` first.`,
    "schema_outdated",
  );
}
