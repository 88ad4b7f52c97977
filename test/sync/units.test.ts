import { afterEach, describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { md5, render, templateVars } from "../../src/config/template.ts";
import { redactAddresses as redact } from "../../src/log.ts";
import { backoffMs, RETRY_DEFAULTS } from "../../src/sync/backoff.ts";
import type { SyncJob } from "../../src/sync/sink.ts";
import { HttpSink, retryAfter } from "../../src/sync/sinks/http.ts";
import { baseUrlFor, toMailchimpError } from "../../src/sync/sinks/mailchimp_api.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";

const job = (over: Partial<SyncJob> = {}): SyncJob => ({
  id: 1,
  sink: "s",
  email: "o'brien+news@example.com",
  action: "suppress",
  reason: "hard_bounce",
  event_type: "email.bounced",
  occurred_at: Date.UTC(2026, 0, 2, 3, 4, 5),
  attempts: 0,
  created_at: 0,
  ...over,
});

describe("backoff", () => {
  test("the first retry comes within 30 s, waits grow, none exceeds an hour", () => {
    for (const r of [0, 0.5, 0.999]) {
      expect(backoffMs(1, RETRY_DEFAULTS, () => r)).toBeLessThanOrEqual(30_000);
      expect(backoffMs(1, RETRY_DEFAULTS, () => r)).toBeGreaterThan(0);
      for (let n = 1; n < 60; n++)
        expect(backoffMs(n, RETRY_DEFAULTS, () => r)).toBeLessThanOrEqual(3_600_000);
    }
    const top = (n: number) => backoffMs(n, RETRY_DEFAULTS, () => 1);
    expect([1, 2, 3, 4].map(top)).toEqual([15_000, 30_000, 60_000, 120_000]);
    expect(top(20)).toBe(3_600_000);
  });

  test("jitter spreads a burst over half the window", () => {
    expect(backoffMs(3, RETRY_DEFAULTS, () => 0)).toBe(30_000);
    expect(backoffMs(3, RETRY_DEFAULTS, () => 1)).toBe(60_000);
  });
});

describe("templates", () => {
  const vars = templateVars(job());

  test("each place escapes the value its own way", () => {
    expect(render("https://x/contacts/{{email}}", vars, "url")).toBe(
      "https://x/contacts/o'brien%2Bnews%40example.com",
    );
    expect(render('{"e":"{{ email }}","at":"{{occurred_at}}"}', vars, "json")).toBe(
      '{"e":"o\'brien+news@example.com","at":"2026-01-02T03:04:05.000Z"}',
    );
    expect(render("id={{email_md5}}", vars, "header")).toBe(`id=${md5("o'brien+news@example.com")}`);
    // listmonk takes an SQL expression: the quote must not end the string literal.
    expect(render(`{"query":"subscribers.email = '{{email|sql}}'"}`, vars, "json")).toBe(
      `{"query":"subscribers.email = 'o''brien+news@example.com'"}`,
    );
  });

  test("a value cannot break out of a JSON string or a header", () => {
    const evil = templateVars(job({ reason: 'x","admin":true,"y":"\n' as SyncJob["reason"] }));
    const body = render('{"r":"{{reason}}"}', evil, "json");
    expect(JSON.parse(body)).toEqual({ r: 'x","admin":true,"y":"\n' });
    expect(render("{{reason}}", evil, "header")).not.toContain("\n");
  });

  test("unknown placeholders and filters are config errors", () => {
    const cfg = (sink: Record<string, unknown>) =>
      parseConfig({ resend: { webhookSecrets: [SECRET] }, api: { tokens: [TOKEN] }, sinks: [sink] });
    expect(() => cfg({ type: "http", name: "x", url: "https://x/{{mail}}" })).toThrow(
      /unknown placeholder \{\{mail\}\}/,
    );
    expect(() => cfg({ type: "http", name: "x", url: "https://x/", body: "{{email|upper}}" })).toThrow(
      /unknown filter/,
    );
    expect(() =>
      parseConfig({
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: [TOKEN] },
        sinks: [
          { type: "http", name: "x", url: "https://x/" },
          { type: "http", name: "x", url: "https://y/" },
        ],
      }),
    ).toThrow(/'x' is used twice/);
  });
});

describe("Mailchimp errors in plain words", () => {
  const cases: [string, unknown, RegExp, boolean][] = [
    ["timeout", { timeout: 30000, code: "ECONNABORTED" }, /no answer from Mailchimp within 30 s/, true],
    ["refused", { code: "ECONNREFUSED", message: "connect ECONNREFUSED" }, /could not reach Mailchimp/, true],
    [
      "401",
      { status: 401, response: { body: { title: "API Key Invalid", detail: "wrong dc" } } },
      /rejected the API key \(401 API Key Invalid\)/,
      false,
    ],
    [
      "403 with a problem body",
      {
        status: 403,
        response: { body: { title: "User Disabled", detail: "This account has been deactivated." } },
      },
      /refused access \(403 User Disabled\)/,
      false,
    ],
    // Mailchimp's fundamentals page: "you may receive an HTTP 429 or 403 without a JSON body".
    [
      "403 without a body",
      { status: 403, response: { body: {}, text: "" } },
      /throttling \(403 without a body\)/,
      true,
    ],
    [
      "429 without a body",
      { status: 429, response: { body: {}, text: "" } },
      /throttling \(429 without a body\)/,
      true,
    ],
    [
      "429",
      { status: 429, response: { body: { title: "Too Many Requests" } } },
      /throttling \(429 Too Many Requests\)/,
      true,
    ],
    ["503 page", { status: 503, response: { body: {} } }, /answered 503 \(no problem\+json body/, true],
    [
      "400",
      { status: 400, response: { body: { title: "Invalid Resource", detail: "looks fake" } } },
      /400 \(Invalid Resource: looks fake\)/,
      false,
    ],
    [
      "400 with the reason nested in errors[]",
      {
        status: 400,
        response: {
          body: {
            title: "Invalid Resource",
            detail: "Your merge fields were invalid.",
            errors: [{ field: "FNAME", message: "Please enter a value" }],
          },
        },
      },
      /Invalid Resource: Your merge fields were invalid\.: Please enter a value/,
      false,
    ],
  ];
  for (const [name, raw, message, transient] of cases) {
    test(name, () => {
      const e = toMailchimpError(raw, "PUT member", 30_000);
      expect(e.message).toMatch(message);
      expect(e.transient).toBe(transient);
    });
  }

  test("the base URL comes from the key's data centre unless given", () => {
    expect(baseUrlFor({ apiKey: "abc-us19" })).toBe("https://us19.api.mailchimp.com/3.0");
    expect(baseUrlFor({ apiKey: "abc-us19", baseUrl: "http://127.0.0.1:9/3.0/" })).toBe(
      "http://127.0.0.1:9/3.0",
    );
  });
});

test("Retry-After in seconds or as a date", () => {
  expect(retryAfter("120")).toBe(120_000);
  expect(retryAfter(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(55_000);
  expect(retryAfter("soon")).toBeUndefined();
  expect(retryAfter(null)).toBeUndefined();
});

describe("HTTP sink", () => {
  let server: ReturnType<typeof Bun.serve> | undefined;
  afterEach(() => server?.stop(true));
  const seen: { method: string; path: string; body: string; auth: string | null }[] = [];

  function sink(over: Record<string, unknown>, status: (path: string) => number | "hang") {
    seen.length = 0;
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(req) {
        const url = new URL(req.url);
        seen.push({
          method: req.method,
          path: url.pathname,
          body: await req.text(),
          auth: req.headers.get("authorization"),
        });
        const s = status(decodeURIComponent(url.pathname));
        if (s === "hang") await Bun.sleep(2000);
        return new Response("nope", {
          status: s === "hang" ? 200 : s,
          headers: s === 429 ? { "retry-after": "7" } : {},
        });
      },
    });
    const config = parseConfig(
      {
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: [TOKEN] },
        sinks: [
          { type: "http", name: "crm", url: `http://127.0.0.1:${server.port}/contacts/{{email}}`, ...over },
        ],
      },
      { CRM_AUTH: "Bearer s3cret" },
    );
    return new HttpSink(config.sinks[0] as HttpSinkConfig);
  }

  test("the Resend preset: PATCH with a JSON body, secret header from env; 404 counts as done", async () => {
    const s = sink(
      {
        method: "PATCH",
        headers: { Authorization: "env:CRM_AUTH" },
        body: '{"unsubscribed": true}',
        doneStatuses: [404],
      },
      (p) => (p.includes("unknown") ? 404 : 200),
    );
    const out = await s.send(
      [job({ id: 1 }), job({ id: 2, email: "unknown@example.com" })],
      new AbortController().signal,
    );
    expect([out.get(1)?.kind, out.get(2)?.kind]).toEqual(["done", "done"]);
    expect(seen[0]).toEqual({
      method: "PATCH",
      path: "/contacts/o'brien%2Bnews%40example.com",
      body: '{"unsubscribed": true}',
      auth: "Bearer s3cret",
    });
  });

  test("429 and 5xx retry (Retry-After honoured), other 4xx fail, a hang times out", async () => {
    const s = sink({ timeoutMs: 300 }, (p) =>
      p.includes("busy") ? 429 : p.includes("down") ? 503 : p.includes("slow") ? "hang" : 400,
    );
    const out = await s.send(
      [
        job({ id: 1, email: "busy@x.com" }),
        job({ id: 2, email: "down@x.com" }),
        job({ id: 3, email: "bad@x.com" }),
        job({ id: 4, email: "slow@x.com" }),
      ],
      new AbortController().signal,
    );
    expect(out.get(1)).toEqual({
      kind: "retry",
      error: `POST 127.0.0.1:${server?.port} answered 429: nope`,
      retryAfterMs: 7000,
    });
    expect(out.get(2)?.kind).toBe("retry");
    expect(out.get(3)).toMatchObject({ kind: "fail" });
    expect(out.get(4)).toMatchObject({
      kind: "retry",
      error: expect.stringContaining("no answer within 0.3 s"),
    });
  });

  test("lifts are sent only when asked, with their own template", async () => {
    const s = sink({ sendLifts: true, liftMethod: "DELETE", liftUrl: "http://127.0.0.1:1/x" }, () => 200);
    expect(s.request(job({ action: "lift" }))).toMatchObject({
      method: "DELETE",
      url: "http://127.0.0.1:1/x",
    });
    const quiet = sink({}, () => 200);
    const out = await quiet.send([job({ action: "lift" })], new AbortController().signal);
    expect(out.get(1)?.kind).toBe("done");
    expect(seen.length).toBe(0);
  });
});

test("anything in double braces that is not a known placeholder is reported", () => {
  const cfg = (url: string) =>
    parseConfig({
      resend: { webhookSecrets: [SECRET] },
      api: { tokens: [TOKEN] },
      sinks: [{ type: "http", name: "x", url }],
    });
  expect(() => cfg("https://x/{{ Email }}")).toThrow(/unknown placeholder \{\{ Email \}\}/);
  expect(() => cfg("https://x/{{email_md5}}/{{ email | sql }}")).not.toThrow();
});

test("addresses quoted in error text are kept out of log lines", () => {
  expect(
    redact("PUT member: Mailchimp answered 400 (Invalid Resource: o'brien+x@example.com looks fake)"),
  ).toBe("PUT member: Mailchimp answered 400 (Invalid Resource: <address> looks fake)");
  expect(redact("no answer from Mailchimp within 30 s")).toBe("no answer from Mailchimp within 30 s");
});
