import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { firedAt, mailchimpDeliveryKey } from "../../src/events/mailchimp.ts";
import { logPath } from "../../src/http/request_log.ts";
import { FAKE_KEY } from "../fakes/mailchimp.ts";
import { appsClosedAfterEach, type TestApp } from "../helpers/app.ts";

const HOOK_SECRET = "mc_hook_0123456789abcdef0123456789";
const LIST = "a6b5da1054"; // the list id of Mailchimp's documented samples
const FIXTURES = join(import.meta.dir, "../fixtures/mailchimp/webhooks");
/** A documented sample body, byte for byte (test/fixtures/mailchimp/webhooks/README.md). */
const sample = (name: string) => readFileSync(join(FIXTURES, `${name}.form`), "utf8");
/** A documented sample with some fields replaced, encoded as Mailchimp encodes a form. */
function variant(name: string, set: Record<string, string | string[]>): string {
  const form = new URLSearchParams(sample(name));
  for (const [k, v] of Object.entries(set)) {
    form.delete(k);
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  }
  return form.toString();
}

const sinks = [
  {
    type: "mailchimp",
    name: "mc",
    apiKey: FAKE_KEY,
    listIds: [LIST],
    webhookSecret: HOOK_SECRET,
  },
  { type: "http", name: "crm", url: "http://127.0.0.1:9/unsubscribe/{{email}}" },
  // A second Mailchimp sink that also holds another audience still needs the change.
  { type: "mailchimp", name: "mc-both", apiKey: FAKE_KEY, listIds: [LIST, "otherlist1"] },
];
const makeApp = appsClosedAfterEach();

function post(t: TestApp, body: string, secret = HOOK_SECRET) {
  return t.app.request(`/webhooks/mailchimp/${secret}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": "MailChimp" },
    body,
  });
}

async function state(t: TestApp, email: string) {
  const res = await t.api("GET", `/v1/suppressions/${encodeURIComponent(email)}`);
  return (await res.json()) as {
    suppressed: boolean;
    reason?: string;
    reasons?: { reason: string; source: string }[];
    history: {
      decision: string;
      source: string;
      event_type: string;
      note: string | null;
      actor: string | null;
    }[];
  };
}

async function jobs(t: TestApp) {
  const r = await t.db.reader.execute(
    "SELECT sink, email, action, reason, status FROM sync_jobs ORDER BY id",
  );
  return r.rows.map((j) => `${j.sink} ${j.action} ${j.reason} ${j.email} ${j.status}`);
}

describe("authentication by the path secret", () => {
  test("Mailchimp's GET validation request is answered 200", async () => {
    const t = await makeApp({ sinks });
    const res = await t.app.request(`/webhooks/mailchimp/${HOOK_SECRET}`, {
      headers: { "user-agent": "MailChimp.com WebHook Validator" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  });

  test("a wrong secret is 404, says nothing of secrets, and changes nothing", async () => {
    const t = await makeApp({ sinks });
    const before = await t.counts();
    for (const secret of [`${HOOK_SECRET}x`, HOOK_SECRET.slice(0, -1), "x", `${HOOK_SECRET.slice(0, -1)}X`]) {
      const res = await post(t, sample("unsubscribe"), secret);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({
        error: "not_found",
        message: "No route for POST /webhooks/mailchimp/[secret].",
      });
      const get = await t.app.request(`/webhooks/mailchimp/${secret}`);
      expect(get.status).toBe(404);
    }
    expect(await t.counts()).toEqual(before);
    expect((await state(t, "api+unsub@mailchimp.com")).suppressed).toBe(false);
  });

  test("without a sink that has a webhookSecret, the route answers 404 for any secret", async () => {
    const t = await makeApp();
    const res = await post(t, sample("unsubscribe"));
    expect(res.status).toBe(404);
    const counts = await t.counts();
    expect(Object.keys(counts)).toContain("webhook_events");
    expect(Object.entries(counts).filter(([, n]) => n !== 0)).toEqual([]);
  });

  test("the secret in the path never reaches a log line", () => {
    expect(logPath(`/webhooks/mailchimp/${HOOK_SECRET}`, false)).toBe("/webhooks/mailchimp/[secret]");
  });

  test("a body that is not a Mailchimp webhook is 400 with the reason, and changes nothing", async () => {
    const t = await makeApp({ sinks });
    const before = await t.counts();
    for (const [body, why] of [
      ["hello=world", "the form has no `type` field"],
      [
        variant("unsubscribe", { fired_at: "yesterday" }),
        "`fired_at` is not a time like 2009-03-26 21:35:57",
      ],
    ] as const) {
      const res = await post(t, body);
      expect(res.status).toBe(400);
      const out = (await res.json()) as { error: string; message: string };
      expect(out.error).toBe("invalid_payload");
      expect(out.message).toContain(why);
    }
    expect(await t.counts()).toEqual(before);
  });
});

describe("what each documented event does", () => {
  test("unsubscribe: suppressed as unsubscribe, source mailchimp, at fired_at (read as UTC)", async () => {
    const t = await makeApp({ sinks });
    const res = await post(t, sample("unsubscribe"));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "processed" });
    const s = await state(t, "api+unsub@mailchimp.com");
    expect(s.suppressed).toBe(true);
    expect(s.reason).toBe("unsubscribe");
    expect(s.reasons?.map((r) => `${r.reason}/${r.source}`)).toEqual(["unsubscribe/mailchimp"]);
    expect(s.history[0]).toMatchObject({
      decision: "suppressed",
      source: "mailchimp",
      event_type: "mailchimp.unsubscribe",
      actor: "mailchimp:mc",
      note: `unsubscribed in audience ${LIST}`,
    });
    const row = await t.db.reader.execute("SELECT suppressed_at FROM suppressions");
    expect(row.rows[0]?.suppressed_at).toBe(Date.UTC(2009, 2, 26, 21, 40, 57));
  });

  test("a redelivery (same fields: Mailchimp gives no id) has no second effect", async () => {
    const t = await makeApp({ sinks });
    expect(await (await post(t, sample("unsubscribe"))).json()).toEqual({ status: "processed" });
    const after = await t.counts();
    const jobsAfter = await jobs(t);
    for (let i = 0; i < 3; i++) {
      const res = await post(t, sample("unsubscribe"));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "duplicate" });
    }
    expect(await t.counts()).toEqual(after);
    expect(await jobs(t)).toEqual(jobsAfter);
    // The stored key is keyed by the sink's secret: it names nobody.
    const key = (await t.db.reader.execute("SELECT svix_id FROM webhook_events")).rows[0]?.svix_id as string;
    expect(key).toBe(mailchimpDeliveryKey(HOOK_SECRET, sample("unsubscribe")));
    expect(key).not.toContain("mailchimp.com");
    // Counted with Resend's deliveries, by type and outcome.
    const metrics = await (await t.api("GET", "/metrics")).text();
    expect(metrics).toContain(
      'suppressd_webhook_events_total{type="mailchimp.unsubscribe",outcome="processed"} 1',
    );
    expect(metrics).toContain(
      'suppressd_webhook_events_total{type="mailchimp.unsubscribe",outcome="duplicate"} 3',
    );
    // The same unsubscribe a second later is another event (and changes nothing more).
    const later = await post(t, variant("unsubscribe", { fired_at: "2009-03-26 21:40:58" }));
    expect(await later.json()).toEqual({ status: "processed" });
  });

  test("cleaned: hard → hard_bounce, abuse → complaint, any other reason → provider_suppressed", async () => {
    const t = await makeApp({ sinks });
    await post(t, sample("cleaned"));
    await post(t, variant("cleaned", { "data[reason]": "abuse", "data[email]": "abuser@example.com" }));
    await post(t, variant("cleaned", { "data[reason]": "other", "data[email]": "other@example.com" }));
    expect((await state(t, "api+cleaned@mailchimp.com")).reason).toBe("hard_bounce");
    expect((await state(t, "abuser@example.com")).reason).toBe("complaint");
    const other = await state(t, "other@example.com");
    expect(other.reason).toBe("provider_suppressed");
    expect(other.history[0]?.note).toBe(`cleaned (other) in audience ${LIST}`);
  });

  test("unsubscribe for abuse is a complaint; an admin's delete is not an opt-out", async () => {
    const t = await makeApp({ sinks });
    await post(t, variant("unsubscribe", { "data[reason]": "abuse", "data[email]": "spam@example.com" }));
    expect((await state(t, "spam@example.com")).reason).toBe("complaint");
    const del = await post(
      t,
      variant("unsubscribe", {
        "data[action]": "delete",
        "data[reason]": "manual",
        "data[email]": "d@example.com",
      }),
    );
    expect(await del.json()).toEqual({ status: "ignored" });
    expect((await state(t, "d@example.com")).suppressed).toBe(false);
  });

  test("upemail is noted in the history of both addresses, neither naming the other; nothing suppressed", async () => {
    const t = await makeApp({ sinks });
    expect(await (await post(t, sample("upemail"))).json()).toEqual({ status: "processed" });
    for (const [email, side] of [
      ["api+old@mailchimp.com", "old address"],
      ["api+new@mailchimp.com", "new address"],
    ] as const) {
      const s = await state(t, email);
      expect(s.suppressed).toBe(false);
      expect(s.history).toHaveLength(1);
      expect(s.history[0]).toMatchObject({ decision: "noted", event_type: "mailchimp.upemail" });
      expect(s.history[0]?.note).toContain(side);
      expect(s.history[0]?.note).not.toContain("@");
    }
    expect(await jobs(t)).toEqual([]);
  });

  test("profile and campaign are acknowledged and recorded as seen", async () => {
    const t = await makeApp({ sinks });
    for (const name of ["profile", "campaign"]) {
      const res = await post(t, sample(name));
      expect(await res.json()).toEqual({ status: "ignored" });
    }
    const seen = await t.db.reader.execute("SELECT type, status FROM webhook_events ORDER BY type");
    expect(seen.rows.map((r) => `${r.type} ${r.status}`)).toEqual([
      "mailchimp.campaign ignored",
      "mailchimp.profile ignored",
    ]);
    expect((await t.counts()).suppressions).toBe(0);
  });

  test("subscribe lifts Mailchimp's unsubscribe, but not a hard bounce Resend reported", async () => {
    const t = await makeApp({ sinks });
    await post(t, variant("unsubscribe", { "data[email]": "api@mailchimp.com" }));
    await post(t, variant("subscribe", { fired_at: "2009-03-27 10:00:00" }));
    expect((await state(t, "api@mailchimp.com")).suppressed).toBe(false);

    await t.api("PUT", "/v1/suppressions/kept@example.com", { reason: "hard_bounce" });
    await post(
      t,
      variant("subscribe", { "data[email]": "kept@example.com", fired_at: "2030-01-01 00:00:00" }),
    );
    expect((await state(t, "kept@example.com")).suppressed).toBe(true);
  });

  test("fired_at is read as UTC; anything else is refused", () => {
    expect(firedAt("2009-03-26 21:35:57")).toBe(Date.UTC(2009, 2, 26, 21, 35, 57));
    expect(firedAt("2009-03-26T21:35:57")).toBe(Date.UTC(2009, 2, 26, 21, 35, 57));
    for (const bad of [null, "", "2009-03-26", "26/03/2009 21:35:57", "2009-03-26 21:35:57Z"])
      expect(firedAt(bad)).toBeNull();
  });
});

describe("no echo", () => {
  test("a change from Mailchimp is queued for the other sinks, never for the sink of that audience", async () => {
    const t = await makeApp({ sinks });
    await post(t, sample("unsubscribe"));
    expect(await jobs(t)).toEqual([
      "crm suppress unsubscribe api+unsub@mailchimp.com pending",
      "mc-both suppress unsubscribe api+unsub@mailchimp.com pending",
    ]);
    // The same address suppressed from elsewhere goes to every sink as before.
    await t.api("PUT", "/v1/suppressions/reader@example.com", { reason: "manual" });
    expect((await jobs(t)).filter((j) => j.includes("reader@"))).toEqual([
      "mc suppress manual reader@example.com pending",
      "crm suppress manual reader@example.com pending",
      "mc-both suppress manual reader@example.com pending",
    ]);
  });

  test("that sink's waiting job is left as it was: it carries our earlier change", async () => {
    // With a tag, Mailchimp hears of lifts (it removes the tag): a lift job waits for it.
    const tagged = [{ ...sinks[0], tag: "suppressd:{{reason}}" }, sinks[1]];
    const t = await makeApp({ sinks: tagged });
    await t.api("PUT", "/v1/suppressions/api+unsub@mailchimp.com", { reason: "manual" });
    await t.api("DELETE", "/v1/suppressions/api+unsub@mailchimp.com", {});
    expect((await jobs(t)).filter((j) => j.endsWith("pending"))).toEqual([
      "mc lift manual api+unsub@mailchimp.com pending",
    ]);
    await post(t, variant("unsubscribe", { fired_at: "2030-01-01 00:00:00" }));
    expect(await jobs(t)).toEqual([
      "mc suppress manual api+unsub@mailchimp.com superseded",
      "crm suppress manual api+unsub@mailchimp.com superseded",
      "mc lift manual api+unsub@mailchimp.com pending",
      "crm suppress unsubscribe api+unsub@mailchimp.com pending",
    ]);
  });
});
