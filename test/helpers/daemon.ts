import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { SECRET, TOKEN } from "./config.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

export interface RunningDaemon {
  url: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Everything the daemon wrote to stdout so far (JSON log lines). */
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
  /** SIGKILL: no chance to clean up. */
  kill(): Promise<void>;
}

/** Writes a config file into `dir` (merged over a test default) and returns its path. */
export function writeConfig(dir: string, dbFile: string, overrides: Record<string, unknown> = {}): string {
  const config = {
    server: { host: "127.0.0.1", port: 0 },
    database: { url: `file:${dbFile}` },
    resend: { webhookSecrets: [SECRET] },
    api: { tokens: [TOKEN] },
    log: { level: "info" },
    ...overrides,
  };
  const path = join(dir, "config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/**
 * Starts `suppressd serve` as a real process (source under Bun by default, or any command such as
 * a compiled binary) and waits until /readyz answers.
 */
export async function startDaemon(opts: {
  config: string;
  cwd?: string;
  cmd?: string[];
  env?: Record<string, string>;
}): Promise<RunningDaemon> {
  const cmd = opts.cmd ?? [BUN, join(ROOT, "src/main.ts")];
  const proc = Bun.spawn([...cmd, "serve", "--config", opts.config], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    const dec = new TextDecoder();
    for await (const chunk of s) add(dec.decode(chunk, { stream: true }));
  };
  pump(proc.stdout, (t) => {
    out += t;
  });
  pump(proc.stderr, (t) => {
    err += t;
  });
  const deadline = Date.now() + 20_000;
  let url: string | undefined;
  while (!url) {
    if (proc.exitCode !== null) throw new Error(`daemon exited with ${proc.exitCode}: ${err}${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`daemon did not start in time: ${err}${out}`);
    }
    url = /"url":"([^"]+)"/.exec(out)?.[1];
    if (!url) await Bun.sleep(20);
  }
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`daemon never became ready: ${err}${out}`);
    await Bun.sleep(20);
  }
  return {
    url,
    proc,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}

export function authHeaders(): Record<string, string> {
  return { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
}
