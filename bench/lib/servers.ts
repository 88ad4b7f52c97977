import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { BENCH_SECRET, BENCH_TOKEN } from "./payloads.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

/**
 * The daemon's source to run: the working tree (`rev` empty) or a committed revision exported
 * with `git archive` into bench/out/rev-<sha>/. Other engineers edit the shared tree while a bench
 * runs; a revision cannot change halfway through a measurement. node_modules is a symlink.
 */
export function sourceRoot(rev: string): string {
  if (!rev) return ROOT;
  const sha = git(["rev-parse", "--verify", `${rev}^{commit}`]);
  const dir = join(ROOT, "bench/out", `rev-${sha.slice(0, 12)}`);
  if (!existsSync(join(dir, "src/main.ts"))) {
    mkdirSync(dir, { recursive: true });
    const archive = Bun.spawnSync(["git", "archive", sha, "src", "package.json", "config.example.json"], {
      cwd: ROOT,
    });
    if (archive.exitCode !== 0) throw new Error(`git archive ${sha} failed: ${archive.stderr}`);
    const tar = Bun.spawnSync(["tar", "-x", "-C", dir], { stdin: archive.stdout });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    if (!existsSync(join(dir, "node_modules")))
      symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  }
  return dir;
}

/** HEAD, the revision measured, and the files under src/ that differ from HEAD right now. */
export function sourceInfo(rev: string) {
  const dirty = git(["status", "--porcelain", "--", "src"]).split("\n").filter(Boolean);
  return {
    head: git(["rev-parse", "HEAD"]),
    measured: rev ? git(["rev-parse", `${rev}^{commit}`]) : "working tree",
    dirtySrc: dirty,
  };
}

function git(args: string[]): string {
  const p = Bun.spawnSync(["git", ...args], { cwd: ROOT });
  if (p.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString().trim();
}

export interface ProbeResult {
  patched: boolean;
  commitMs: Stats;
  batchSize: Stats;
  loopLagMs: Stats;
}
interface Stats {
  n: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
  sum: number;
}

/** The probe's exit line from a daemon log, if it wrote one. */
export function readProbe(log: string): ProbeResult | null {
  const line = readFileSync(log, "utf8")
    .split("\n")
    .find((l) => l.includes('"msg":"bench probe"'));
  return line ? (JSON.parse(line) as ProbeResult) : null;
}

export interface Server {
  name: string;
  url: string;
  pid: number;
  log: string;
  /** SIGTERM and wait (SIGKILL after `graceMs`); returns the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

export interface StartOptions {
  name: string;
  /** Arguments after the bun executable. */
  args: string[];
  /** Where stdout and stderr go: a file, so a full pipe can never stall the server. */
  log: string;
  /** `bun --cpu-prof` into this directory. */
  profileDir?: string;
  /** Extra arguments for bun itself (before the script), e.g. --preload. */
  bunArgs?: string[];
  env?: Record<string, string>;
}

/**
 * Starts a server process under Bun and waits for the JSON line that carries its `"url"` (the
 * daemon's "suppressd started" line, the reference's "listening" line), then for `/healthz`.
 */
export async function startServer(opts: StartOptions): Promise<Server> {
  const fd = openSync(opts.log, "w");
  const prof = opts.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.profileDir}`] : [];
  const proc = Bun.spawn([BUN, ...prof, ...(opts.bunArgs ?? []), ...opts.args], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: fd,
    stderr: fd,
    env: { ...process.env, NODE_ENV: "production", ...opts.env },
  });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    const out = readFileSync(opts.log, "utf8");
    url = /"url":"([^"]+)"/.exec(out)?.[1];
    if (url) break;
    if (proc.exitCode !== null) throw new Error(`${opts.name} exited with ${proc.exitCode}:\n${out}`);
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${opts.name} did not start within 30 s:\n${out}`);
    }
    await Bun.sleep(25);
  }
  while (
    !(await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (Date.now() > deadline) throw new Error(`${opts.name} never answered /healthz`);
    await Bun.sleep(25);
  }
  return {
    name: opts.name,
    url,
    pid: proc.pid,
    log: opts.log,
    async stop(graceMs = 20_000) {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      const code = await proc.exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * `suppressd serve` from source with a bench config on `dbFile`: the real daemon, port 0, every
 * other key at its default (request log included). `overrides` replace whole top-level sections.
 * `probe` preloads bench/lib/probe.ts (commit durations and event-loop lag, logged at exit).
 */
export function startDaemon(
  dir: string,
  dbFile: string,
  profileDir?: string,
  overrides: Record<string, unknown> = {},
  root: string = ROOT,
  probe = false,
): Promise<Server> {
  const config = {
    server: { host: "127.0.0.1", port: 0 },
    database: { url: `file:${dbFile}` },
    resend: { webhookSecrets: [BENCH_SECRET] },
    api: { tokens: [BENCH_TOKEN] },
    ...overrides,
  };
  const path = join(dir, "daemon-config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return startServer({
    name: "suppressd",
    args: [join(root, "src/main.ts"), "serve", "--config", path],
    log: join(dir, "daemon.log"),
    profileDir,
    ...(probe
      ? { bunArgs: ["--preload", join(ROOT, "bench/lib/probe.ts")], env: { BENCH_SRC_ROOT: root } }
      : {}),
  });
}

/** bench/reference/server.ts (or echo.ts) on `dbFile`, port 0. */
export function startReference(
  dir: string,
  dbFile: string,
  script: "server" | "echo" = "server",
  profileDir?: string,
): Promise<Server> {
  return startServer({
    name: script === "server" ? "reference" : "echo",
    args: [join(ROOT, `bench/reference/${script}.ts`), "--db", dbFile, "--secret", BENCH_SECRET],
    log: join(dir, `${script}.log`),
    profileDir,
  });
}
