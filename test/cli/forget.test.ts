import { expect, test } from "bun:test";
import { join } from "node:path";
import { appsClosedAfterEach } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { runCli } from "./run.ts";

const makeApp = appsClosedAfterEach();

const CRM = { type: "http", name: "crm", url: "https://crm.example/{{email}}" };

/** An address with a suppression, two reasons, history and a sync job; and a neighbour. */
async function setup() {
  const t = await makeApp({ sinks: [CRM] });
  for (const body of [bounce("Gone@Example.com"), bounce("neighbour@example.com")]) {
    const res = await t.app.request("/webhooks/resend", {
      method: "POST",
      body,
      headers: signedHeaders(body),
    });
    expect(res.status).toBe(200);
  }
  await t.api("PUT", "/v1/suppressions/gone@example.com", { reason: "manual", note: "asked by phone" });
  // A signed body that fails the schema but names the address: quarantined, kept as received.
  const odd = JSON.stringify({
    type: "email.bounced",
    created_at: "soon",
    data: { to: ["gone@example.com"] },
  });
  await t.app.request("/webhooks/resend", {
    method: "POST",
    body: odd,
    headers: signedHeaders(odd, { id: "msg_odd" }),
  });
  const config = writeConfig(t.dir, join(t.dir, "test.db"), { sinks: [CRM] });
  return { t, config };
}

test("without --yes: says what it would erase and erases nothing", async () => {
  const { t, config } = await setup();
  const before = await t.counts();
  const r = await runCli(["forget", "GONE@example.com", "--config", config]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(
    "gone@example.com: 1 suppression(s), 2 reason row(s), 2 history row(s), 1 sync job(s)",
  );
  expect(r.stdout).toContain("nothing erased: run again with --yes");
  expect(r.stdout).toContain("1 quarantined webhook(s) mention it and are kept");
  expect(await t.counts()).toEqual(before);
});

test("with --yes: every row naming the address is gone, its neighbour untouched, and it may be mailed", async () => {
  const { t, config } = await setup();
  const before = await t.counts();
  const r = await runCli(["forget", "gone@example.com", "--yes", "--config", config]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("erased 1 suppression(s), 2 reason row(s), 2 history row(s), 1 sync job(s)");
  const after = await t.counts();
  expect(after.suppressions).toBe((before.suppressions ?? 0) - 1);
  expect(after.suppression_events).toBe((before.suppression_events ?? 0) - 2);
  expect(after.sync_jobs).toBe((before.sync_jobs ?? 0) - 1);
  expect(after.quarantine).toBe(before.quarantine as number);
  expect((await t.api("GET", "/v1/suppressions/gone@example.com")).status).toBe(404);
  expect((await t.api("GET", "/v1/suppressions/neighbour@example.com")).status).toBe(200);
  const again = await runCli(["forget", "gone@example.com", "--yes", "--config", config]);
  expect(again.stdout).toContain("no records name this address; nothing to erase");
  // A new bounce suppresses it anew, from a clean history.
  const body = bounce("gone@example.com");
  await t.app.request("/webhooks/resend", { method: "POST", body, headers: signedHeaders(body) });
  const res = (await (await t.api("GET", "/v1/suppressions/gone@example.com")).json()) as {
    history: unknown[];
  };
  expect(res.history.length).toBe(1);
});

test("not an address, or none, or two: usage error, nothing erased", async () => {
  const { t, config } = await setup();
  const before = await t.counts();
  for (const args of [
    ["forget", "not-an-address", "--yes"],
    ["forget", "--yes"],
    ["forget", "a@example.com", "b@example.com", "--yes"],
  ]) {
    const r = await runCli([...args, "--config", config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/is not an email address|name one address/);
  }
  expect(await t.counts()).toEqual(before);
});
