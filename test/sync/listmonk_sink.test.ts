import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { type Outcome, SinkError, type SyncJob } from "../../src/sync/sink.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { FakeListmonk } from "../fakes/listmonk.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { ROOT } from "../helpers/daemon.ts";

let fake: FakeListmonk;
let base: string;

/** A listmonk sink: the preset from config.example.json (or `over`), pointed at the fake. */
function sink(over: Record<string, unknown> = {}): HttpSink {
  const raw = JSON.parse(readFileSync(join(ROOT, "config.example.json"), "utf8"));
  const preset = raw["//examples"]["listmonk-blocklist"];
  const config = parseConfig(
    {
      resend: { webhookSecrets: [SECRET] },
      api: { tokens: [TOKEN] },
      sinks: [{ ...preset, url: preset.url.replace("https://listmonk.example.com", base), ...over }],
    },
    { LISTMONK_AUTHORIZATION: `token ${fake.user}:${fake.token}` },
  );
  return new HttpSink(config.sinks[0] as HttpSinkConfig);
}

const job = (email: string): SyncJob => ({
  id: 1,
  sink: "listmonk",
  email,
  action: "suppress",
  reason: "complaint",
  event_type: "email.complained",
  occurred_at: 0,
  attempts: 0,
  created_at: 0,
});

type Result = Outcome | { kind: "stop"; error: string };

/** One job through `s`; a refusal of the whole sink (401/403) comes back as `stop`. */
async function send(s: HttpSink, email: string): Promise<Result | undefined> {
  try {
    return (await s.send([job(email)], new AbortController().signal)).get(1);
  } catch (e) {
    if (e instanceof SinkError && e.permanent) return { kind: "stop", error: e.message };
    throw e;
  }
}

const errorOf = (o: Result | undefined) => (o && "error" in o ? o.error : "");

beforeEach(() => {
  fake = new FakeListmonk();
  base = fake.start();
});
afterEach(() => fake.stop());

test("an API user with only webhooks:post_bounce blocklists the subscriber", async () => {
  expect([...fake.permissions]).toEqual(["webhooks:post_bounce"]);
  fake.add("o'brien+news@example.com");
  expect(await send(sink(), "o'brien+news@example.com")).toEqual({ kind: "done" });
  const sub = fake.subscribers.get("o'brien+news@example.com");
  expect(sub?.status).toBe("blocklisted");
  expect(sub?.bounces).toEqual([
    { type: "hard", source: "suppressd", meta: { reason: "complaint", event_type: "email.complained" } },
  ]);
  expect(fake.calls.map((c) => `${c.method} ${c.path}`)).toEqual(["POST /webhooks/bounce"]);
});

test("an address listmonk does not have is done and changes nothing", async () => {
  expect(await send(sink(), "stranger@example.com")).toEqual({ kind: "done" });
  expect(fake.subscribers.size).toBe(0);
});

test("the old SQL-query preset is what failed: 403 without subscribers:sql_query stops the sink", async () => {
  fake.permissions = new Set(["subscribers:manage"]);
  fake.add("x@example.com");
  const old = sink({
    method: "PUT",
    url: `${base}/api/subscribers/query/blocklist`,
    body: '{"query": "subscribers.email = \'{{email|sql}}\'"}',
  });
  const out = await send(old, "x@example.com");
  expect(out?.kind).toBe("stop");
  expect(errorOf(out)).toContain('403: {"message":"Permission denied: subscribers:sql_query"}');
  expect(fake.subscribers.get("x@example.com")?.status).toBe("enabled");
});

test("bounce processing switched off (503) is retried; once on, the job goes through", async () => {
  fake.settings.bounceEnabled = false;
  fake.add("later@example.com");
  const out = await send(sink(), "later@example.com");
  expect(out?.kind).toBe("retry");
  expect(errorOf(out)).toContain('503: {"message":"Internal server error"}');
  fake.settings.bounceEnabled = true;
  expect(await send(sink(), "later@example.com")).toEqual({ kind: "done" });
  expect(fake.subscribers.get("later@example.com")?.status).toBe("blocklisted");
});

test("bounce webhooks switched off (no such route, 404) fail the job with listmonk's answer", async () => {
  fake.settings.webhooksEnabled = false;
  const out = await send(sink(), "a@example.com");
  expect(out?.kind).toBe("fail");
  expect(errorOf(out)).toContain('404: {"message":"Not Found"}');
});

test("a role without webhooks:post_bounce, or a wrong token, stops the sink with listmonk's words", async () => {
  fake.permissions = new Set(["subscribers:get"]);
  expect(errorOf(await send(sink(), "a@example.com"))).toContain("permission denied: webhooks:post_bounce");
  const wrong = sink({ headers: { Authorization: "token suppressd:wrong-token" } });
  const out = await send(wrong, "a@example.com");
  expect(out?.kind).toBe("stop");
  expect(errorOf(out)).toContain('403: {"message":"invalid API credentials"}');
  expect(errorOf(out)).not.toContain("wrong-token");
});
