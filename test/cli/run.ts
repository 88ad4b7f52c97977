import { join } from "node:path";
import { sinkTargets } from "../../src/daemon.ts";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { Writer } from "../../src/db/writer.ts";
import type { Intent } from "../../src/suppression/intents.ts";
import { testConfig } from "../helpers/config.ts";
import { BUN, ROOT } from "../helpers/daemon.ts";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `suppressd ARGS` as a real process. The environment has no SUPPRESSD_* variables, so only
 * `--config` (or the working directory, in development mode) decides what it reads.
 */
export async function runCli(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; stdin?: string } = {},
): Promise<CliResult> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("SUPPRESSD_")),
  ) as Record<string, string>;
  const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...env, ...opts.env },
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** Opens (and migrates) the database a test config names, for seeding and inspecting it in-process. */
export async function openTestDb(
  dbFile: string,
): Promise<{ db: Db; writer: Writer; close(): Promise<void> }> {
  const config = testConfig(`file:${dbFile}`);
  const db = await openDatabase(config.database);
  await migrate(db);
  const writer = new Writer(db, { softBounce: config.policy.softBounce, sinks: sinkTargets(config) });
  return {
    db,
    writer,
    async close() {
      await writer.close();
      db.close();
    },
  };
}

/** Commits `intents` the way the API does (no idempotency key). */
export async function seed(writer: Writer, intents: Intent[]): Promise<void> {
  await writer.submit({
    claim: "none",
    svixId: null,
    type: "test",
    status: "processed",
    occurredAt: Date.now(),
    intents,
  });
}
