import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { logAddress } from "../../src/log.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { observedApp } from "./observed.ts";

let t: Awaited<ReturnType<typeof observedApp>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});
const auth = { authorization: `Bearer ${TOKEN}` };

describe("request log", () => {
  test("one line per request: method, hashed address path, status, duration, client, outcome", async () => {
    t = await observedApp({ log: { requests: true } });
    const body = bounce("Jane.Doe@Example.com");
    const headers = signedHeaders(body, { id: "msg_log_1" });
    await t.request("/webhooks/resend", { method: "POST", body, headers }, "44.228.126.217");
    await t.request("/webhooks/resend", { method: "POST", body, headers });
    await t.request("/webhooks/resend", {
      method: "POST",
      body,
      headers: { ...headers, "svix-signature": "v1,x" },
    });
    await t.request("/v1/suppressions/Jane.Doe%40example.com", { headers: auth });
    await t.request("/v1/suppressions/check", { method: "POST", headers: auth, body: '{"emails":[]}' });

    const lines = t.logs().filter((l) => l.msg === "request");
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatchObject({
      level: "info",
      method: "POST",
      path: "/webhooks/resend",
      status: 200,
      ip: "44.228.126.217",
      svix_id: "msg_log_1",
      type: "email.bounced",
      outcome: "processed",
    });
    expect(typeof lines[0]?.duration_ms).toBe("number");
    expect(lines[1]).toMatchObject({ status: 200, outcome: "duplicate" });
    expect(lines[2]).toMatchObject({ status: 401, outcome: "invalid_signature", svix_id: "msg_log_1" });
    const hashed = logAddress("jane.doe@example.com");
    expect(hashed).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(lines[3]).toMatchObject({ method: "GET", path: `/v1/suppressions/${hashed}`, status: 200 });
    expect(lines[4]).toMatchObject({ path: "/v1/suppressions/check", status: 200 });
    // The name of the token that acted, never the token; none before the token is checked.
    expect(lines[3]?.token).toBe("api.tokens[0]");
    expect(lines[0]?.token).toBeUndefined();
    expect(t.raw().toLowerCase()).not.toContain("jane.doe");
  });

  test("the Resend route answers and logs alike whether reached before Hono or through it, once each", async () => {
    t = await observedApp({ log: { requests: true } });
    const body = bounce("fast@example.com");
    const headers = signedHeaders(body, { id: "msg_fast" });
    // The plain path (with a query) is taken before Hono; an encoded one only Hono decodes.
    const direct = await t.request("/webhooks/resend?from=resend", { method: "POST", body, headers });
    const viaHono = await t.request("/webhooks/%72esend", { method: "POST", body, headers });
    // Refused paths change nothing: the same body under a fresh id, and the tables compared.
    const before = await t.counts();
    const other = signedHeaders(body, { id: "msg_fast_refused" });
    const slash = await t.request("/webhooks/resend/", { method: "POST", body, headers: other });
    const get = await t.request("/webhooks/resend", { headers: other });
    expect(await t.counts()).toEqual(before);
    expect(await slash.json()).toEqual({
      error: "not_found",
      message: "No route for POST /webhooks/resend/.",
    });
    expect([direct.status, viaHono.status, slash.status, get.status]).toEqual([200, 200, 404, 404]);
    expect(await direct.json()).toEqual({ status: "processed" });
    expect(await viaHono.json()).toEqual({ status: "duplicate" });
    expect(direct.headers.get("content-type")).toBe(viaHono.headers.get("content-type") as string);
    const lines = t.logs().filter((l) => l.msg === "request");
    expect(lines.map((l) => `${l.method} ${l.path} ${l.status} ${l.outcome}`)).toEqual([
      "POST /webhooks/resend 200 processed",
      "POST /webhooks/resend 200 duplicate",
      "POST /webhooks/resend/ 404 undefined",
      "GET /webhooks/resend 404 undefined",
    ]);
    expect(t.metrics.webhookEvents.get({ type: "email.bounced", outcome: "processed" })).toBe(1);
    expect(t.metrics.webhookEvents.get({ type: "email.bounced", outcome: "duplicate" })).toBe(1);
  });

  test("a delivery under the Standard Webhooks names is logged with its id, type and outcome", async () => {
    t = await observedApp({ log: { requests: true } });
    const body = bounce("std@example.com");
    const h = signedHeaders(body, { id: "msg_log_std" });
    const headers = {
      "content-type": "application/json",
      "webhook-id": h["svix-id"],
      "webhook-timestamp": h["svix-timestamp"],
      "webhook-signature": h["svix-signature"],
    };
    await t.request("/webhooks/resend", { method: "POST", body, headers });
    const lines = t.logs().filter((l) => l.msg === "request");
    expect(lines[0]).toMatchObject({
      status: 200,
      svix_id: "msg_log_std",
      type: "email.bounced",
      outcome: "processed",
    });
  });

  test("two copies of one delivery in flight at once: one line says processed, the other duplicate", async () => {
    t = await observedApp({ log: { requests: true } });
    const body = bounce("race@example.com");
    const headers = signedHeaders(body);
    const send = () => t?.request("/webhooks/resend", { method: "POST", body, headers });
    await Promise.all([send(), send()]);
    const outcomes = t.logs().map((l) => l.outcome);
    expect(outcomes.sort()).toEqual(["duplicate", "processed"]);
  });

  test("log.hashAddresses false writes the address; log.requests false writes no line", async () => {
    t = await observedApp({ log: { requests: true, hashAddresses: false } });
    await t.request("/v1/suppressions/Jane%40example.com", { headers: auth });
    expect(t.logs()[0]?.path).toBe("/v1/suppressions/jane@example.com");
    await t.close();
    t = await observedApp({ log: { requests: false } });
    await t.request("/v1/suppressions/jane%40example.com", { headers: auth });
    expect(t.logs()).toHaveLength(0);
  });

  test("an error's code is the outcome; a 401 on the API is logged without the token", async () => {
    t = await observedApp({ log: { requests: true } });
    await t.request("/v1/suppressions/not-an-address", { headers: auth });
    await t.request("/v1/suppressions/a%40example.com", {
      headers: { authorization: "Bearer nope-0123456789abcdef" },
    });
    const [invalid, unauthorized] = t.logs().filter((l) => l.msg === "request");
    expect(invalid).toMatchObject({ status: 400, outcome: "invalid_email" });
    expect(unauthorized).toMatchObject({ status: 401, outcome: "unauthorized" });
    expect(t.raw()).not.toContain("nope-0123456789abcdef");
  });
});

describe("a real daemon's output", () => {
  const tmp = tempDir();
  let daemon: RunningDaemon | undefined;
  afterAll(async () => {
    await daemon?.stop();
    tmp.cleanup();
  });

  test("never contains the webhook secret, the API token, a signature or a clear address", async () => {
    const config = writeConfig(tmp.dir, join(tmp.dir, "s.db"), {
      log: { level: "debug", requests: true },
      metrics: { tokens: ["scrape-only-token-0123456789"] },
    });
    daemon = await startDaemon({ config });
    const address = "Secret.Person@Example.org";
    const body = bounce(address);
    const headers = signedHeaders(body);
    const post = (h: Record<string, string>) =>
      fetch(`${daemon?.url}/webhooks/resend`, { method: "POST", body, headers: h });
    expect((await post(headers)).status).toBe(200);
    expect((await post({ ...headers, "svix-signature": `${headers["svix-signature"]}x` })).status).toBe(401);
    const enc = encodeURIComponent(address);
    expect((await fetch(`${daemon.url}/v1/suppressions/${enc}`, { headers: authHeaders() })).status).toBe(
      200,
    );
    const bad = { authorization: `Bearer ${TOKEN}-wrong` };
    expect((await fetch(`${daemon.url}/v1/suppressions/${enc}`, { headers: bad })).status).toBe(401);
    const put = await fetch(`${daemon.url}/v1/suppressions/other%40example.org`, {
      method: "PUT",
      headers: authHeaders(),
      body: JSON.stringify({ reason: "manual", note: "asked" }),
    });
    expect(put.status).toBe(200);
    const metrics = await fetch(`${daemon.url}/metrics`, {
      headers: { authorization: "Bearer scrape-only-token-0123456789" },
    });
    expect(metrics.status).toBe(200);
    expect(await daemon.stop()).toBe(0);
    const output = daemon.stdout() + daemon.stderr();
    daemon = undefined;

    const lines = output.split("\n").filter((l) => l.startsWith("{"));
    const requests = lines.filter((l) => l.includes('"msg":"request"') && !l.includes('"/readyz"'));
    expect(requests).toHaveLength(6);
    for (const forbidden of [
      SECRET,
      SECRET.slice("whsec_".length),
      TOKEN,
      "scrape-only-token-0123456789",
      headers["svix-signature"].slice(3),
      "secret.person",
      "other@example.org",
      "other%40example.org",
    ]) {
      expect(output.toLowerCase()).not.toContain(forbidden.toLowerCase());
    }
    expect(output).toContain(logAddress(address));
  });
});
