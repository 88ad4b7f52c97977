import { relative } from "node:path";

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
