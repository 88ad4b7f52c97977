#!/usr/bin/env bun
import { check } from "./cli/check.ts";
import { type Command, EXIT, runCommand } from "./cli/command.ts";
import { configCheck } from "./cli/config_check.ts";
import { configExample } from "./cli/config_example.ts";
import { eventsList, eventsReprocess } from "./cli/events.ts";
import { exportCsv } from "./cli/export.ts";
import { forget } from "./cli/forget.ts";
import { importCsv } from "./cli/import.ts";
import { jobsBackfill, jobsCancel, jobsList, jobsRetry } from "./cli/jobs.ts";
import { migrate } from "./cli/migrate.ts";
import { reconcileCommand } from "./cli/reconcile.ts";
import { sendTestEvent } from "./cli/send_test_event.ts";
import { serve } from "./cli/serve.ts";
import { status } from "./cli/status.ts";
import { AppError } from "./errors.ts";
import { VERSION } from "./version.ts";

/** Every command, in the order `suppressd --help` lists them. */
const COMMANDS: Command[] = [
  serve,
  check,
  status,
  sendTestEvent,
  importCsv,
  exportCsv,
  forget,
  migrate,
  eventsReprocess,
  eventsList,
  jobsList,
  jobsRetry,
  jobsCancel,
  jobsBackfill,
  reconcileCommand,
  configCheck,
  configExample,
];

function mainHelp(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(18)}${c.summary}`).join("\n");
  return `suppressd ${VERSION}: keeps mailing lists clean from Resend's webhooks.

Usage: suppressd [COMMAND] [OPTIONS]   (no command: serve)

Commands:
${rows}

Run 'suppressd COMMAND --help' for a command's options.
Exit codes: 0 ok, 1 check: suppressed, 2 usage, 69 unavailable, 70 internal error,
73 cannot create an output file, 78 configuration.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V") {
    process.stdout.write(`suppressd ${VERSION}\n`);
    return EXIT.ok;
  }
  if (first === "--help" || first === "-h" || first === "help") {
    process.stdout.write(mainHelp());
    return EXIT.ok;
  }
  const words = first === undefined || first.startsWith("-") ? ["serve"] : [first];
  // Two-word commands ("events reprocess", "jobs list") are named with a space.
  const two = rest[0] ? `${first} ${rest[0]}` : "";
  const cmd = COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === words[0]);
  if (!cmd) {
    const group = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
    if (group.length > 0) {
      const rows = group.map((c) => `  suppressd ${c.name.padEnd(18)}${c.summary}`).join("\n");
      process.stderr.write(`suppressd ${first}: name a subcommand:\n${rows}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`suppressd: unknown command '${first}'.\n\n${mainHelp()}`);
    return EXIT.usage;
  }
  const args = cmd.name === two ? rest.slice(1) : first === undefined || first.startsWith("-") ? argv : rest;
  try {
    return await runCommand(cmd, args);
  } catch (e) {
    if (e instanceof AppError) {
      process.stderr.write(`suppressd ${cmd.name}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`suppressd ${cmd.name}: internal error: ${(e as Error)?.stack ?? e}\n`);
    return EXIT.internal;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
