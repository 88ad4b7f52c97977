import { relative } from "node:path";
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

/**
 * How to run this program again, for the hints it prints: from source that is `npx bun src/main.ts`
 * (a fresh clone has no `suppressd` on its PATH), under Deno `deno run -A src/main.ts` (the Deno
 * from npm by its path: `deno task start` must not send anyone to npx), from the binary `suppressd`.
 */
export function selfCommand(): string {
  const script = process.argv[1] ?? "";
  if (!script.endsWith(".ts")) return "suppressd";
  const file = relative(process.cwd(), script) || script;
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno) {
    const exe = deno.execPath();
    return `${exe.includes("/node_modules/") ? "./node_modules/.bin/deno" : "deno"} run -A ${file}`;
  }
  return `npx bun ${file}`;
}
