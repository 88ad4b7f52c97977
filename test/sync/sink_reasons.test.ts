import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { runCli } from "../cli/run.ts";
import { FAKE_KEY } from "../fakes/mailchimp.ts";
import { appsClosedAfterEach, type TestApp } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { ROOT, writeConfig } from "../helpers/daemon.ts";
import { bounce, event, signedHeaders } from "../helpers/sign.ts";

const makeApp = appsClosedAfterEach();
/** The preset as config.example.json ships it. */
const PRESET = JSON.parse(readFileSync(join(ROOT, "config.example.json"), "utf8"))["//examples"][
  "resend-suppressions"
];
const RESEND_SUP = { ...PRESET, headers: { Authorization: "Bearer re_test" } };
const MC = { type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"] };

function webhook(t: TestApp, body: string) {
  return t.app.request("/webhooks/resend", { method: "POST", body, headers: signedHeaders(body) });
}

async function jobs(t: TestApp) {
  const r = await t.db.reader.execute(
    "SELECT sink, email, action, reason, status FROM sync_jobs ORDER BY id",
  );
  return r.rows.map((j) => `${j.sink} ${j.action} ${j.reason} ${j.email} ${j.status}`);
}

test("the resend-suppressions preset is Resend's documented POST /suppressions with {email}", () => {
  const config = parseConfig({
    resend: { webhookSecrets: [SECRET] },
    api: { tokens: [TOKEN] },
    sinks: [RESEND_SUP],
  });
  const sink = new HttpSink(config.sinks[0] as HttpSinkConfig);
  const req = sink.request({
    id: 1,
    sink: "resend-suppressions",
    email: "steve.wozniak@gmail.com",
    action: "suppress",
    reason: "hard_bounce",
    event_type: "email.bounced",
    occurred_at: 0,
    attempts: 0,
    created_at: 0,
  });
  // resend.com/docs/api-reference/suppressions/create-suppression: the cURL example, field for field.
  expect(req).toEqual({
    method: "POST",
    url: "https://api.resend.com/suppressions",
    headers: { Authorization: "Bearer re_test", "content-type": "application/json" },
    body: '{"email": "steve.wozniak@gmail.com"}',
  });
  expect(config.sinks[0]?.reasons).toEqual(["hard_bounce", "complaint"]);
});

test("each sink gets the reasons it should: an unsubscribe reaches Mailchimp only, a bounce both", async () => {
  const t = await makeApp({ sinks: [RESEND_SUP, MC] });
  await t.api("PUT", "/v1/suppressions/news@example.com", { reason: "unsubscribe" });
  expect(await jobs(t)).toEqual(["mc suppress unsubscribe news@example.com pending"]);

  // The same address bounces: Resend's list now wants it (with the reason it wants); Mailchimp
  // already has it, so it hears nothing new.
  await webhook(t, bounce("news@example.com"));
  expect(await jobs(t)).toEqual([
    "mc suppress unsubscribe news@example.com pending",
    "resend-suppressions suppress hard_bounce news@example.com pending",
  ]);

  // A complaint about another address goes to both at once.
  await webhook(t, event("email.complained", { to: ["spam@example.com"] }));
  expect((await jobs(t)).filter((j) => j.includes("spam@"))).toEqual([
    "resend-suppressions suppress complaint spam@example.com pending",
    "mc suppress complaint spam@example.com pending",
  ]);

  // Resend lifts its bounce: the address stays suppressed (the unsubscribe), but no longer for a
  // reason Resend's list takes. That sink does not send lifts, so its waiting job is superseded.
  await webhook(
    t,
    event("suppression.removed", {
      id: "s1",
      email: "news@example.com",
      origin: "bounce",
      created_at: "2020-01-01",
    }),
  );
  expect((await jobs(t)).filter((j) => j.includes("news@"))).toEqual([
    "mc suppress unsubscribe news@example.com pending",
    "resend-suppressions suppress hard_bounce news@example.com superseded",
  ]);
});

test("jobs backfill follows the sink's filter, and brings a widened filter in line", async () => {
  const t = await makeApp();
  await t.api("PUT", "/v1/suppressions/news@example.com", { reason: "unsubscribe" });
  await t.api("PUT", "/v1/suppressions/gone@example.com", { reason: "hard_bounce" });
  // Suppressed for a reason the filter takes and a stronger one it does not: it is sent, with the
  // reason the sink takes.
  await t.api("PUT", "/v1/suppressions/both@example.com", { reason: "hard_bounce" });
  await t.api("PUT", "/v1/suppressions/both@example.com", { reason: "manual" });
  await t.api("PUT", "/v1/suppressions/typed@example.com", { reason: "manual" });
  const run = async (sink: Record<string, unknown>) => {
    const config = writeConfig(t.dir, join(t.dir, "test.db"), { sinks: [sink] });
    const r = await runCli([
      "jobs",
      "backfill",
      "--sink",
      "resend-suppressions",
      "--force",
      "--config",
      config,
    ]);
    expect(r.stderr).not.toContain("    at ");
    expect(r.code).toBe(0);
    return r.stdout;
  };
  expect(await run(RESEND_SUP)).toContain(
    "queued 2 suppress job(s) for sink resend-suppressions (4 suppressed address(es); 2 already had a job waiting or have none of its reasons (hard_bounce, complaint))",
  );
  expect(await jobs(t)).toEqual([
    "resend-suppressions suppress hard_bounce both@example.com pending",
    "resend-suppressions suppress hard_bounce gone@example.com pending",
  ]);
  // The operator decides Resend should hold unsubscribes too: the next backfill adds just those.
  await run({ ...RESEND_SUP, reasons: ["hard_bounce", "complaint", "unsubscribe"] });
  expect((await jobs(t)).slice(2)).toEqual([
    "resend-suppressions suppress unsubscribe news@example.com pending",
  ]);
  // Without a filter, everything suppressed is sent, each with its own reason.
  const { reasons: _, ...all } = RESEND_SUP;
  await run(all);
  expect((await jobs(t)).slice(3)).toEqual(["resend-suppressions suppress manual typed@example.com pending"]);
});

test("in one batch, a smoke test touching an address after a real change does not hold the real jobs back", async () => {
  const t = await makeApp({ sinks: [RESEND_SUP, MC] });
  const item = (test: boolean) =>
    t.writer.submit({
      claim: "none",
      svixId: null,
      type: "email.bounced",
      status: "processed",
      occurredAt: 1000,
      ...(test ? { test: true } : {}),
      intents: [
        {
          kind: "suppress",
          email: "both@example.com",
          reason: "hard_bounce",
          eventType: "email.bounced",
          occurredAt: 1000,
        },
      ],
    });
  // Submitted together, they share one commit (the writer batches what is queued).
  await Promise.all([item(false), item(true)]);
  expect(await jobs(t)).toEqual([
    "resend-suppressions suppress hard_bounce both@example.com pending",
    "mc suppress hard_bounce both@example.com pending",
  ]);
  expect(t.writer.stats.batches).toBe(1);
});
