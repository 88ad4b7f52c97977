import { afterAll, afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { Webhook } from "svix";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { waitUntil } from "../helpers/wait.ts";

/**
 * Over real HTTP, on a real libSQL file: a Mailchimp unsubscribe arriving by webhook reaches a
 * second sink (an HTTP audience that verifies suppressd's Standard Webhooks signature), and is
 * never sent back to the Mailchimp sink of that audience; a Resend bounce still reaches both.
 */
const LIST = "a6b5da1054";
const HOOK_SECRET = "mc_hook_0123456789abcdef0123456789";
const SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const UNSUBSCRIBE = readFileSync(
  join(import.meta.dir, "../fixtures/mailchimp/webhooks/unsubscribe.form"),
  "utf8",
);

interface Received {
  path: string;
  body: string;
  headers: Record<string, string>;
}

let daemon: RunningDaemon | undefined;
let fake: FakeMailchimp | undefined;
let crm: Server<undefined> | undefined;
const tmp = tempDir();
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  fake?.stop();
  fake = undefined;
  crm?.stop(true);
  crm = undefined;
});
afterAll(() => tmp.cleanup());

test("an unsubscribe from Mailchimp's webhook reaches the other sink, signed, and never goes back to Mailchimp", async () => {
  fake = FakeMailchimp.start({ lists: [LIST] });
  // Mailchimp already holds its own change; the bounced reader is still subscribed there.
  fake.addMember(LIST, "api+unsub@mailchimp.com", "unsubscribed");
  fake.addMember(LIST, "reader@example.com", "subscribed");
  const received: Received[] = [];
  crm = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      received.push({
        path: new URL(req.url).pathname,
        body: await req.text(),
        headers: Object.fromEntries(req.headers.entries()),
      });
      return new Response(null, { status: 204 });
    },
  });
  const config = writeConfig(tmp.dir, join(tmp.dir, "two-way.db"), {
    sinks: [
      {
        type: "mailchimp",
        name: "mc",
        apiKey: FAKE_KEY,
        listIds: [LIST],
        baseUrl: fake.url,
        webhookSecret: HOOK_SECRET,
      },
      {
        type: "http",
        name: "crm",
        method: "POST",
        url: `http://127.0.0.1:${crm.port}/suppressions`,
        body: '{"email": "{{email}}", "reason": "{{reason}}"}',
        signingSecret: SIGNING,
      },
    ],
    sync: { pollMs: 100 },
  });
  daemon = await startDaemon({ config });
  const d = daemon;

  const validate = await fetch(`${d.url}/webhooks/mailchimp/${HOOK_SECRET}`);
  expect(validate.status).toBe(200);
  const hook = await fetch(`${d.url}/webhooks/mailchimp/${HOOK_SECRET}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: UNSUBSCRIBE,
  });
  expect(hook.status).toBe(200);
  expect(await hook.json()).toEqual({ status: "processed" });
  const body = bounce("reader@example.com");
  const res = await fetch(`${d.url}/webhooks/resend`, { method: "POST", body, headers: signedHeaders(body) });
  expect(res.status).toBe(200);

  await waitUntil("both changes reached the CRM", () => received.length >= 2);
  await waitUntil(
    "the bounce reached Mailchimp",
    () => fake?.member(LIST, "reader@example.com")?.status === "unsubscribed",
  );
  await waitUntil("every job is finished", async () => {
    const r = await fetch(`${d.url}/v1/sync/jobs?limit=10`, { headers: authHeaders() });
    const { counts } = (await r.json()) as { counts: Record<string, number> };
    return counts.pending === 0 && counts.running === 0;
  });

  // The CRM got both, each verifiable with the shared secret (svix's Standard Webhooks verifier).
  const bodies = received.map((r) => JSON.parse(r.body) as { email: string; reason: string });
  expect(bodies.sort((a, b) => a.email.localeCompare(b.email))).toEqual([
    { email: "api+unsub@mailchimp.com", reason: "unsubscribe" },
    { email: "reader@example.com", reason: "hard_bounce" },
  ]);
  for (const r of received) {
    expect(r.headers["webhook-id"]).toMatch(/^msg_\d+_\d+$/);
    expect(() => new Webhook(SIGNING).verify(r.body, r.headers)).not.toThrow();
    // Signed with another secret, or over another body, it does not verify.
    expect(() => new Webhook("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").verify(r.body, r.headers)).toThrow();
    expect(() => new Webhook(SIGNING).verify(`${r.body} `, r.headers)).toThrow();
  }
  // Mailchimp was written once, for the bounce only: its own unsubscribe did not come back.
  expect(fake.stats.statusWrites).toEqual(["unsubscribed"]);
  const jobs = await fetch(`${d.url}/v1/sync/jobs?sink=mc&limit=10`, { headers: authHeaders() });
  const mcJobs = ((await jobs.json()) as { items: { email: string }[] }).items.map((j) => j.email);
  expect(mcJobs).toEqual(["reader@example.com"]);
}, 60_000);
