import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { type Outcome, SinkError, type SyncJob } from "../../src/sync/sink.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { FakeResend, RESEND_ERRORS, type ResendErrorName } from "../fakes/resend.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { ROOT } from "../helpers/daemon.ts";

/**
 * What each error of Resend's table does to a job of the resend-contacts preset (README). "stop":
 * the key itself is refused, so the send throws a permanent SinkError and the worker stops the
 * sink with its jobs waiting, instead of letting every job die.
 */
const EXPECTED: Record<ResendErrorName, "done" | "retry" | "fail" | "stop"> = {
  invalid_idempotency_key: "fail",
  validation_error: "fail",
  missing_api_key: "stop",
  restricted_api_key: "stop",
  invalid_api_key: "stop",
  invalid_permission: "stop",
  suspended_api_key: "stop",
  not_found: "done",
  method_not_allowed: "fail",
  invalid_idempotent_request: "retry",
  concurrent_idempotent_requests: "retry",
  resource_locked: "retry",
  invalid_parameter: "fail",
  missing_required_field: "fail",
  daily_quota_exceeded: "retry",
  monthly_quota_exceeded: "retry",
  rate_limit_exceeded: "retry",
  application_error: "retry",
  service_unavailable: "retry",
  internal_server_error: "retry",
};

let fake: FakeResend;
let base: string;
let sink: HttpSink;

/** The preset exactly as config.example.json ships it, pointed at the fake. */
function presetSink(base: string, authorization = `Bearer ${fake.apiKey}`): HttpSink {
  const raw = JSON.parse(readFileSync(join(ROOT, "config.example.json"), "utf8"));
  const preset = raw["//examples"]["resend-contacts"];
  expect(preset.url).toBe("https://api.resend.com/contacts/{{email}}");
  const config = parseConfig(
    {
      resend: { webhookSecrets: [SECRET] },
      api: { tokens: [TOKEN] },
      sinks: [{ ...preset, url: `${base}/contacts/{{email}}` }],
    },
    { RESEND_CONTACTS_AUTHORIZATION: authorization },
  );
  return new HttpSink(config.sinks[0] as HttpSinkConfig);
}

const job = (email: string, id = 1): SyncJob => ({
  id,
  sink: "resend-contacts",
  email,
  action: "suppress",
  reason: "hard_bounce",
  event_type: "email.bounced",
  occurred_at: 0,
  attempts: 0,
  created_at: 0,
});

type Result = Outcome | { kind: "stop"; error: string };

/** One job through `s`; a refusal of the whole sink comes back as `stop`. */
async function sendWith(s: HttpSink, email: string): Promise<Result | undefined> {
  try {
    return (await s.send([job(email)], new AbortController().signal)).get(1);
  } catch (e) {
    if (e instanceof SinkError && e.permanent) return { kind: "stop", error: e.message };
    throw e;
  }
}
const send = (email: string) => sendWith(sink, email);

beforeEach(() => {
  fake = new FakeResend();
  base = fake.start();
  sink = presetSink(base);
});
afterEach(() => fake.stop());

test("a known contact is marked unsubscribed", async () => {
  fake.add("jane@example.com");
  expect(await send("jane@example.com")).toEqual({ kind: "done" });
  expect(fake.contacts.get("jane@example.com")?.unsubscribed).toBe(true);
  expect(fake.calls).toEqual([
    { method: "PATCH", path: "/contacts/jane%40example.com", body: '{"unsubscribed": true}' },
  ]);
});

test("a contact Resend does not have is done (404 not_found)", async () => {
  expect(await send("nobody@example.com")).toEqual({ kind: "done" });
});

test("409 resource_locked is retried, and the next attempt goes through", async () => {
  fake.add("busy@example.com");
  fake.failNext("busy@example.com", "resource_locked");
  const first = await send("busy@example.com");
  expect(first?.kind).toBe("retry");
  expect(first && "error" in first ? first.error : "").toContain(
    '409: {"statusCode":409,"message":"Another request is already updating this resource.","name":"resource_locked"}',
  );
  expect(await send("busy@example.com")).toEqual({ kind: "done" });
  expect(fake.contacts.get("busy@example.com")?.unsubscribed).toBe(true);
});

test("429 rate_limit_exceeded waits for the documented Retry-After", async () => {
  fake.failNext("fast@example.com", "rate_limit_exceeded");
  expect(await send("fast@example.com")).toMatchObject({ kind: "retry", retryAfterMs: 1000 });
});

test("a wrong API key stops the sink at once with Resend's own words, the key not repeated", async () => {
  const wrong = presetSink(base, "Bearer re_wrong_key_123");
  const out = await sendWith(wrong, "x@example.com");
  expect(out?.kind).toBe("stop");
  expect(out && "error" in out ? out.error : "").toContain(
    '403: {"statusCode":403,"message":"API key is invalid.","name":"invalid_api_key"}',
  );
  expect(JSON.stringify(out)).not.toContain("re_wrong_key_123");
});

describe("every error in Resend's table", () => {
  for (const name of Object.keys(RESEND_ERRORS) as ResendErrorName[]) {
    test(`${name} (${RESEND_ERRORS[name][0]}) → ${EXPECTED[name]}`, async () => {
      fake.add("t@example.com");
      fake.failNext("t@example.com", name);
      const out = await send("t@example.com");
      expect(out?.kind).toBe(EXPECTED[name]);
      if (out?.kind !== "done") expect(out && "error" in out ? out.error : "").toContain(`"name":"${name}"`);
      expect(fake.contacts.get("t@example.com")?.unsubscribed).toBe(false);
    });
  }
});

test("an answer cannot be both done and retried: a config error naming the field", () => {
  expect(() =>
    parseConfig({
      resend: { webhookSecrets: [SECRET] },
      api: { tokens: [TOKEN] },
      sinks: [{ type: "http", name: "x", url: "https://x/", doneStatuses: [409], retryStatuses: [409] }],
    }),
  ).toThrow(/retryStatuses.*409 is in doneStatuses too/s);
});
