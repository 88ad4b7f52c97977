import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

export const OUT = resolve(import.meta.dir, "../out");

/** Right-aligned columns; the first column is left-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  "))
    .join("\n");
}

export const int = (n: number) => Math.round(n).toLocaleString("en-US");
export const ms = (n: number) => n.toFixed(n < 10 ? 2 : 1);

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** What was running, so a figure can be read against the machine's state at the time. */
export function environment() {
  return {
    bun: Bun.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    loadavg: loadavg(),
    time: new Date().toISOString(),
  };
}

/** Writes `bench/out/<name>-<time>.json` and returns its path. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, `${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

export type Flags<K extends string> = Record<K, string>;

/**
 * `--name value` flags, each with an environment fallback (`BENCH_NAME`) and a default, so
 * `BENCH_DURATION=30 bun bench/ingest.ts` and `bun bench/ingest.ts --duration 30` are the same.
 */
export function flags<K extends string>(defaults: Record<K, string>, help: string): Flags<K> {
  const options: Record<string, { type: "string" | "boolean" }> = { help: { type: "boolean" } };
  for (const k of Object.keys(defaults)) options[k] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: process.argv.slice(2), options, strict: true }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${help}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(help);
    process.exit(0);
  }
  const out = {} as Flags<K>;
  for (const k of Object.keys(defaults) as K[]) {
    const env = process.env[`BENCH_${k.toUpperCase().replace(/-/g, "_")}`];
    const given = values[k];
    out[k] = typeof given === "string" ? given : (env ?? defaults[k]);
  }
  return out;
}

export function num(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${JSON.stringify(value)}`);
    process.exit(2);
  }
  return n;
}
