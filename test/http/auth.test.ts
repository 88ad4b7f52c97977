import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appsClosedAfterEach, makeApp, type TestApp } from "../helpers/app.ts";
import { TOKEN } from "../helpers/config.ts";

const app = appsClosedAfterEach();

/** Every /v1 route, with a body that would succeed given a good token. */
const ROUTES: [string, string, unknown][] = [
  ["GET", "/v1/suppressions/kept@x.com", undefined],
  ["POST", "/v1/suppressions/check", { emails: ["kept@x.com"] }],
  ["GET", "/v1/suppressions", undefined],
  ["GET", "/v1/suppressions?format=csv", undefined],
  ["PUT", "/v1/suppressions/new@x.com", { reason: "manual" }],
  ["DELETE", "/v1/suppressions/kept@x.com", undefined],
];

const CREDENTIALS: [string, Record<string, string>][] = [
  ["no Authorization header", {}],
  ["a wrong token", { authorization: "Bearer wrong-token-0123456789abcdef" }],
  ["the token with one character changed", { authorization: `Bearer ${TOKEN.slice(0, -1)}X` }],
  ["a prefix of the token", { authorization: `Bearer ${TOKEN.slice(0, 8)}` }],
  ["the token with something appended", { authorization: `Bearer ${TOKEN}x` }],
  ["Bearer without a token", { authorization: "Bearer" }],
  ["Bearer and a space", { authorization: "Bearer " }],
  ["the token without the scheme", { authorization: TOKEN }],
  ["Basic auth carrying the token", { authorization: `Basic ${btoa(`user:${TOKEN}`)}` }],
  ["two tokens", { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
  ["the token in another header", { "x-api-key": TOKEN }],
];

describe("/v1 without a valid bearer token → 401, and nothing read or written", () => {
  // One app for the whole table: a 401 changes nothing, which each case checks.
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await t.api("PUT", "/v1/suppressions/kept@x.com", {});
  });
  afterAll(() => t.close());

  for (const [method, path, body] of ROUTES) {
    for (const [name, headers] of CREDENTIALS) {
      test(`${method} ${path} with ${name}`, async () => {
        const before = await t.counts();
        const res = await t.app.request(path, {
          method,
          headers: { "content-type": "application/json", ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        expect(res.status).toBe(401);
        const got = (await res.json()) as Record<string, unknown>;
        expect(got).toEqual({ error: "unauthorized", message: expect.stringContaining("token") });
        expect(await t.counts()).toEqual(before);
        expect((await t.api("GET", "/v1/suppressions/kept@x.com")).status).toBe(200);
      });
    }
  }
});

describe("valid tokens", () => {
  test("any configured token is accepted; the scheme is case-insensitive; spaces around are fine", async () => {
    const second = "second-token-abcdef0123456789";
    const t = await app({ api: { tokens: [TOKEN, second] } });
    for (const authorization of [
      `Bearer ${TOKEN}`,
      `Bearer ${second}`,
      `bearer ${TOKEN}`,
      `BEARER  ${TOKEN} `,
    ]) {
      const res = await t.app.request("/v1/suppressions/a@x.com", { headers: { authorization } });
      expect(res.status).toBe(404);
    }
  });

  test("the webhook and health routes need no token", async () => {
    const t = await app();
    expect((await t.app.request("/healthz")).status).toBe(200);
    expect((await t.app.request("/readyz")).status).toBe(200);
    // Without a signature the webhook answers 401 for the signature, not for a token.
    const res = await t.app.request("/webhooks/resend", { method: "POST", body: "{}" });
    expect(((await res.json()) as { error: string }).error).toBe("invalid_signature");
  });
});
