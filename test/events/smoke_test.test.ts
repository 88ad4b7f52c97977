import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { backfill } from "../../src/db/jobs.ts";
import { normalizeAddress } from "../../src/events/address.ts";
import { parseResendEvent } from "../../src/events/resend.ts";
import { SAMPLE_TYPES, sampleEvent, testAddress } from "../../src/events/samples.ts";
import { runCli } from "../cli/run.ts";
import { appsClosedAfterEach, type TestApp, tempDir } from "../helpers/app.ts";
import { startDaemon, writeConfig } from "../helpers/daemon.ts";
import { event, signedHeaders } from "../helpers/sign.ts";

const app = appsClosedAfterEach();
const CRM = { type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" };

async function deliver(t: TestApp, body: string) {
  const res = await t.app.request("/webhooks/resend", { method: "POST", body, headers: signedHeaders(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string };
}

async function jobs(t: TestApp) {
  const r = await t.db.reader.execute("SELECT email, action, status FROM sync_jobs ORDER BY id");
  return r.rows.map((row) => [row.email, row.action, row.status]);
}

describe("the default addresses cannot be a person", () => {
  test("every sample type defaults to one of Resend's test addresses, which the parser accepts", () => {
    for (const { type } of SAMPLE_TYPES) {
      const to = testAddress(type);
      expect(to).toMatch(
        /^(delivered|bounced|complained)\+suppressd-test@resend\.dev$|^suppressed@resend\.dev$/,
      );
      expect(normalizeAddress(to)).toBe(to);
    }
    expect(testAddress("email.complained")).toBe("complained+suppressd-test@resend.dev");
    expect(testAddress("suppression.added", { origin: "complaint" })).toBe(
      "complained+suppressd-test@resend.dev",
    );
  });
});

describe("the test mark", () => {
  test("every sample carries it, and the parser reads it; a real event does not", () => {
    for (const { type } of SAMPLE_TYPES) {
      const parsed = parseResendEvent(sampleEvent(type, testAddress(type)) as string);
      if (parsed.outcome === "act") expect(parsed.test).toBe(true);
    }
    const real = parseResendEvent(event("email.complained", { to: ["jane@example.com"] }));
    expect(real).toMatchObject({ outcome: "act", test: false });
  });

  test("Resend's array form of tags carries it too; another value does not", () => {
    const tagged = (tags: unknown) =>
      parseResendEvent(event("email.complained", { to: ["a@example.com"], tags }));
    expect(tagged([{ name: "suppressd_test", value: "true" }])).toMatchObject({ test: true });
    expect(tagged([{ name: "suppressd_test", value: "false" }])).toMatchObject({ test: false });
    expect(tagged({ suppressd_test: true })).toMatchObject({ test: false });
    expect(tagged("suppressd_test")).toMatchObject({ test: false });
  });

  test("a test suppression is recorded and answered, and no sink job is queued for it", async () => {
    const t = await app({ sinks: [CRM] });
    const to = testAddress("email.complained");
    expect(await deliver(t, sampleEvent("email.complained", to) as string)).toEqual({ status: "processed" });
    const res = await t.api("GET", `/v1/suppressions/${to}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { reason: string; history: { actor: string | null }[] };
    expect(body.reason).toBe("complaint");
    expect(body.history.map((h) => h.actor)).toEqual(["send-test-event"]);
    expect(await jobs(t)).toEqual([]);
    // The same event without the mark queues a job: the test above can fail.
    await deliver(t, event("email.complained", { to: ["real@example.com"] }));
    expect(await jobs(t)).toEqual([["real@example.com", "suppress", "pending"]]);
  });

  test("a test on a real address neither queues nor supersedes the jobs waiting for it", async () => {
    const t = await app({ sinks: [{ ...CRM, sendLifts: true }] });
    await deliver(t, event("email.complained", { to: ["jane@example.com"] }));
    const test = sampleEvent("contact.updated", "jane@example.com", { subscribed: false }) as string;
    await deliver(t, test);
    t.now.value += 60_000;
    await t.api("DELETE", "/v1/suppressions/jane@example.com");
    await deliver(t, sampleEvent("email.bounced", "jane@example.com") as string);
    expect(await jobs(t)).toEqual([
      ["jane@example.com", "suppress", "superseded"],
      ["jane@example.com", "lift", "pending"],
    ]);
  });

  test("backfill leaves out suppressions a test began", async () => {
    const t = await app({ sinks: [] });
    await deliver(t, sampleEvent("email.bounced", testAddress("email.bounced")) as string);
    await deliver(t, event("email.complained", { to: ["real@example.com"] }));
    expect(await backfill(t.db.write, "crm", t.now.value)).toMatchObject({ queued: 1 });
    const r = await t.db.reader.execute("SELECT email FROM sync_jobs");
    expect(r.rows.map((row) => row.email)).toEqual(["real@example.com"]);
  });
});

describe("send-test-event against a daemon with a sink", () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  test("without EMAIL: a Resend test address, marked, recorded, and no job for the sink", async () => {
    const dbFile = join(tmp.dir, "s.db");
    const config = writeConfig(tmp.dir, dbFile, { sinks: [CRM], sync: { pollMs: 60_000 } });
    const daemon = await startDaemon({ config });
    try {
      const r = await runCli([
        "send-test-event",
        "--config",
        config,
        "--url",
        `${daemon.url}/webhooks/resend`,
        "email.complained",
      ]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("email.complained for complained+suppressd-test@resend.dev");
      expect(r.stdout).toContain("marked as a test: recorded, never sent to a sink");
      const check = await runCli(["check", "--config", config, "complained+suppressd-test@resend.dev"]);
      expect(check.code).toBe(1);
      const db = createClient({ url: `file:${dbFile}` });
      try {
        const n = await db.execute("SELECT count(*) AS n FROM sync_jobs");
        expect(Number(n.rows[0]?.n)).toBe(0);
      } finally {
        db.close();
      }
    } finally {
      await daemon.stop();
    }
  }, 30_000);
});
