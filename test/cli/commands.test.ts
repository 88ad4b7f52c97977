import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { runCli } from "./run.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const COMMANDS = [
  "serve",
  "check",
  "send-test-event",
  "import",
  "export",
  "migrate",
  "events reprocess",
  "events list",
];

describe("every command", () => {
  test("--help prints its usage and options and exits 0", async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([...c.split(" "), "--help"])));
    for (const [i, r] of results.entries()) {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout).toContain(`Usage: suppressd ${COMMANDS[i]}`);
      expect(r.stdout).toContain("--config");
    }
  });

  test("the main help lists them all, with the exit codes", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c} `);
    expect(r.stdout).toContain("1 check: suppressed");
  });
});

test("an unknown command or option is a usage error (2)", async () => {
  const [cmd, opt, args] = await Promise.all([
    runCli(["frobnicate"]),
    runCli(["check", "--nope", "a@example.com"]),
    runCli(["check"]),
  ]);
  expect(cmd.code).toBe(2);
  expect(cmd.stderr).toContain("unknown command 'frobnicate'");
  expect(opt.code).toBe(2);
  expect(args.code).toBe(2);
  expect(args.stderr).toContain("suppressd check EMAIL");
});

describe("configuration errors exit 78", () => {
  test("an invalid value names the field path", async () => {
    const dir = join(tmp.dir, "invalid");
    mkdirSync(dir);
    const config = writeConfig(dir, join(dir, "s.db"), { server: { port: "eighty" } });
    const r = await runCli(["check", "--config", config, "a@example.com"]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("server.port");
  });

  test("a secret from an unset environment variable, and a missing file", async () => {
    const dir = join(tmp.dir, "env");
    mkdirSync(dir);
    const config = writeConfig(dir, join(dir, "s.db"), { api: { tokens: ["env:CLI_TEST_UNSET_TOKEN"] } });
    const missing = join(tmp.dir, "nope.json");
    const broken = join(tmp.dir, "broken.json");
    writeFileSync(broken, "{ not json");
    const [env, none, json] = await Promise.all([
      runCli(["export", "--config", config]),
      runCli(["migrate", "--config", missing]),
      runCli(["migrate", "--config", broken]),
    ]);
    expect(env.code).toBe(78);
    expect(env.stderr).toContain("api.tokens.0");
    expect(env.stderr).toContain("CLI_TEST_UNSET_TOKEN");
    expect(none.code).toBe(78);
    expect(none.stderr).toContain("No configuration file");
    expect(json.code).toBe(78);
    expect(json.stderr).toContain("not valid JSON");
  });
});

test("migrate applies the schema once, then says it is up to date", async () => {
  const config = writeConfig(tmp.dir, join(tmp.dir, "m.db"));
  const first = await runCli(["migrate", "--config", config]);
  expect(first.code).toBe(0);
  expect(first.stdout).toContain("applied 001_initial");
  const second = await runCli(["migrate", "--config", config]);
  expect(second.code).toBe(0);
  expect(second.stdout).toContain("up to date");
});
