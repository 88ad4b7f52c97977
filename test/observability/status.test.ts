import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openTestDb, runCli, seed } from "../cli/run.ts";
import { tempDir } from "../helpers/app.ts";
import { startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir();
const dbFile = join(tmp.dir, "s.db");

/** A port nothing listens on right now. */
function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

beforeAll(async () => {
  const t = await openTestDb(dbFile);
  const at = Date.now();
  await seed(t.writer, [
    { kind: "suppress", email: "a@example.com", reason: "hard_bounce", eventType: "test", occurredAt: at },
    { kind: "suppress", email: "b@example.com", reason: "hard_bounce", eventType: "test", occurredAt: at },
    { kind: "suppress", email: "c@example.com", reason: "complaint", eventType: "test", occurredAt: at },
  ]);
  await t.writer.submit({
    claim: "new",
    svixId: "msg_q",
    type: "email.bounced",
    status: "quarantined",
    occurredAt: null,
    intents: [],
    quarantine: { reason: "test", body: new TextEncoder().encode("{}") },
  });
  await t.writer.submit({
    claim: "new",
    svixId: "msg_o",
    type: "email.opened",
    status: "ignored",
    occurredAt: null,
    intents: [],
  });
  await t.db.writer.execute(`INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status,
    attempts, next_attempt_at, created_at, updated_at) VALUES
    ('crm', 'a@example.com', 'suppress', 'hard_bounce', 'test', 0, 'pending', 0, 0, 0, 0),
    ('crm', 'b@example.com', 'suppress', 'hard_bounce', 'test', 0, 'dead', 5, 0, 0, 0)`);
  await t.close();
});
afterAll(() => tmp.cleanup());

describe("suppressd status", () => {
  test("with the daemon down: the database at a glance, exit 69", async () => {
    const port = freePort();
    const config = writeConfig(tmp.dir, dbFile, { server: { host: "127.0.0.1", port } });
    const r = await runCli(["status", "--config", config]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(69);
    expect(r.stdout).toContain(`DOWN at http://127.0.0.1:${port}: does not answer`);
    expect(r.stdout).toMatch(/suppressed\s+3 addresses: hard_bounce 2 · complaint 1/);
    expect(r.stdout).toMatch(/last event\s+email\.opened, \d+ s ago/);
    expect(r.stdout).toMatch(/events kept\s+2, oldest .* \(retention\.days 30\)/);
    expect(r.stdout).toMatch(/quarantine\s+1 waiting/);
    // The config names no sink "crm": its jobs are never sent, and status says so.
    expect(r.stdout).toMatch(
      /outbox\s+crm: (pending 1 · dead 1|dead 1 · pending 1) \(not in the config: never sent\)/,
    );
    const named = writeConfig(tmp.dir, dbFile, {
      server: { host: "127.0.0.1", port },
      sinks: [{ type: "http", name: "crm", url: "https://crm.example/{{email}}" }],
    });
    const again = await runCli(["status", "--config", named]);
    expect(again.stdout).toMatch(/outbox\s+crm: (pending 1 · dead 1|dead 1 · pending 1)\n/);
  });

  test("with the daemon up: its version and counters since start; --json for scripts", async () => {
    const port = freePort();
    const config = writeConfig(tmp.dir, dbFile, { server: { host: "127.0.0.1", port } });
    const daemon = await startDaemon({ config });
    try {
      const body = bounce("d@example.com");
      const bad = { ...signedHeaders(body), "svix-signature": "v1,AAAA" };
      expect(
        (await fetch(`${daemon.url}/webhooks/resend`, { method: "POST", body, headers: bad })).status,
      ).toBe(401);
      const r = await runCli(["status", "--config", config]);
      // Jobs wait for a sink the config does not name: a problem, so a monitoring check fails (1).
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/verdict\s+2 job\(s\) of sink crm, which is not configured: never sent/);
      expect(r.stdout).toMatch(
        /daemon\s+up at http:\/\/127\.0\.0\.1:\d+: answers \/readyz, version \d+\.\d+\.\d+/,
      );
      expect(r.stdout).toContain("signature failures 1");
      const j = await runCli(["status", "--json", "--config", config]);
      expect(j.code).toBe(1);
      const report = JSON.parse(j.stdout);
      expect(report.daemon).toMatchObject({
        up: true,
        since_start: { signature_failures: 1, duplicates: 0 },
      });
      expect(report.suppressed).toEqual({ total: 3, by_reason: { hard_bounce: 2, complaint: 1 } });
      expect(report.outbox).toEqual({ crm: { pending: 1, dead: 1 } });
      expect(report.sinks_not_configured).toEqual(["crm"]);
      expect(report.ok).toBe(false);
      expect(report.quarantine).toEqual({ waiting: 1, total: 1 });
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
