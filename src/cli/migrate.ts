import { pendingMigrations, migrate as runMigrations } from "../db/client.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

export const migrate: Command = {
  name: "migrate",
  summary: "Bring the database schema up to date (serve also does this on start).",
  usage: `migrate [--config FILE]

Safe while a daemon runs: migrations take the database's write lock and run in one transaction.`,
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    return withContext(values, { schema: "as-is" }, async (ctx) => {
      const pending = await pendingMigrations(ctx.db);
      const applied = pending.length === 0 ? [] : await runMigrations(ctx.db);
      for (const name of applied) process.stdout.write(`applied ${name}\n`);
      if (applied.length === 0) process.stdout.write(`${ctx.where}: schema is up to date\n`);
      return EXIT.ok;
    });
  },
};
