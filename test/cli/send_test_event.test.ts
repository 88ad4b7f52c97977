import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { OTHER_SECRET } from "../helpers/config.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { runCli } from "./run.ts";

const tmp = tempDir();
const dbFile = join(tmp.dir, "s.db");
let daemon: RunningDaemon;
let config: string;
let hook: string;

beforeAll(async () => {
  config = writeConfig(tmp.dir, dbFile);
  daemon = await startDaemon({ config });
  hook = `${daemon.url}/webhooks/resend`;
});
afterAll(async () => {
  await daemon.stop();
  tmp.cleanup();
});

async function lookup(email: string) {
  const res = await fetch(`${daemon.url}/v1/suppressions/${email}`, { headers: authHeaders() });
  return { status: res.status, body: (await res.json()) as { reason?: string; suppressed: boolean } };
}

/** A second config for the CLI in its own folder, pointing at the same database. */
function cliConfig(name: string, overrides: Record<string, unknown>): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir);
  return writeConfig(dir, dbFile, overrides);
}

test("a signed sample lands in the running daemon as a suppression", async () => {
  const r = await runCli([
    "send-test-event",
    "--config",
    config,
    "--url",
    hook,
    "email.complained",
    "Jane <jane@example.com>",
  ]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('HTTP 200 {"status":"processed"}');
  // The hint is a command that works from a fresh clone: no `suppressd` is on its PATH.
  expect(r.stdout).toContain("See the effect: npx bun src/main.ts check jane@example.com");
  expect(await lookup("jane@example.com")).toMatchObject({ status: 200, body: { reason: "complaint" } });
});

test("without --url it posts to server.host:server.port from the config", async () => {
  const port = Number(new URL(daemon.url).port);
  const own = cliConfig("same-port", { server: { host: "0.0.0.0", port } });
  const r = await runCli(["send-test-event", "--config", own, "email.bounced", "hard@example.com"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(`POST http://127.0.0.1:${port}/webhooks/resend`);
  expect(await lookup("hard@example.com")).toMatchObject({ status: 200, body: { reason: "hard_bounce" } });
});

test("variants: a soft bounce does not suppress; an opened email is acknowledged and ignored", async () => {
  const [soft, opened] = await Promise.all([
    runCli([
      "send-test-event",
      "--config",
      config,
      "--url",
      hook,
      "--soft",
      "email.bounced",
      "soft@example.com",
    ]),
    runCli(["send-test-event", "--config", config, "--url", hook, "email.opened", "reader@example.com"]),
  ]);
  expect(soft.code).toBe(0);
  expect(soft.stdout).toContain('{"status":"processed"}');
  expect((await lookup("soft@example.com")).status).toBe(404);
  expect(opened.code).toBe(0);
  expect(opened.stdout).toContain('{"status":"ignored"}');
});

test("a daemon with another secret rejects the signature: exit 78 with the reason", async () => {
  const other = cliConfig("other-secret", { resend: { webhookSecrets: [OTHER_SECRET] } });
  const r = await runCli([
    "send-test-event",
    "--config",
    other,
    "--url",
    hook,
    "email.bounced",
    "x@example.com",
  ]);
  expect(r.code).toBe(78);
  expect(r.stdout).toContain("HTTP 401");
  expect(r.stderr).toContain("resend.webhookSecrets");
});

test("an unknown type is a usage error that lists the types", async () => {
  const r = await runCli(["send-test-event", "--config", config, "email.exploded", "x@example.com"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("email.bounced");
  expect(r.stderr).toContain("contact.updated");
});

test("no daemon listening: a clear message and exit 69", async () => {
  const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = closed.port;
  closed.stop(true);
  const r = await runCli([
    "send-test-event",
    "--config",
    config,
    "--url",
    `http://127.0.0.1:${port}/webhooks/resend`,
    "email.bounced",
    "x@example.com",
  ]);
  expect(r.code).toBe(69);
  expect(r.stderr).toContain("Is the daemon running?");
});

test("a config with port 0 needs --url", async () => {
  const r = await runCli(["send-test-event", "--config", config, "email.bounced", "x@example.com"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("--url");
});
