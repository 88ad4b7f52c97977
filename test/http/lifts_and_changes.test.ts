import { describe, expect, test } from "bun:test";
import { appsClosedAfterEach, type TestApp } from "../helpers/app.ts";
import { TOKEN } from "../helpers/config.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const app = appsClosedAfterEach();
const OPS = "ops-token-0123456789abcdef";
const CRM = "crm-token-0123456789abcdef";
const T0 = Date.parse("2026-05-01T12:00:00.000Z");
const MIN = 60_000;

/** An app with a plain token (named by its position) and two named ones. */
function named() {
  return app({ api: { tokens: [TOKEN, { name: "ops", token: OPS }, { name: "crm", token: CRM }] } });
}

function call(t: TestApp, token: string, method: string, path: string, body?: string) {
  return Promise.resolve(
    t.app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body }),
    }),
  );
}

async function deliver(t: TestApp, body: string) {
  const res = await t.app.request("/webhooks/resend", { method: "POST", body, headers: signedHeaders(body) });
  expect(res.status).toBe(200);
}

type History = { decision: string; actor: string | null; note: string | null; event_type: string }[];

describe("lifts and who made them", () => {
  test("a lifted address answers 404 with its history: the lift, its note and the token that made it", async () => {
    const t = await named();
    t.now.value = T0;
    expect((await call(t, OPS, "PUT", "/v1/suppressions/a@x.com", '{"note":"asked by phone"}')).status).toBe(
      200,
    );
    t.now.value = T0 + MIN;
    const del = await call(
      t,
      CRM,
      "DELETE",
      "/v1/suppressions/a@x.com",
      '{"note":"re-consented 2026-05-01"}',
    );
    expect(del.status).toBe(200);
    const res = await call(t, TOKEN, "GET", "/v1/suppressions/a@x.com");
    expect(res.status).toBe(404);
    const body = (await res.json()) as { suppressed: boolean; history: History };
    expect(body.suppressed).toBe(false);
    expect(body.history.map((h) => [h.decision, h.event_type, h.actor, h.note])).toEqual([
      ["lifted", "api.delete", "token:crm", "re-consented 2026-05-01"],
      ["suppressed", "api.put", "token:ops", "asked by phone"],
    ]);
  });

  test("a plain-string token is named by its position; Resend's events have no actor", async () => {
    const t = await named();
    await deliver(t, bounce("b@x.com", "Permanent"));
    t.now.value = Date.now() + MIN;
    expect((await call(t, TOKEN, "DELETE", "/v1/suppressions/b@x.com")).status).toBe(200);
    const body = (await (await call(t, OPS, "GET", "/v1/suppressions/b@x.com")).json()) as {
      history: History;
    };
    expect(body.history.map((h) => h.actor)).toEqual(["token:api.tokens[0]", null]);
  });

  test("DELETE without a body still lifts", async () => {
    const t = await named();
    await call(t, OPS, "PUT", "/v1/suppressions/c@x.com", "{}");
    expect((await call(t, OPS, "DELETE", "/v1/suppressions/c@x.com")).status).toBe(200);
  });

  const bad: [string, string, string][] = [
    ["not JSON", "{note:", "invalid_json"],
    ["an unknown field", '{"note":"x","reason":"manual"}', "invalid_request"],
    ["a note that is not a string", '{"note":42}', "invalid_request"],
    ["a note over 2000 characters", JSON.stringify({ note: "n".repeat(2001) }), "invalid_request"],
    ["a note with a NUL", JSON.stringify({ note: "a\u0000b" }), "invalid_request"],
    ["an array", "[]", "invalid_request"],
  ];
  for (const [what, body, code] of bad) {
    test(`DELETE with ${what}: 400 with a message, nothing lifted`, async () => {
      const t = await named();
      await call(t, OPS, "PUT", "/v1/suppressions/d@x.com", "{}");
      const before = await t.counts();
      const res = await call(t, OPS, "DELETE", "/v1/suppressions/d@x.com", body);
      expect(res.status).toBe(400);
      const json = (await res.json()) as { error: string; message: string };
      expect(json.error).toBe(code);
      expect(json.message.length).toBeGreaterThan(5);
      expect(await t.counts()).toEqual(before);
      expect((await call(t, OPS, "GET", "/v1/suppressions/d@x.com")).status).toBe(200);
    });
  }
});

describe("api.tokens in the config", () => {
  test("named tokens must have distinct names", async () => {
    await expect(
      app({
        api: {
          tokens: [
            { name: "ops", token: OPS },
            { name: "ops", token: CRM },
          ],
        },
      }),
    ).rejects.toThrow(/api\.tokens\.1\.name: 'ops' is used twice/);
  });

  test("a named token needs 16 characters too, and unknown keys are refused", async () => {
    await expect(app({ api: { tokens: [{ name: "ops", token: "short" }] } })).rejects.toThrow(
      /api\.tokens\.0\.token: use at least 16 characters/,
    );
    await expect(app({ api: { tokens: [{ name: "ops", token: OPS, role: "admin" }] } })).rejects.toThrow(
      /api\.tokens\.0/,
    );
  });
});

describe("GET /v1/changes", () => {
  type Page = { items: { change: string; email: string; actor: string | null }[]; next_cursor: string };
  const page = async (t: TestApp, query = "") =>
    (await (await call(t, OPS, "GET", `/v1/changes${query}`)).json()) as Page;

  test("suppressions and lifts in commit order, page by page, and nothing else", async () => {
    const t = await named();
    // Dated a minute back: a bounce in the same millisecond as the DELETE below would keep the
    // address suppressed (a tie suppresses), and this test is about commit order, not ties.
    const before = new Date(Date.now() - 60_000).toISOString();
    await deliver(t, bounce("one@x.com", "Permanent", before));
    await deliver(t, bounce("soft@x.com", "Transient", before)); // a soft bounce changes nothing
    await call(t, OPS, "PUT", "/v1/suppressions/two@x.com", "{}");
    await call(t, OPS, "PUT", "/v1/suppressions/two@x.com", "{}"); // already suppressed: no change
    await call(t, CRM, "DELETE", "/v1/suppressions/one@x.com");
    const first = await page(t, "?limit=2");
    expect(first.items.map((i) => [i.change, i.email, i.actor])).toEqual([
      ["suppress", "one@x.com", null],
      ["suppress", "two@x.com", "token:ops"],
    ]);
    const second = await page(t, `?limit=2&after=${first.next_cursor}`);
    expect(second.items.map((i) => [i.change, i.email, i.actor])).toEqual([
      ["lift", "one@x.com", "token:crm"],
    ]);
    // An empty page keeps the position, so a poller never misses the next change.
    const empty = await page(t, `?after=${second.next_cursor}`);
    expect(empty.items).toEqual([]);
    expect(empty.next_cursor).toBe(second.next_cursor);
    await call(t, OPS, "PUT", "/v1/suppressions/three@x.com", "{}");
    expect((await page(t, `?after=${empty.next_cursor}`)).items.map((i) => i.email)).toEqual(["three@x.com"]);
  });

  test("the walk uses the partial index of changes, not the whole history", async () => {
    const t = await named();
    const plan = await t.db.reader.execute(
      "EXPLAIN QUERY PLAN SELECT id FROM suppression_events WHERE decision IN ('suppressed', 'lifted') AND id > 0 ORDER BY id LIMIT 100",
    );
    expect(plan.rows.map((r) => String(r.detail)).join(" ")).toContain("suppression_events_changes");
  });

  for (const [what, query] of [
    ["a forged cursor", "?after=bm90LWEtY3Vyc29y"],
    ["a cursor with a changed number", `?after=${Buffer.from("c1:-5").toString("base64url")}`],
    ["a cursor padded differently", `?after=${Buffer.from("c1:5").toString("base64")}=`],
  ] as const) {
    test(`${what}: 400 invalid_cursor`, async () => {
      const t = await named();
      const res = await call(t, OPS, "GET", `/v1/changes${query}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: "invalid_cursor",
        message: "after is not a cursor this server returned; start again without it.",
      });
    });
  }

  test("a limit out of range: 400", async () => {
    const t = await named();
    const res = await call(t, OPS, "GET", "/v1/changes?limit=0");
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
  });

  test("needs a token", async () => {
    const t = await named();
    expect((await t.app.request("/v1/changes")).status).toBe(401);
  });
});
