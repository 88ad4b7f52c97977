import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Reason } from "../../src/suppression/types.ts";
import { appsClosedAfterEach, makeApp, type TestApp } from "../helpers/app.ts";
import { bounce, event, newId, signedHeaders } from "../helpers/sign.ts";

const app = appsClosedAfterEach();

const T0 = Date.parse("2026-05-01T12:00:00.000Z");
const MIN = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

async function deliver(t: TestApp, body: string, id = newId()) {
  const res = await t.app.request("/webhooks/resend", {
    method: "POST",
    body,
    headers: signedHeaders(body, { id }),
  });
  expect(res.status).toBe(200);
  return id;
}

/** PUT at wall-clock `at` (the app's injectable clock), so list order and `since` are known. */
async function put(t: TestApp, email: string, at: number, body: Record<string, unknown> = {}) {
  t.now.value = at;
  const res = await t.api("PUT", `/v1/suppressions/${encodeURIComponent(email)}`, body);
  expect(res.status).toBe(200);
  return res.json() as Promise<Record<string, unknown>>;
}

function contact(email: string, unsubscribed: boolean, createdAt: string) {
  return event("contact.updated", { id: newId(), email, unsubscribed }, createdAt);
}

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe("GET /v1/suppressions/{email}", () => {
  test("200 with the state and the history of a suppressed address", async () => {
    const t = await app();
    t.now.value = T0;
    const occurred = iso(T0 - 5 * MIN);
    const id = await deliver(t, bounce("Bounced@Example.com", "Permanent", occurred));
    const res = await t.api("GET", "/v1/suppressions/bounced@example.com");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      email: "bounced@example.com",
      suppressed: true,
      reason: "hard_bounce",
      first_suppressed_at: occurred,
      suppressed_at: occurred,
      last_event_at: occurred,
      updated_at: iso(T0),
      note: null,
      reasons: [{ reason: "hard_bounce", source: "resend", suppressed_at: occurred }],
      history: [
        {
          decision: "suppressed",
          reason: "hard_bounce",
          source: "resend",
          event_type: "email.bounced",
          svix_id: id,
          occurred_at: occurred,
          recorded_at: iso(T0),
          note: null,
          actor: null,
        },
      ],
    });
  });

  test("the history lists every decision, newest first", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, bounce("h@x.com", "Transient", iso(T0 - 30 * MIN)));
    await deliver(t, bounce("h@x.com", "Permanent", iso(T0 - 20 * MIN)));
    await deliver(t, event("email.complained", { to: ["h@x.com"] }, iso(T0 - 10 * MIN)));
    const body = await json(await t.api("GET", "/v1/suppressions/h@x.com"));
    expect(body.reason).toBe("complaint");
    expect((body.history as { decision: string }[]).map((h) => h.decision)).toEqual([
      "already_suppressed",
      "suppressed",
      "soft_bounce",
    ]);
  });

  test("lists every reason in force with its source; a Resend lift clears only what Resend set", async () => {
    const t = await app();
    await put(t, "both@x.com", T0 - 20 * MIN, { reason: "unsubscribe" });
    await deliver(t, contact("both@x.com", true, iso(T0 - 10 * MIN)));
    let body = await json(await t.api("GET", "/v1/suppressions/both@x.com"));
    expect(body.reasons).toEqual([
      { reason: "unsubscribe", source: "resend_contact", suppressed_at: iso(T0 - 10 * MIN) },
      { reason: "unsubscribe", source: "api", suppressed_at: iso(T0 - 20 * MIN) },
    ]);
    await deliver(t, contact("both@x.com", false, iso(T0 - 5 * MIN)));
    body = await json(await t.api("GET", "/v1/suppressions/both@x.com"));
    expect(body.reasons).toEqual([
      { reason: "unsubscribe", source: "api", suppressed_at: iso(T0 - 20 * MIN) },
    ]);
    expect(
      (body.history as { decision: string; source: string }[]).map((h) => [h.decision, h.source]),
    ).toEqual([
      ["lift_ignored", "resend_contact"],
      ["already_suppressed", "resend_contact"],
      ["suppressed", "api"],
    ]);
  });

  const spellings: [string, string][] = [
    ["upper case", "/v1/suppressions/CASE@X.COM"],
    ["an encoded @", "/v1/suppressions/case%40x.com"],
    ["a display name", `/v1/suppressions/${encodeURIComponent("Case <case@x.com>")}`],
    ["surrounding spaces", "/v1/suppressions/%20case@x.com%20"],
  ];
  for (const [name, path] of spellings) {
    test(`finds the address written with ${name}`, async () => {
      const t = await app();
      await put(t, "case@x.com", T0);
      const res = await t.api("GET", path);
      expect(res.status).toBe(200);
      expect((await json(res)).email).toBe("case@x.com");
    });
  }

  test("characters that URLs encode are decoded once: + and %", async () => {
    const t = await app();
    await put(t, "a+tag@x.com", T0);
    await put(t, "a%b@x.com", T0);
    expect((await t.api("GET", "/v1/suppressions/a%2Btag%40x.com")).status).toBe(200);
    expect((await t.api("GET", "/v1/suppressions/a+tag@x.com")).status).toBe(200);
    expect((await t.api("GET", "/v1/suppressions/a%25b@x.com")).status).toBe(200);
    // Decoded twice, a%2525b would become a%b: it is a%25b, which is not suppressed.
    expect(await json(await t.api("GET", "/v1/suppressions/a%2525b@x.com"))).toEqual({
      email: "a%25b@x.com",
      suppressed: false,
      history: [],
    });
  });

  test("404 with an empty history when the address was never suppressed", async () => {
    const t = await app();
    const res = await t.api("GET", "/v1/suppressions/Never@X.com");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ email: "never@x.com", suppressed: false, history: [] });
  });

  test("404 when the address was suppressed and lifted", async () => {
    const t = await app();
    await put(t, "lifted@x.com", T0);
    expect((await t.api("DELETE", "/v1/suppressions/lifted@x.com")).status).toBe(200);
    const res = await t.api("GET", "/v1/suppressions/lifted@x.com");
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ email: "lifted@x.com", suppressed: false });
  });

  test("a soft bounce alone does not suppress: 404", async () => {
    const t = await app();
    await deliver(t, bounce("soft@x.com", "Transient"));
    expect((await t.api("GET", "/v1/suppressions/soft@x.com")).status).toBe(404);
  });
});

describe("POST /v1/suppressions/check", () => {
  test("says which addresses are suppressed and why, and which are not addresses", async () => {
    const t = await app();
    await put(t, "manual@x.com", T0);
    await deliver(t, event("email.complained", { to: ["angry@x.com"] }, iso(T0 - MIN)));
    await put(t, "lifted@x.com", T0);
    await t.api("DELETE", "/v1/suppressions/lifted@x.com");
    const res = await t.api("POST", "/v1/suppressions/check", {
      emails: [
        "fine@x.com",
        "MANUAL@x.com",
        "Angry <angry@x.com>",
        "lifted@x.com",
        "not an address",
        "manual@x.com",
        "",
      ],
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      checked: number;
      suppressed: { email: string; reason: string; suppressed_at: string }[];
      invalid: string[];
    };
    expect(body.checked).toBe(7);
    expect(body.invalid).toEqual(["not an address", ""]);
    expect([...body.suppressed].sort((a, b) => a.email.localeCompare(b.email))).toEqual([
      { email: "angry@x.com", reason: "complaint", suppressed_at: iso(T0 - MIN) },
      { email: "manual@x.com", reason: "manual", suppressed_at: iso(T0) },
    ]);
  });

  test("an empty list is a valid question", async () => {
    const t = await app();
    const res = await t.api("POST", "/v1/suppressions/check", { emails: [] });
    expect(await res.json()).toEqual({ checked: 0, suppressed: [], invalid: [] });
  });

  test("10,000 addresses, the documented maximum, in one call", async () => {
    const t = await app();
    await put(t, "n9999@x.com", T0);
    await put(t, "n0@x.com", T0);
    const emails = Array.from({ length: 10_000 }, (_, i) => `n${i}@x.com`);
    const res = await t.api("POST", "/v1/suppressions/check", { emails });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checked: number; suppressed: { email: string }[] };
    expect(body.checked).toBe(10_000);
    expect(body.suppressed.map((s) => s.email).sort()).toEqual(["n0@x.com", "n9999@x.com"]);
  });
});

describe("GET /v1/suppressions: a page and a cursor", () => {
  type Page = { items: { email: string; reason: string; updated_at: string }[]; next_cursor: string | null };
  async function page(t: TestApp, query: string): Promise<Page> {
    const res = await t.api("GET", `/v1/suppressions${query}`);
    expect(res.status).toBe(200);
    return (await res.json()) as Page;
  }
  async function all(t: TestApp, query: string, limit: number) {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = query ? "&" : "?";
      const p = await page(t, `${query}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(p.items.length).toBeLessThanOrEqual(limit);
      seen.push(...p.items.map((i) => i.email));
      cursor = p.next_cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    return { seen, pages };
  }

  /** Ten addresses changed one minute apart; reasons alternate; one more is lifted. */
  async function seeded() {
    const t = await app();
    const reasons: Reason[] = ["manual", "complaint"];
    for (let i = 0; i < 10; i++) await put(t, `p${i}@x.com`, T0 + i * MIN, { reason: reasons[i % 2] });
    await put(t, "gone@x.com", T0 + 20 * MIN);
    await t.api("DELETE", "/v1/suppressions/gone@x.com");
    return t;
  }
  const ordered = Array.from({ length: 10 }, (_, i) => `p${i}@x.com`);

  test("lists suppressed addresses in the order they last changed, without lifted ones", async () => {
    const t = await seeded();
    const p = await page(t, "");
    expect(p.items.map((i) => i.email)).toEqual(ordered);
    expect(p.next_cursor).toBeNull();
    expect(p.items[0]).toEqual({
      email: "p0@x.com",
      suppressed: true,
      reason: "manual",
      first_suppressed_at: iso(T0),
      suppressed_at: iso(T0),
      last_event_at: iso(T0),
      updated_at: iso(T0),
      note: null,
    } as never);
  });

  for (const limit of [1, 3, 5, 10, 11]) {
    test(`paging with limit=${limit} returns every address once, in order`, async () => {
      const t = await seeded();
      const { seen, pages } = await all(t, "", limit);
      expect(seen).toEqual(ordered);
      expect(pages).toBe(Math.floor(10 / limit) + 1);
    });
  }

  test("paging through addresses that changed in the same millisecond", async () => {
    const t = await app();
    const emails = Array.from({ length: 7 }, (_, i) => `same${i}@x.com`);
    t.now.value = T0;
    const r = await t.writer.submit({
      claim: "none",
      svixId: null,
      type: "import",
      status: "processed",
      occurredAt: T0,
      intents: emails.map((email) => ({
        kind: "suppress",
        email,
        reason: "imported",
        eventType: "import",
        occurredAt: T0,
      })),
    });
    expect(r.changed).toBe(7);
    expect((await all(t, "", 2)).seen).toEqual(emails);
  });

  test("?reason= filters", async () => {
    const t = await seeded();
    const p = await page(t, "?reason=complaint");
    expect(p.items.map((i) => i.email)).toEqual(ordered.filter((_, i) => i % 2 === 1));
    expect(p.items.every((i) => i.reason === "complaint")).toBe(true);
    expect((await all(t, "?reason=manual", 2)).seen).toEqual(ordered.filter((_, i) => i % 2 === 0));
  });

  test("?since= returns addresses changed at or after that time", async () => {
    const t = await seeded();
    const p = await page(t, `?since=${encodeURIComponent(iso(T0 + 7 * MIN))}`);
    expect(p.items.map((i) => i.email)).toEqual(["p7@x.com", "p8@x.com", "p9@x.com"]);
    const offset = await page(t, `?since=${encodeURIComponent("2026-05-01T14:07:00+02:00")}`);
    expect(offset.items.map((i) => i.email)).toEqual(["p7@x.com", "p8@x.com", "p9@x.com"]);
    const both = await all(t, `?since=${encodeURIComponent(iso(T0 + 4 * MIN))}&reason=manual`, 1);
    expect(both.seen).toEqual(["p4@x.com", "p6@x.com", "p8@x.com"]);
  });

  test("an address changed after it was paged past shows up again at the end (incremental sync)", async () => {
    const t = await seeded();
    const first = await page(t, "?limit=5");
    await put(t, "p0@x.com", T0 + 30 * MIN, { reason: "complaint" });
    const rest = await page(t, `?limit=100&cursor=${first.next_cursor}`);
    expect(rest.items.map((i) => i.email)).toEqual([...ordered.slice(5), "p0@x.com"]);
  });

  test("an empty list", async () => {
    const t = await app();
    expect(await page(t, "")).toEqual({ items: [], next_cursor: null });
  });
});

describe("GET /v1/suppressions?format=csv", () => {
  async function csv(t: TestApp, query = "") {
    const res = await t.api("GET", `/v1/suppressions?format=csv${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toContain("suppressions.csv");
    return parseCsv(await res.text());
  }

  test("a header and one row per suppressed address", async () => {
    const t = await app();
    await put(t, "a@x.com", T0, { note: "plain" });
    await put(t, "b@x.com", T0 + MIN, { reason: "complaint" });
    await put(t, "gone@x.com", T0 + 2 * MIN);
    await t.api("DELETE", "/v1/suppressions/gone@x.com");
    expect(await csv(t)).toEqual([
      ["email", "reason", "first_suppressed_at", "suppressed_at", "updated_at", "note"],
      ["a@x.com", "manual", iso(T0), iso(T0), iso(T0), "plain"],
      ["b@x.com", "complaint", iso(T0 + MIN), iso(T0 + MIN), iso(T0 + MIN), ""],
    ]);
    expect((await csv(t, "&reason=complaint")).map((r) => r[0])).toEqual(["email", "b@x.com"]);
  });

  const notes: [string, string, string][] = [
    ["=", '=HYPERLINK("http://evil.example","click")', `'=HYPERLINK("http://evil.example","click")`],
    ["+", "+1+2", "'+1+2"],
    ["-", "-2+3", "'-2+3"],
    ["@", "@SUM(A1:A2)", "'@SUM(A1:A2)"],
    ["a tab", "\t=1", "'\t=1"],
    ["a carriage return", "\r=1", "'\r=1"],
    ["commas, quotes and newlines", 'a, "b"\nc', 'a, "b"\nc'],
    ["a formula after text", "note =1", "note =1"],
  ];
  for (const [name, note, cell] of notes) {
    test(`a note starting with ${name} cannot run as a formula and survives quoting`, async () => {
      const t = await app();
      await put(t, "n@x.com", T0, { note });
      const rows = await csv(t);
      expect(rows.length).toBe(2);
      expect(rows[1]?.[5]).toBe(cell);
    });
  }

  test("streams the whole list, past the 5,000 rows it reads at a time", async () => {
    const t = await app();
    const n = 5_123;
    t.now.value = T0;
    await t.writer.submit({
      claim: "none",
      svixId: null,
      type: "import",
      status: "processed",
      occurredAt: T0,
      intents: Array.from({ length: n }, (_, i) => ({
        kind: "suppress" as const,
        email: `bulk${String(i).padStart(5, "0")}@x.com`,
        reason: "imported" as const,
        eventType: "import",
        occurredAt: T0,
      })),
    });
    const rows = await csv(t);
    expect(rows.length).toBe(n + 1);
    expect(new Set(rows.slice(1).map((r) => r[0])).size).toBe(n);
    expect(rows[n]?.[0]).toBe("bulk05122@x.com");
  });
});

describe("PUT /v1/suppressions/{email}", () => {
  test("suppresses as manual by default, with a note, and records it in the history", async () => {
    const t = await app();
    const body = await put(t, "New@X.com", T0, { note: "asked by phone" });
    expect(body).toEqual({
      email: "new@x.com",
      suppressed: true,
      reason: "manual",
      first_suppressed_at: iso(T0),
      suppressed_at: iso(T0),
      last_event_at: iso(T0),
      updated_at: iso(T0),
      note: "asked by phone",
    });
    const got = await json(await t.api("GET", "/v1/suppressions/new@x.com"));
    expect(got.history).toEqual([
      {
        decision: "suppressed",
        reason: "manual",
        source: "api",
        event_type: "api.put",
        svix_id: null,
        occurred_at: iso(T0),
        recorded_at: iso(T0),
        note: "asked by phone",
        actor: "token:api.tokens[0]",
      },
    ]);
  });

  test("takes any reason", async () => {
    const t = await app();
    expect((await put(t, "c@x.com", T0, { reason: "complaint" })).reason).toBe("complaint");
  });

  test("an empty body is the defaults", async () => {
    const t = await app();
    t.now.value = T0;
    const res = await t.api("PUT", "/v1/suppressions/empty@x.com");
    expect(res.status).toBe(200);
    expect((await json(res)).reason).toBe("manual");
  });

  test("a weaker reason does not replace a stronger one", async () => {
    const t = await app();
    await deliver(t, event("email.complained", { to: ["strong@x.com"] }, iso(T0 - MIN)));
    const body = await put(t, "strong@x.com", T0, { reason: "unsubscribe" });
    expect(body.reason).toBe("complaint");
  });

  test("re-suppresses a lifted address", async () => {
    const t = await app();
    await put(t, "again@x.com", T0);
    t.now.value = T0 + MIN;
    await t.api("DELETE", "/v1/suppressions/again@x.com");
    const body = await put(t, "again@x.com", T0 + 2 * MIN, { reason: "unsubscribe" });
    expect(body).toMatchObject({ suppressed: true, reason: "unsubscribe", first_suppressed_at: iso(T0) });
  });
});

describe("DELETE /v1/suppressions/{email}", () => {
  test("lifts, and the lift is kept in the history", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, event("email.complained", { to: ["lift@x.com"] }, iso(T0 - MIN)));
    t.now.value = T0 + MIN;
    const res = await t.api("DELETE", "/v1/suppressions/Lift@X.com");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ email: "lift@x.com", suppressed: false });
    expect((await t.api("GET", "/v1/suppressions/lift@x.com")).status).toBe(404);
    const history = await t.db.reader.execute(
      "SELECT decision, reason, event_type FROM suppression_events WHERE email = 'lift@x.com' ORDER BY id",
    );
    expect(history.rows.map((r) => [r.decision, r.reason, r.event_type])).toEqual([
      ["suppressed", "complaint", "email.complained"],
      ["lifted", "complaint", "api.delete"],
    ]);
  });

  test("an event older than the lift does not bring the suppression back; a newer one does", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, bounce("back@x.com", "Permanent", iso(T0 - 10 * MIN)));
    await t.api("DELETE", "/v1/suppressions/back@x.com");
    await deliver(t, bounce("back@x.com", "Permanent", iso(T0 - 5 * MIN))); // a late retry
    expect((await t.api("GET", "/v1/suppressions/back@x.com")).status).toBe(404);
    await deliver(t, bounce("back@x.com", "Permanent", iso(T0 + 5 * MIN)));
    expect((await t.api("GET", "/v1/suppressions/back@x.com")).status).toBe(200);
  });

  test("contact.updated unsubscribed: false does not lift an unsubscribe made through the API", async () => {
    const t = await app();
    await put(t, "api@x.com", T0, { reason: "unsubscribe" });
    await deliver(t, contact("api@x.com", false, iso(T0 + MIN)));
    expect(await json(await t.api("GET", "/v1/suppressions/api@x.com"))).toMatchObject({
      suppressed: true,
      reason: "unsubscribe",
    });
    const jobs = await t.db.reader.execute("SELECT action FROM sync_jobs WHERE email = 'api@x.com'");
    expect(jobs.rows.map((r) => r.action)).not.toContain("lift");
  });

  test("contact.updated unsubscribed: false lifts an unsubscribe that Resend's contact state set", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, contact("contact@x.com", true, iso(T0 - 2 * MIN)));
    await deliver(t, contact("contact@x.com", false, iso(T0 - MIN)));
    expect((await t.api("GET", "/v1/suppressions/contact@x.com")).status).toBe(404);
  });

  test("a late, older retry does not let an older removal lift the suppression (issue 8)", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, bounce("late@x.com", "Permanent", iso(T0 - 30 * MIN)));
    await deliver(t, bounce("late@x.com", "Permanent", iso(T0 - 55 * MIN)));
    const removed = { id: newId(), email: "late@x.com", origin: "bounce", created_at: iso(T0 - 60 * MIN) };
    await deliver(t, event("suppression.removed", removed, iso(T0 - 35 * MIN)));
    expect(await json(await t.api("GET", "/v1/suppressions/late@x.com"))).toMatchObject({ suppressed: true });
  });

  test("409 when an event dated after the request keeps the address suppressed; the lift is kept", async () => {
    const t = await app();
    t.now.value = T0;
    await deliver(t, bounce("future@x.com", "Permanent", iso(T0 + 5 * MIN))); // a clock ahead of ours
    const res = await t.api("DELETE", "/v1/suppressions/future@x.com");
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({
      error: "newer_suppression",
      message: expect.stringContaining(`newest event ${iso(T0 + 5 * MIN)}`),
    });
    expect((await t.api("GET", "/v1/suppressions/future@x.com")).status).toBe(200);
    t.now.value = T0 + 6 * MIN;
    expect((await t.api("DELETE", "/v1/suppressions/future@x.com")).status).toBe(200);
  });

  test("a DELETE of an address not suppressed is kept: an older bounce arriving later stays lifted", async () => {
    const t = await app();
    t.now.value = T0;
    expect((await t.api("DELETE", "/v1/suppressions/early@x.com")).status).toBe(404);
    await deliver(t, bounce("early@x.com", "Permanent", iso(T0 - 5 * MIN))); // sent before, arrived after
    expect((await t.api("GET", "/v1/suppressions/early@x.com")).status).toBe(404);
    await deliver(t, bounce("early@x.com", "Permanent", iso(T0 + 5 * MIN)));
    expect((await t.api("GET", "/v1/suppressions/early@x.com")).status).toBe(200);
  });

  const notSuppressed: [string, (t: TestApp) => Promise<unknown>][] = [
    ["never seen", async () => {}],
    ["already lifted", (t) => put(t, "x@x.com", T0).then(() => t.api("DELETE", "/v1/suppressions/x@x.com"))],
    ["only soft-bounced", (t) => deliver(t, bounce("x@x.com", "Transient"))],
  ];
  for (const [name, setup] of notSuppressed) {
    test(`404 when the address is ${name}`, async () => {
      const t = await app();
      await setup(t);
      const res = await t.api("DELETE", "/v1/suppressions/x@x.com");
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: "not_suppressed",
        message: expect.stringContaining("x@x.com"),
      });
    });
  }
});

describe("rejected requests: 400 with the error body, and nothing written", () => {
  const tooMany = { emails: Array.from({ length: 10_001 }, (_, i) => `t${i}@x.com`) };
  const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const cases: [string, string, string, unknown, string][] = [
    ["GET with an invalid email", "GET", "/v1/suppressions/not-an-email", undefined, "invalid_email"],
    ["GET with two @", "GET", "/v1/suppressions/a@b@x.com", undefined, "invalid_email"],
    ["GET with a broken percent-encoding", "GET", "/v1/suppressions/%E0%A4%A", undefined, "invalid_email"],
    ["PUT with an invalid email", "PUT", "/v1/suppressions/nobody", {}, "invalid_email"],
    ["DELETE with an invalid email", "DELETE", "/v1/suppressions/nobody", undefined, "invalid_email"],
    ["check with invalid JSON", "POST", "/v1/suppressions/check", '{"emails": [', "invalid_json"],
    ["PUT with invalid JSON", "PUT", "/v1/suppressions/a@x.com", "{reason: manual}", "invalid_json"],
    ["check without emails", "POST", "/v1/suppressions/check", {}, "invalid_request"],
    [
      "check with emails as a string",
      "POST",
      "/v1/suppressions/check",
      { emails: "a@x.com" },
      "invalid_request",
    ],
    ["check with a number in emails", "POST", "/v1/suppressions/check", { emails: [1] }, "invalid_request"],
    ["check with 10,001 addresses", "POST", "/v1/suppressions/check", tooMany, "invalid_request"],
    [
      "PUT with an unknown reason",
      "PUT",
      "/v1/suppressions/a@x.com",
      { reason: "because" },
      "invalid_request",
    ],
    ["PUT with an unknown key", "PUT", "/v1/suppressions/a@x.com", { reasn: "manual" }, "invalid_request"],
    [
      "PUT with a note over 2,000 characters",
      "PUT",
      "/v1/suppressions/a@x.com",
      { note: "n".repeat(2001) },
      "invalid_request",
    ],
    ["PUT with an array body", "PUT", "/v1/suppressions/a@x.com", [], "invalid_request"],
    ["a cursor that is not base64 JSON", "GET", "/v1/suppressions?cursor=abc", undefined, "invalid_cursor"],
    [
      "a cursor of the wrong shape",
      "GET",
      `/v1/suppressions?cursor=${cursorOf({ a: 1 })}`,
      undefined,
      "invalid_cursor",
    ],
    [
      "a cursor with the fields swapped",
      "GET",
      `/v1/suppressions?cursor=${cursorOf(["a@x.com", 1])}`,
      undefined,
      "invalid_cursor",
    ],
    [
      "a cursor over 600 characters",
      "GET",
      `/v1/suppressions?cursor=${"a".repeat(601)}`,
      undefined,
      "invalid_request",
    ],
    ["limit=0", "GET", "/v1/suppressions?limit=0", undefined, "invalid_request"],
    ["limit=1001", "GET", "/v1/suppressions?limit=1001", undefined, "invalid_request"],
    ["limit=ten", "GET", "/v1/suppressions?limit=ten", undefined, "invalid_request"],
    ["an unknown reason filter", "GET", "/v1/suppressions?reason=bored", undefined, "invalid_request"],
    [
      "since that is not a timestamp",
      "GET",
      "/v1/suppressions?since=yesterday",
      undefined,
      "invalid_request",
    ],
    ["since without a time", "GET", "/v1/suppressions?since=2026-01-01", undefined, "invalid_request"],
    ["an unknown format", "GET", "/v1/suppressions?format=xml", undefined, "invalid_request"],
  ];
  // One app for the whole table: a 400 changes nothing, which each case checks.
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
    await put(t, "a@x.com", T0, { note: "before" });
  });
  afterAll(() => t.close());

  for (const [name, method, path, body, error] of cases) {
    test(name, async () => {
      const before = await t.counts();
      const res = await t.api(method, path, body);
      expect(res.status).toBe(400);
      const got = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(got).sort()).toEqual(["error", "message"]);
      expect(got.error).toBe(error);
      expect(got.message).toEqual(expect.stringMatching(/\w/));
      expect(await t.counts()).toEqual(before);
      expect((await json(await t.api("GET", "/v1/suppressions/a@x.com"))).note).toBe("before");
    });
  }
});

/** RFC 4180: quoted cells may hold commas, quotes ("") and newlines. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  expect(cell).toBe("");
  expect(row).toEqual([]);
  return rows;
}
