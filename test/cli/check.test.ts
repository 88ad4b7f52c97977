import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { openTestDb, runCli, seed } from "./run.ts";

const tmp = tempDir();
const dbFile = join(tmp.dir, "s.db");
let config: string;
const SINCE = Date.parse("2026-01-02T03:04:05.000Z");

beforeAll(async () => {
  config = writeConfig(tmp.dir, dbFile);
  const t = await openTestDb(dbFile);
  await seed(t.writer, [
    {
      kind: "suppress",
      email: "bounced@example.com",
      reason: "hard_bounce",
      eventType: "test",
      occurredAt: SINCE,
    },
    {
      kind: "suppress",
      email: "was@example.com",
      reason: "unsubscribe",
      eventType: "test",
      occurredAt: SINCE,
    },
  ]);
  await seed(t.writer, [
    { kind: "lift", email: "was@example.com", reasons: "*", eventType: "test", occurredAt: SINCE + 1000 },
  ]);
  await t.close();
});
afterAll(() => tmp.cleanup());

test("a suppressed address exits 1 with its reason and since", async () => {
  const r = await runCli(["check", "--config", config, "Bounced@Example.com"]);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe(
    "bounced@example.com: suppressed, reason hard_bounce, since 2026-01-02T03:04:05.000Z\n",
  );
});

test("an address never suppressed, or lifted, exits 0", async () => {
  const [fresh, lifted] = await Promise.all([
    runCli(["check", "--config", config, "new@example.com"]),
    runCli(["check", "--config", config, "was@example.com"]),
  ]);
  expect(fresh.code).toBe(0);
  expect(fresh.stdout).toBe("new@example.com: may be mailed\n");
  expect(lifted.code).toBe(0);
  expect(lifted.stdout).toContain("was@example.com: may be mailed (its unsubscribe suppression was lifted");
});

test("several addresses and --json: exit 1 when any is suppressed", async () => {
  const r = await runCli(["check", "--config", config, "--json", "new@example.com", "bounced@example.com"]);
  expect(r.code).toBe(1);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  expect(lines[0]).toEqual({ email: "new@example.com", suppressed: false });
  expect(lines[1]).toMatchObject({ email: "bounced@example.com", suppressed: true, reason: "hard_bounce" });
});

test("something that is not an address is a usage error", async () => {
  const r = await runCli(["check", "--config", config, "not-an-address"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("is not an email address");
});

test("development mode: check needs the instance serve creates, then finds ./data and asks for the schema", async () => {
  const dev = tempDir();
  try {
    const none = await runCli(["check", "someone@example.com"], { cwd: dev.dir });
    expect(none.code).toBe(78);
    expect(none.stderr).toMatch(/`npx bun \S*src\/main\.ts serve`/);
    // What `serve` leaves behind on its first start.
    mkdirSync(join(dev.dir, "data/dev"), { mode: 0o700, recursive: true });
    writeFileSync(
      join(dev.dir, "data/dev/credentials.json"),
      JSON.stringify({
        webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        apiToken: "dev_0123456789abcdef0123",
      }),
    );
    const before = await runCli(["check", "someone@example.com"], { cwd: dev.dir });
    expect(before.code).toBe(69);
    // The hint names the command as it is run here (from source), not a `suppressd` not on PATH.
    expect(before.stderr).toMatch(/`npx bun \S*src\/main\.ts migrate`/);
    expect((await runCli(["migrate"], { cwd: dev.dir })).code).toBe(0);
    const after = await runCli(["check", "someone@example.com"], { cwd: dev.dir });
    expect(after.code).toBe(0);
    // Apart from the production default path, data/suppressd.db, which stays untouched.
    expect(await Bun.file(join(dev.dir, "data/dev/suppressd.db")).exists()).toBe(true);
    expect(await Bun.file(join(dev.dir, "data/suppressd.db")).exists()).toBe(false);
  } finally {
    dev.cleanup();
  }
});
