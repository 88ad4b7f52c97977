import { describe, expect, test } from "bun:test";
import { jsonParam } from "../../src/db/json_param.ts";
import { claimDue, complete } from "../../src/db/outbox.ts";
import { MAX_RECIPIENTS } from "../../src/events/resend.ts";
import { TOKEN } from "../helpers/config.ts";
import { event, signedHeaders } from "../helpers/sign.ts";
import { observedApp } from "../observability/observed.ts";

// Issue 8: text with a lone surrogate went into SQLite as JSON, came back as bytes that are not
// UTF-8, and libsql aborted the process on every later read. A regression here kills the test
// runner rather than failing one test, which fails the run all the same.

const CUT_NOTE = "Customer asked to stop 😀 ".repeat(100).slice(0, 2000);

async function body(res: Response) {
  return (await res.json()) as Record<string, unknown>;
}

describe("jsonParam: the storage boundary", () => {
  test.each([
    ["a lone high surrogate", ["x\ud800y"], '["x\\ufffdy"]'],
    ["a lone low surrogate at the end", ["x\udc00"], '["x\\ufffd"]'],
    ["a pair is kept", ["😀"], '["😀"]'],
    ["a backslash followed by the letters ud800 is text", ["\\ud800"], '["\\\\ud800"]'],
    ["an escaped backslash then a lone surrogate", ["\\\ud800"], '["\\\\\\ufffd"]'],
    ["control characters stay escaped", ["\u0001"], '["\\u0001"]'],
  ])("%s", (_, value, json) => {
    expect(jsonParam(value)).toBe(json);
    expect(JSON.parse(jsonParam(value))).toEqual(value.map((v) => v.toWellFormed()));
  });
});

describe("the API rejects ill-formed text: 400, and nothing stored", () => {
  test("a note cut in the middle of an emoji", async () => {
    const t = await observedApp();
    const before = await t.counts();
    const res = await t.api("PUT", "/v1/suppressions/jane@example.com", { note: CUT_NOTE });
    expect(res.status).toBe(400);
    expect(await body(res)).toEqual({
      error: "invalid_text",
      message: expect.stringContaining("note: contains a lone UTF-16 surrogate"),
    });
    expect(await t.counts()).toEqual(before);
    // The whole note minus the cut half, and the same note whole, are fine.
    expect(
      (await t.api("PUT", "/v1/suppressions/jane@example.com", { note: CUT_NOTE.slice(0, -1) })).status,
    ).toBe(200);
    const got = await body(await t.api("GET", "/v1/suppressions/jane@example.com"));
    expect(got.note).toBe(CUT_NOTE.slice(0, -1));
    await t.close();
  });

  test.each([
    ["PUT", "/v1/suppressions/jane@example.com", '{"reason":"manual","\\udfff":1}', "\ufffd"],
    ["POST", "/v1/suppressions/check", '{"emails":["ok@x.com","\\ud800x@example.com"]}', "emails.1"],
    ["POST", "/v1/sync/jobs/retry", '{"all":true,"sink":"a\\ud800"}', "sink"],
  ])("%s %s with a lone surrogate in the body", async (method, path, raw, where) => {
    const t = await observedApp();
    const before = await t.counts();
    const res = await t.api(method, path, raw);
    expect(res.status).toBe(400);
    const b = await body(res);
    expect(b.error).toBe("invalid_text");
    expect(String(b.message)).toContain(where);
    expect(await t.counts()).toEqual(before);
    await t.close();
  });

  test("a forged cursor: 1e400 and a lone surrogate are 400 invalid_cursor", async () => {
    const t = await observedApp();
    for (const forged of ['[1e400,"x"]', '[1,"\\ud800"]', '[1.5,"x"]']) {
      const cursor = Buffer.from(forged).toString("base64url");
      const res = await t.api("GET", `/v1/suppressions?cursor=${cursor}`);
      expect(res.status).toBe(400);
      expect(await body(res)).toEqual({ error: "invalid_cursor", message: expect.any(String) });
    }
    await t.close();
  });
});

describe("signed webhooks keep what they can, with U+FFFD, and never crash a later read", () => {
  async function deliver(t: Awaited<ReturnType<typeof observedApp>>, raw: string) {
    const res = await t.app.request("/webhooks/resend", {
      method: "POST",
      body: raw,
      headers: signedHeaders(raw),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { status: string }).status;
  }

  test("an address with a lone surrogate is an invalid address; the other recipient is suppressed", async () => {
    const t = await observedApp({
      sinks: [{ type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" }],
    });
    const raw = event("email.bounced", {
      to: ["\ud800x@example.com", "ok@example.com"],
      bounce: { type: "Permanent" },
    });
    expect(raw).toContain("\\ud800"); // valid UTF-8 JSON text, the escape inside
    expect(await deliver(t, raw)).toBe("processed");
    const c = await t.counts();
    expect(c).toMatchObject({ suppressions: 1, suppression_events: 2, sync_jobs: 1 });
    const history = await t.db.read.selectFrom("suppression_events").select(["email", "decision"]).execute();
    expect(history).toContainEqual({ email: "\ufffdx@example.com", decision: "invalid_address" });
    // Every read the daemon does: the list, the CSV, metrics, a sync claim.
    expect((await t.api("GET", "/v1/suppressions")).status).toBe(200);
    expect((await t.api("GET", "/v1/suppressions?format=csv")).status).toBe(200);
    expect((await t.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const now = t.now.value;
    const jobs = await claimDue(t.db.write, {
      owner: "t",
      now,
      leaseUntil: now + 60_000,
      limit: 10,
      sinks: ["crm"],
    });
    expect(jobs.map((j) => j.email)).toEqual(["ok@example.com"]);
    await t.close();
  });

  test("an ignored type with a lone surrogate is recorded with U+FFFD; /metrics still answers", async () => {
    // Recorded only with resend.recordIgnored true; by default the type reaches no table.
    const t = await observedApp({ resend: { recordIgnored: true } });
    expect(await deliver(t, event("email.\ud800opened", { to: ["a@x.com"] }))).toBe("ignored");
    const row = await t.db.read.selectFrom("webhook_events").select("type").executeTakeFirst();
    expect(row?.type).toBe("email.\ufffdopened");
    const res = await t.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    await t.close();
  });

  test("well-formed input cut by our own code: a long recipient kept for the history, a sink's answer", async () => {
    const t = await observedApp({
      sinks: [{ type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" }],
    });
    // Not an address (too long), so its first 320 UTF-16 units are kept: the cut falls inside a pair.
    const long = `a${"😀".repeat(200)}@x.com`;
    expect(await deliver(t, event("email.complained", { to: [long, "ok@example.com"] }))).toBe("processed");
    const kept = await t.db.read
      .selectFrom("suppression_events")
      .select("email")
      .where("decision", "=", "invalid_address")
      .executeTakeFirst();
    expect(kept?.email).toBe(`${long.slice(0, 319)}\ufffd`);
    // A sink's error text is cut at 200 characters too, and goes to the outbox through json_each.
    const now = t.now.value;
    const [job] = await claimDue(t.db.write, {
      owner: "w",
      now,
      leaseUntil: now + 60_000,
      limit: 1,
      sinks: ["crm"],
    });
    const error = `answered 422 ${"😀".repeat(100)}`.slice(0, 200);
    expect(error.isWellFormed()).toBe(false);
    await complete(t.db.write, "w", now, [
      { id: job?.id as number, status: "dead", next: now, error, attempted: true },
    ]);
    const res = await t.api("GET", "/v1/sync/jobs");
    expect(res.status).toBe(200);
    const jobs = (await res.json()) as { items: { last_error: string }[] };
    expect(jobs.items[0]?.last_error).toBe(error.toWellFormed());
    await t.close();
  });

  test(`data.to as one comma-separated string holds at most ${MAX_RECIPIENTS} recipients`, async () => {
    const t = await observedApp();
    const many = Array.from({ length: 2300 }, (_, i) => `r${i}@x.com`).join(",");
    expect(await deliver(t, event("email.complained", { to: many }))).toBe("quarantined");
    expect(await t.counts()).toMatchObject({ suppressions: 0, quarantine: 1 });
    const enough = Array.from({ length: MAX_RECIPIENTS }, (_, i) => `r${i}@x.com`).join(", ");
    expect(await deliver(t, event("email.complained", { to: enough }))).toBe("processed");
    expect(await t.counts()).toMatchObject({ suppressions: MAX_RECIPIENTS });
    await t.close();
  });
});
