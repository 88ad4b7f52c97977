import { expect, test } from "bun:test";
import { Webhook } from "svix";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import type { SyncJob } from "../../src/sync/sink.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";

const SIGNING = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const base = { resend: { webhookSecrets: [SECRET] }, api: { tokens: [TOKEN] } };
const job: SyncJob = {
  id: 7,
  sink: "crm",
  email: "a@example.com",
  action: "suppress",
  reason: "complaint",
  event_type: "email.complained",
  occurred_at: 0,
  attempts: 0,
  created_at: 1_700_000_000_000,
};

/** An HTTP sink whose requests are recorded (a receiver that answers 503, so the job is retried). */
function sinkWith(extra: Record<string, unknown>) {
  const seen: { headers: Record<string, string>; body: string }[] = [];
  const config = parseConfig({
    ...base,
    sinks: [
      { type: "http", name: "crm", url: "http://crm.example/s", body: '{"email": "{{email}}"}', ...extra },
    ],
  });
  const fetcher = (async (_url: string, init: RequestInit) => {
    seen.push({ headers: init.headers as Record<string, string>, body: String(init.body) });
    return new Response("busy", { status: 503 });
  }) as unknown as typeof fetch;
  return { sink: new HttpSink(config.sinks[0] as HttpSinkConfig, fetcher), seen };
}

test("a signing sink sends Standard Webhooks headers that svix verifies; a retry keeps the webhook-id", async () => {
  const { sink, seen } = sinkWith({ signingSecret: SIGNING });
  for (let i = 0; i < 2; i++) await sink.send([job], new AbortController().signal);
  expect(seen).toHaveLength(2);
  for (const s of seen) {
    expect(s.headers["webhook-id"]).toBe(`msg_7_${job.created_at}`);
    expect(s.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    expect(() => new Webhook(SIGNING).verify(s.body, s.headers)).not.toThrow();
    expect(() => new Webhook(SECRET).verify(s.body, s.headers)).toThrow();
  }
});

test("without signingSecret nothing is signed; a malformed one is a config error naming the key", () => {
  const { sink } = sinkWith({});
  expect(sink.signatureHeaders(job, "{}", new Date())).toEqual({});
  expect(() =>
    parseConfig({
      ...base,
      sinks: [{ type: "http", name: "crm", url: "http://x/", signingSecret: "whsec_AA==" }],
    }),
  ).toThrow(/sinks\.0\.signingSecret: decodes to 1 bytes/);
  expect(() =>
    parseConfig({
      ...base,
      sinks: [{ type: "http", name: "crm", url: "http://x/", signingSecret: "secret" }],
    }),
  ).toThrow(/sinks\.0\.signingSecret: a Standard Webhooks secret starts with 'whsec_'/);
});
