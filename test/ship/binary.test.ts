import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { build } from "../../scripts/build.ts";
import { findAppendedAddon } from "../../src/db/native_addon.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { tempDir } from "../helpers/app.ts";
import { startDaemon, writeConfig } from "../helpers/daemon.ts";
import { expectSignedBounceSuppresses } from "../helpers/smoke.ts";
import { statusPageOf } from "../helpers/ui.ts";

/**
 * The compiled binary, built once for this file, then run from an empty directory that holds
 * nothing but the binary and two stray files that would break it if it read them: a bunfig.toml
 * preloading a missing file, and a .env.
 */
const tmp = tempDir("suppressd-binary-");
const runDir = join(tmp.dir, "run");
const dataDir = join(tmp.dir, "data");
const bin = join(runDir, "suppressd");
// Where the binary writes libSQL's native module (src/db/native_addon.ts).
const tmpDir = join(tmp.dir, "tmp");
// A PATH without Bun or node_modules/.bin.
const bareEnv = { PATH: "/usr/bin:/bin", TMPDIR: tmpDir };
const FIXTURES = join(import.meta.dir, "..", "fixtures", "mailchimp");

beforeAll(async () => {
  const built = await build({ outfile: join(tmp.dir, "build", "suppressd") });
  mkdirSync(runDir);
  mkdirSync(dataDir);
  mkdirSync(tmpDir);
  copyFileSync(built, bin);
  chmodSync(bin, 0o755);
  writeFileSync(join(runDir, "bunfig.toml"), 'preload = ["./missing-preload.ts"]\n');
  writeFileSync(
    join(runDir, ".env"),
    "SUPPRESSD_CONFIG=/nonexistent/config.json\nSUPPRESSD_DOTENV_CANARY=test-token-from-a-stray-dotenv\n",
  );
}, 120_000);

afterAll(() => tmp.cleanup());

test("the build is one file", () => {
  expect(readdirSync(join(tmp.dir, "build"))).toEqual(["suppressd"]);
});

test("--version prints the version embedded from package.json", () => {
  const out = Bun.spawnSync([bin, "--version"], { cwd: runDir, env: bareEnv });
  expect(out.exitCode).toBe(0);
  expect(out.stdout.toString()).toBe(`suppressd ${pkg.version}\n`);
});

test("from an empty directory, the binary turns a signed bounce into a suppression", async () => {
  const daemon = await startDaemon({
    cmd: [bin],
    cwd: runDir,
    env: bareEnv,
    config: writeConfig(dataDir, join(dataDir, "s.db")),
  });
  try {
    await expectSignedBounceSuppresses(daemon.url);
    // The status page (Hono JSX) is compiled in: log in and see the suppression counted.
    const ui = await statusPageOf(daemon.url);
    expect(ui.status).toBe(200);
    expect(ui.html).toMatch(/<th scope="row">hard_bounce<\/th><td class="n">1<\/td>/);
    expect(ui.csp).toContain("style-src 'sha256-");
  } finally {
    expect(await daemon.stop()).toBe(0);
  }
  // The database went where the config said, libSQL included in the binary; nothing was left in
  // the working directory.
  expect(existsSync(join(dataDir, "s.db"))).toBe(true);
  expect(readdirSync(runDir).sort()).toEqual([".env", "bunfig.toml", "suppressd"]);
  // libSQL's module was read from after the executable and written once, privately, under TMPDIR.
  const own = join(tmpDir, `suppressd-${process.getuid?.()}`);
  expect(readdirSync(tmpDir)).toEqual([`suppressd-${process.getuid?.()}`]);
  expect(readdirSync(own)).toEqual([expect.stringMatching(/^libsql-[0-9a-f]{16}\.node$/)]);
});

test("a TMPDIR the binary cannot write to: what to change, exit 73, no stack trace", () => {
  const out = Bun.spawnSync([bin, "--version"], {
    cwd: runDir,
    env: { ...bareEnv, TMPDIR: join(tmp.dir, "no-such-dir") },
  });
  expect(out.exitCode).toBe(73);
  const err = out.stderr.toString();
  expect(err).toContain("suppressd: cannot write libSQL's native module to a temporary directory");
  expect(err).toContain("Set TMPDIR to a directory this user can write");
  expect(err).not.toMatch(/\n\s+at /);
  expect(out.stdout.toString()).toBe("");
});

test("a module file that cannot be loaded: which file to remove, exit 73, no stack trace", () => {
  const appended = findAppendedAddon(bin);
  expect(appended).not.toBeNull();
  const base = join(tmp.dir, "tmp-broken");
  const dir = join(base, `suppressd-${process.getuid?.()}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const module = join(dir, `libsql-${appended?.hash}.node`);
  // The right size, so it is taken for the module already written; zeros, so it cannot load.
  writeFileSync(module, new Uint8Array(appended?.length ?? 0));
  const out = Bun.spawnSync([bin, "--version"], { cwd: runDir, env: { ...bareEnv, TMPDIR: base } });
  expect(out.exitCode).toBe(73);
  const err = out.stderr.toString();
  expect(err).toContain(`suppressd: cannot load libSQL's native module from ${module}`);
  expect(err).toContain(`remove ${module} and start again`);
  expect(err).not.toMatch(/\n\s+at /);
});

test("a start removes another version's module no start has used for an hour, and keeps a recent one", () => {
  const base = join(tmp.dir, "tmp-upgraded");
  const dir = join(base, `suppressd-${process.getuid?.()}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stale = "libsql-00000000000000aa.node";
  const recent = "libsql-00000000000000bb.node";
  writeFileSync(join(dir, stale), "the module of a version upgraded from last week");
  writeFileSync(join(dir, recent), "the module of another version started a minute ago");
  const lastWeek = new Date(Date.now() - 7 * 86_400_000);
  utimesSync(join(dir, stale), lastWeek, lastWeek);
  const out = Bun.spawnSync([bin, "--version"], { cwd: runDir, env: { ...bareEnv, TMPDIR: base } });
  expect(out.exitCode).toBe(0);
  expect(readdirSync(dir).sort()).toEqual([`libsql-${findAppendedAddon(bin)?.hash}.node`, recent].sort());
});

test("a stray .env in the working directory is not read", () => {
  // The token is only defined in runDir/.env: reading it would make this config valid.
  const dir = join(tmp.dir, "dotenv");
  mkdirSync(dir);
  const config = writeConfig(dir, join(dir, "s.db"), { api: { tokens: ["env:SUPPRESSD_DOTENV_CANARY"] } });
  // Were the .env read, the daemon would start and keep running: the timeout ends it.
  const out = Bun.spawnSync([bin, "serve", "--config", config], {
    cwd: runDir,
    env: bareEnv,
    timeout: 20_000,
  });
  expect(out.exitCode).toBe(78);
  expect(out.stderr.toString()).toContain("SUPPRESSD_DOTENV_CANARY, which is not set");
}, 30_000);

test("`suppressd config example` works from the binary, which ships no config.example.json", () => {
  const out = Bun.spawnSync([bin, "config", "example"], { cwd: runDir, env: bareEnv });
  expect(out.exitCode).toBe(0);
  const example = JSON.parse(out.stdout.toString()) as Record<string, unknown>;
  expect(Object.keys(example)).toContain("sinks");
  // A missing config points there, with the command as this binary is run.
  const missing = Bun.spawnSync([bin, "serve", "--config", join(tmp.dir, "none.json")], {
    cwd: runDir,
    env: bareEnv,
  });
  expect(missing.exitCode).toBe(78);
  expect(missing.stderr.toString()).toContain("`suppressd config example > config.json`");
});

test("modules loaded at first use are in the binary: a Mailchimp export zip, a CSV, a Mailchimp sink's check", async () => {
  const dbFile = join(dataDir, "lazy.db");
  const fake = FakeMailchimp.start({ lists: ["list1"] });
  try {
    const config = writeConfig(dataDir, dbFile, {
      sinks: [{ type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: fake.url }],
    });
    // Not spawnSync: the fake answers from this process's event loop.
    const run = async (...args: string[]) => {
      const p = Bun.spawn([bin, ...args, "--config", config], {
        cwd: runDir,
        env: bareEnv,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [stdout, stderr, exitCode] = await Promise.all([
        new Response(p.stdout).text(),
        new Response(p.stderr).text(),
        p.exited,
      ]);
      return { stdout, stderr, exitCode };
    };
    // fflate (the zip) and csv-parse (each CSV in it).
    const zip = await run("import", join(FIXTURES, "members_export_4f6a2c1b9e.zip"));
    expect(zip.exitCode, zip.stderr).toBe(0);
    const csv = await run("import", join(FIXTURES, "unsubscribed_members_export_4f6a2c1b9e.csv"));
    expect(csv.exitCode, csv.stderr).toBe(0);
    // The official Mailchimp client: `config check` pings the audience through it.
    const check = await run("config", "check");
    expect(check.exitCode, `${check.stdout}${check.stderr}`).toBe(0);
    expect(fake.stats.routes.get("GET /ping")).toBeGreaterThan(0);
  } finally {
    fake.stop();
  }
}, 60_000);
