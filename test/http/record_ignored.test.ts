import { afterEach, describe, expect, test } from "bun:test";
import { TOKEN } from "../helpers/config.ts";
import { event, newId, signedHeaders } from "../helpers/sign.ts";
import { observedApp, sample } from "../observability/observed.ts";

/**
 * resend.recordIgnored false, the default since issue 14: a delivery of a type nothing acts on is
 * answered and counted without a durable write; everything that can change the list is stored.
 */
let t: Awaited<ReturnType<typeof observedApp>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

// The default, unset: what a config without the key gets.
const unrecorded = () => observedApp();

async function post(body: string, headers: Record<string, string> = signedHeaders(body)) {
  const res = (await t?.request("/webhooks/resend", { method: "POST", body, headers })) as Response;
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function ignoredCount(type: string): Promise<number | undefined> {
  const res = (await t?.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })) as Response;
  return sample(await res.text(), `suppressd_webhook_events_total{type="${type}",outcome="ignored"}`);
}

const opened = event("email.opened", { to: ["reader@x.com"], open: { ipAddress: "198.51.100.7" } });

describe("resend.recordIgnored false (the default)", () => {
  test("an ignored type is acknowledged and counted, and the database is unchanged", async () => {
    t = await unrecorded();
    const before = await t.counts();
    expect(await post(opened)).toEqual({ status: 200, body: { status: "ignored" } });
    expect(await t.counts()).toEqual(before);
    expect(await ignoredCount("email.opened")).toBe(1);
  });

  test("an unstored delivery still shows that webhooks arrive: /v1/status and the last-event gauge", async () => {
    t = await unrecorded();
    const auth = { authorization: `Bearer ${TOKEN}` };
    const before = (await (await t.request("/v1/status", { headers: auth })).json()) as Record<
      string,
      unknown
    >;
    expect(before.last_webhook).toBeNull();
    expect((await post(opened)).body).toEqual({ status: "ignored" });
    const after = (await (await t.request("/v1/status", { headers: auth })).json()) as {
      last_webhook: { type: string; received_at: string };
    };
    expect(after.last_webhook.type).toBe("email.opened");
    expect(Date.parse(after.last_webhook.received_at)).not.toBeNaN();
    const metrics = await (await t.request("/metrics", { headers: auth })).text();
    expect(sample(metrics, "suppressd_last_event_received_timestamp_seconds")).toBeGreaterThan(0);
    expect((await t.counts()).webhook_events).toBe(0);
  });

  test("a redelivery is harmless: acknowledged again, counted again, still nothing stored", async () => {
    t = await unrecorded();
    const before = await t.counts();
    const id = newId();
    expect((await post(opened, signedHeaders(opened, { id }))).body).toEqual({ status: "ignored" });
    const retry = signedHeaders(opened, { id, at: new Date(Date.now() + 5_000) });
    expect((await post(opened, retry)).body).toEqual({ status: "ignored" });
    expect(await t.counts()).toEqual(before);
    expect(await ignoredCount("email.opened")).toBe(2);
  });

  test("email.delivered can lift a soft-bounce limit, so it is still stored", async () => {
    t = await unrecorded();
    const delivered = event("email.delivered", { to: ["reader@x.com"] });
    const id = newId();
    expect((await post(delivered, signedHeaders(delivered, { id }))).body).toEqual({ status: "processed" });
    const rows = await t.db.reader.execute("SELECT svix_id, status FROM webhook_events");
    expect(rows.rows.map((r) => [r.svix_id, r.status])).toEqual([[id, "processed"]]);
    const again = await post(delivered, signedHeaders(delivered, { id }));
    expect(again.body).toEqual({ status: "duplicate" });
  });

  test("an ignored type whose body is not UTF-8 is still quarantined, with its bytes", async () => {
    t = await unrecorded();
    const bytes = new Uint8Array([...new TextEncoder().encode(opened.slice(0, -2)), 0xff, 0x7d, 0x7d]);
    const text = new TextDecoder().decode(bytes);
    const res = (await t.request("/webhooks/resend", {
      method: "POST",
      body: bytes,
      headers: signedHeaders(text),
    })) as Response;
    expect(await res.json()).toEqual({ status: "quarantined" });
    expect((await t.counts()).quarantine).toBe(1);
  });

  test("a bad signature is still refused before anything else, database unchanged", async () => {
    t = await unrecorded();
    const before = await t.counts();
    const res = await post(opened, { ...signedHeaders(opened), "svix-signature": "v1,AAAA" });
    expect(res.status).toBe(401);
    expect(res.body.error).toBe("invalid_signature");
    expect(await t.counts()).toEqual(before);
    expect(await ignoredCount("email.opened")).toBeUndefined();
  });

  test("with true the same delivery is stored as ignored, and its redelivery is a duplicate", async () => {
    t = await observedApp({ resend: { recordIgnored: true } });
    const id = newId();
    expect((await post(opened, signedHeaders(opened, { id }))).body).toEqual({ status: "ignored" });
    expect((await t.counts()).webhook_events).toBe(1);
    expect((await post(opened, signedHeaders(opened, { id }))).body).toEqual({ status: "duplicate" });
  });
});
