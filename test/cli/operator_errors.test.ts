import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { tempDir } from "../helpers/app.ts";
import { BUN, ROOT, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { openTestDb, runCli, seed } from "./run.ts";

/**
 * Every mistake an operator can make gets a message that says what to change and a documented
 * exit code, never a stack trace ("    at " is how every engine prints a frame).
 */
const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;

function config(overrides: Record<string, unknown> = {}): string {
  const dir = join(tmp.dir, `c${++n}`);
  mkdirSync(dir);
  return writeConfig(dir, join(dir, "s.db"), overrides);
}

/** This process's environment without SUPPRESSD_* variables (as runCli does). */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("SUPPRESSD_")),
  ) as Record<string, string>;
}

function noStack(r: { stderr: string; stdout: string }) {
  expect(r.stderr).not.toContain("    at ");
  expect(r.stdout).not.toContain("    at ");
  expect(r.stderr).not.toContain("internal error");
}

describe("serve cannot listen: exit 78 naming the setting to change", () => {
  test("port in use: server.port in the file, --port, or SUPPRESSD_PORT, whichever set it", async () => {
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const file = config({ server: { host: "127.0.0.1", port: busy.port } });
      const r = await runCli(["serve", "--config", file]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain(`port ${busy.port} is in use by another process`);
      expect(r.stderr).toContain(`choose another port with server.port in ${file}`);
      noStack(r);
      const other = config();
      const flag = await runCli(["serve", "--config", other, "--port", String(busy.port)]);
      expect(flag.code).toBe(78);
      expect(flag.stderr).toContain("choose another port with --port");
      const env = await runCli(["serve", "--config", other], { env: { SUPPRESSD_PORT: String(busy.port) } });
      expect(env.code).toBe(78);
      expect(env.stderr).toContain("choose another port with SUPPRESSD_PORT");
    } finally {
      busy.stop(true);
    }
  }, 30_000);

  test('a host that is not an address nor a name: "not a host"', async () => {
    const file = config({ server: { host: "not a host", port: 0 } });
    const r = await runCli(["serve", "--config", file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('"not a host" is neither an IP address nor a name this machine resolves');
    expect(r.stderr).toContain(`Set server.host in ${file}`);
    noStack(r);
  }, 30_000);

  test("config check finds both before serve does: exit 78 naming server.host", async () => {
    for (const host of ["not a host", "192.0.2.55"]) {
      const r = await runCli([
        "config",
        "check",
        "--offline",
        "--config",
        config({ server: { host, port: 0 } }),
      ]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain("server.host: PROBLEM");
      expect(r.stderr).toContain(JSON.stringify(host));
      noStack(r);
    }
    expect((await runCli(["config", "check", "--offline", "--config", config()])).code).toBe(0);
  }, 30_000);

  test("an address that is not on this machine (192.0.2.55, TEST-NET-1), given with --host", async () => {
    const r = await runCli(["serve", "--config", config(), "--host", "192.0.2.55"]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('"192.0.2.55" is not an address of this machine');
    expect(r.stderr).toContain("Set --host to one of its addresses");
    noStack(r);
  }, 30_000);

  test("a port flag that is not a port is a usage error; a bad SUPPRESSD_PORT a configuration one", async () => {
    const file = config();
    const flag = await runCli(["serve", "--config", file, "--port", "80a"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--port must be a TCP port, 0 to 65535 (0 picks a free one), not "80a"');
    const env = await runCli(["serve", "--config", file], { env: { SUPPRESSD_PORT: "70000" } });
    expect(env.code).toBe(78);
    expect(env.stderr).toContain(
      'SUPPRESSD_PORT must be a TCP port, 0 to 65535 (0 picks a free one), not "70000"',
    );
    noStack(env);
  });

  test("the systemd unit does not restart on 78", () => {
    const unit = readFileSync(join(ROOT, "deploy/suppressd.service"), "utf8");
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^RestartPreventExitStatus=78$/m);
  });
});

describe("the configuration's problems, all at once", () => {
  test("every unset env: variable and every schema error in one message, exit 78", async () => {
    const file = config({
      resend: { webhookSecrets: ["env:SMOKE_SECRET_UNSET"] },
      api: { tokens: ["env:SMOKE_TOKEN_UNSET", "short"] },
      server: { host: "127.0.0.1", port: "8025" },
    });
    const r = await runCli(["config", "check", "--offline", "--config", file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(
      "resend.webhookSecrets.0: reads the environment variable SMOKE_SECRET_UNSET, which is not set",
    );
    expect(r.stderr).toContain(
      "api.tokens.0: reads the environment variable SMOKE_TOKEN_UNSET, which is not set",
    );
    expect(r.stderr).toContain("api.tokens.1");
    expect(r.stderr).toContain("server.port: ");
    // An unset variable is not reported a second time as a wrong type.
    expect(r.stderr.match(/api\.tokens\.0/g)?.length).toBe(1);
    noStack(r);
  });
});

describe("issue 14's settings: a wrong type is named, and nothing starts", () => {
  test("database.writerThread and resend.recordIgnored must be true or false: serve exits 78, no database", async () => {
    const file = config({
      database: { url: `file:${join(tmp.dir, "never.db")}`, writerThread: "yes" },
      resend: { webhookSecrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], recordIgnored: "no" },
    });
    const r = await runCli(["serve", "--config", file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("database.writerThread");
    expect(r.stderr).toContain("resend.recordIgnored");
    expect(existsSync(join(tmp.dir, "never.db"))).toBe(false);
    noStack(r);
  });
});

describe("config check", () => {
  test("a sink that cannot be reached: exit 69, not 78 (the settings may be right)", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const url = `http://127.0.0.1:${closed.port}/3.0`;
    closed.stop(true);
    const sink = { type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: url };
    const r = await runCli(["config", "check", "--config", config({ sinks: [sink] })]);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain("could not reach Mailchimp");
    expect(r.stderr).toContain("unreachable only: the settings may be right");
    noStack(r);
  }, 30_000);

  test("Mailchimp answering 503 is unreachable (69); unreachable beside a wrong audience is 78", async () => {
    const fake = FakeMailchimp.start();
    try {
      fake.mode = "down";
      const sink = { type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: fake.url };
      expect((await runCli(["config", "check", "--config", config({ sinks: [sink] })])).code).toBe(69);
      fake.mode = "up";
      const gone = { ...sink, name: "gone", listIds: ["missing"] };
      const closed = { ...sink, name: "closed", baseUrl: "http://127.0.0.1:9/3.0" };
      const r = await runCli(["config", "check", "--config", config({ sinks: [gone, closed] })]);
      expect(r.code).toBe(78);
      expect(r.stderr).toContain("audience (list id) 'missing' does not exist");
    } finally {
      fake.stop();
    }
  }, 30_000);
});

describe("export", () => {
  test("to a reader that stops early (export | head): exit 0 and nothing on stderr", async () => {
    const file = config();
    const db = await openTestDb(join(tmp.dir, `c${n}`, "s.db"));
    const now = Date.now();
    // Far more than a pipe holds (64 KiB), so the export is still writing when head leaves.
    for (let i = 0; i < 4; i++) {
      await seed(
        db.writer,
        Array.from({ length: 1000 }, (_, j) => ({
          kind: "suppress" as const,
          email: `reader-${i}-${j}-${"x".repeat(40)}@example.com`,
          reason: "manual" as const,
          eventType: "test",
          occurredAt: now,
        })),
      );
    }
    await db.close();
    const proc = Bun.spawn(
      [
        "bash",
        "-c",
        `"$0" "$1" export --config "$2" | head -n 2; echo "exit=\${PIPESTATUS[0]}" >&2`,
        BUN,
        join(ROOT, "src/main.ts"),
        file,
      ],
      { stdout: "pipe", stderr: "pipe", env: cleanEnv() },
    );
    const [out, err] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    await proc.exited;
    expect(out.split("\n")[0]).toBe("email,reason,first_suppressed_at,suppressed_at,updated_at,note");
    expect(err).toBe("exit=0\n");
  }, 30_000);

  test("to a folder that does not exist: exit 73 naming the folder, no file left", async () => {
    const file = config();
    expect((await runCli(["migrate", "--config", file])).code).toBe(0);
    const r = await runCli(["export", "--config", file, "-o", "/nonexistent-suppressd/x.csv"]);
    expect(r.code).toBe(73);
    expect(r.stderr).toBe(
      "suppressd export: Cannot write /nonexistent-suppressd/x.csv: the folder /nonexistent-suppressd does not exist (create it, or choose another --output).\n",
    );
    const dir = join(tmp.dir, `c${n}`);
    const into = await runCli(["export", "--config", file, "-o", join(dir, "config.json", "x.csv")]);
    expect(into.code).toBe(73);
    expect(into.stderr).toContain(`${dir}/config.json is not a folder`);
    expect(readdirSync(dir).filter((f) => f.includes(".partial"))).toEqual([]);
  });
});

describe("a configuration to start from", () => {
  test("a production start on a database an older development instance used warns", async () => {
    const file = config();
    writeFileSync(join(tmp.dir, `c${n}`, "dev-credentials.json"), "{}");
    const daemon = await startDaemon({ config: file });
    await daemon.stop();
    const line = daemon
      .stdout()
      .split("\n")
      .find((l) => l.includes("development instance"));
    expect(JSON.parse(line ?? "{}")).toMatchObject({
      level: "warn",
      msg: "this database was a development instance's",
      found: join(tmp.dir, `c${n}`, "dev-credentials.json"),
    });
  }, 30_000);

  test("`config example` prints config.example.json, which the binary does not ship", async () => {
    const r = await runCli(["config", "example"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(join(ROOT, "config.example.json"), "utf8")));
  });

  test("the development banner and the missing-config message offer it, not a file to copy", async () => {
    const dev = join(tmp.dir, "dev");
    mkdirSync(dev);
    const missing = await runCli(["serve", "--config", join(dev, "none.json")], { cwd: dev });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toMatch(/`npx bun \S*src\/main\.ts config example > config\.json`/);
    expect(missing.stderr).not.toContain("config.example.json");
    const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), "serve"], {
      cwd: dev,
      env: { ...cleanEnv(), SUPPRESSD_PORT: "0" },
      stdout: "ignore",
      stderr: "pipe",
    });
    let err = "";
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      err += dec.decode(chunk, { stream: true });
      if (err.includes("Production:") && err.endsWith("\n\n")) break;
    }
    proc.kill("SIGTERM");
    await proc.exited;
    expect(err).toContain("DEVELOPMENT MODE");
    expect(err).toMatch(/Production: `npx bun \S*src\/main\.ts config example > config\.json`/);
    expect(err).not.toContain("config.example.json");
    // Its database and credentials live apart from the production default, data/suppressd.db.
    expect(existsSync(join(dev, "data/dev/suppressd.db"))).toBe(true);
    expect(existsSync(join(dev, "data/dev/credentials.json"))).toBe(true);
    expect(existsSync(join(dev, "data/suppressd.db"))).toBe(false);
  }, 30_000);
});
