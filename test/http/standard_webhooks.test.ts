import { describe, expect, test } from "bun:test";
import { appsClosedAfterEach, type TestApp } from "../helpers/app.ts";
import { OTHER_SECRET } from "../helpers/config.ts";
import { bounce, newId, signedHeaders } from "../helpers/sign.ts";

/**
 * Standard Webhooks (standardwebhooks.com, the spec Svix implements) names the signature headers
 * webhook-id / webhook-timestamp / webhook-signature; Svix's own names are svix-*. The values and
 * the signature scheme are the same, so one signature made by svix's `Webhook.sign` is valid
 * under either set of names.
 */
const app = appsClosedAfterEach();

/** The same signed values under the Standard Webhooks names. */
function standard(h: ReturnType<typeof signedHeaders>): Record<string, string> {
  return {
    "content-type": "application/json",
    "webhook-id": h["svix-id"],
    "webhook-timestamp": h["svix-timestamp"],
    "webhook-signature": h["svix-signature"],
  };
}

function deliver(t: TestApp, body: string, headers: Record<string, string>) {
  return Promise.resolve(t.app.request("/webhooks/resend", { method: "POST", body, headers }));
}

async function ids(t: TestApp): Promise<string[]> {
  const r = await t.db.reader.execute("SELECT svix_id FROM webhook_events ORDER BY svix_id");
  return r.rows.map((row) => String(row.svix_id));
}

describe("webhook-* header names", () => {
  test("a delivery signed under webhook-* names is verified and processed", async () => {
    const t = await app();
    const id = newId();
    // One body: two calls of bounce() may fall on different milliseconds and sign another text.
    const body = bounce("std@x.com");
    const res = await deliver(t, body, standard(signedHeaders(body, { id })));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "processed" });
    expect(await ids(t)).toEqual([id]);
    const s = await t.db.reader.execute("SELECT email, reason FROM suppressions");
    expect(s.rows.map((r) => [r.email, r.reason])).toEqual([["std@x.com", "hard_bounce"]]);
  });

  test("the id is the idempotency key whichever name carries it", async () => {
    const t = await app();
    const body = bounce("both@x.com");
    const id = newId();
    expect(await (await deliver(t, body, standard(signedHeaders(body, { id })))).json()).toEqual({
      status: "processed",
    });
    const before = await t.counts();
    const retry = await deliver(t, body, signedHeaders(body, { id, at: new Date(Date.now() + 5_000) }));
    expect(await retry.json()).toEqual({ status: "duplicate" });
    expect(await t.counts()).toEqual(before);
  });

  test("both complete sets with the same values (a proxy that copies them) are one delivery", async () => {
    const t = await app();
    const body = bounce("copied@x.com");
    const h = signedHeaders(body);
    const res = await deliver(t, body, { ...h, ...standard(h) });
    expect(await res.json()).toEqual({ status: "processed" });
  });
});

describe("rejected: 401, error body, nothing written", () => {
  const body = bounce("victim@x.com");
  const cases: [string, () => Record<string, string>, RegExp][] = [
    [
      "svix-id with webhook-timestamp and webhook-signature",
      () => {
        const h = signedHeaders(body);
        const { "webhook-id": _, ...rest } = standard(h);
        return { ...rest, "svix-id": h["svix-id"] };
      },
      /mixes svix-\* and webhook-\*/,
    ],
    [
      "a complete svix set plus a different webhook-id",
      () => ({ ...signedHeaders(body), "webhook-id": newId() }),
      /mixes/,
    ],
    [
      "webhook-signature missing",
      () => {
        const { "webhook-signature": _, ...rest } = standard(signedHeaders(body));
        return rest;
      },
      /Missing webhook-signature header/,
    ],
    [
      "webhook-id and webhook-timestamp missing",
      () => {
        const { "webhook-id": _a, "webhook-timestamp": _b, ...rest } = standard(signedHeaders(body));
        return rest;
      },
      /Missing webhook-id, webhook-timestamp header/,
    ],
    [
      "webhook-* signed with a secret we do not have",
      () => standard(signedHeaders(body, { secret: OTHER_SECRET })),
      /webhookSecrets/,
    ],
    [
      "webhook-* with a stale timestamp",
      () => standard(signedHeaders(body, { at: new Date(Date.now() - 6 * 60_000) })),
      /tolerance/,
    ],
    [
      "webhook-id other than the one signed",
      () => ({ ...standard(signedHeaders(body)), "webhook-id": newId() }),
      /does not match/,
    ],
  ];
  for (const [name, headers, message] of cases) {
    test(name, async () => {
      const t = await app();
      const existing = bounce("existing@x.com");
      expect((await deliver(t, existing, standard(signedHeaders(existing)))).status).toBe(200);
      const before = await t.counts();
      const res = await deliver(t, body, headers());
      expect(res.status).toBe(401);
      const json = (await res.json()) as { error: string; message: string };
      expect(Object.keys(json).sort()).toEqual(["error", "message"]);
      expect(json.error).toBe("invalid_signature");
      expect(json.message).toMatch(message);
      expect(await t.counts()).toEqual(before);
    });
  }
});
