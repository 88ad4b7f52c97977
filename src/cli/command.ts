import { parseArgs } from "node:util";
import { EXIT } from "../errors.ts";

export { EXIT, usageError } from "../errors.ts";

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options?: Record<string, { type: "string" | "boolean"; short?: string; description: string }>;
  run(args: { positionals: string[]; values: Record<string, string | boolean | undefined> }): Promise<number>;
}

export const globalOptions = {
  config: {
    type: "string" as const,
    short: "c",
    description: "config file (else $SUPPRESSD_CONFIG, else ./config.json)",
  },
  help: { type: "boolean" as const, short: "h", description: "show this help" },
};

export function helpText(cmd: Command): string {
  const opts = { ...cmd.options, ...globalOptions };
  const lines = Object.entries(opts).map(
    ([name, o]) =>
      `  ${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? " VALUE" : ""}`.padEnd(28) +
      o.description,
  );
  return `${cmd.summary}\n\nUsage: suppressd ${cmd.usage}\n\nOptions:\n${lines.join("\n")}\n`;
}

export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...cmd.options, ...globalOptions },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    process.stderr.write(`suppressd ${cmd.name}: ${(e as Error).message}\n\n${helpText(cmd)}`);
    return EXIT.usage;
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(cmd));
    return EXIT.ok;
  }
  return cmd.run(parsed as { positionals: string[]; values: Record<string, string | boolean | undefined> });
}
