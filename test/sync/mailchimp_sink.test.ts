import { afterEach, describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { MailchimpSinkConfig } from "../../src/config/schema.ts";
import { type Outcome, SinkError, type SyncJob } from "../../src/sync/sink.ts";
import { buildSinks } from "../../src/sync/sinks/index.ts";
import { FAKE_KEY, FakeMailchimp, hash } from "../fakes/mailchimp.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";

let fake: FakeMailchimp;
afterEach(() => fake?.stop());

function sinkConfig(over: Record<string, unknown> = {}): MailchimpSinkConfig {
  const config = parseConfig({
    resend: { webhookSecrets: [SECRET] },
    api: { tokens: [TOKEN] },
    sinks: [
      { type: "mailchimp", name: "mc", apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: fake.url, ...over },
    ],
  });
  return config.sinks[0] as MailchimpSinkConfig;
}

function sinkFor(over: Record<string, unknown> = {}) {
  const set = buildSinks([sinkConfig(over)], {
    batch: { pollStartMs: 10, pollMaxMs: 50 },
    sleep: (ms) => Bun.sleep(Math.min(ms, 20)),
  });
  return { sink: set.sinks[0] as NonNullable<(typeof set.sinks)[0]>, probe: set.probe };
}

let nextId = 1;
function job(email: string, action: "suppress" | "lift" = "suppress", reason = "hard_bounce"): SyncJob {
  return {
    id: nextId++,
    sink: "mc",
    email,
    action,
    reason: reason as SyncJob["reason"],
    event_type: "email.bounced",
    occurred_at: Date.now(),
    attempts: 0,
    created_at: Date.now(),
  };
}

async function send(
  sink: { send: (j: SyncJob[], s: AbortSignal) => Promise<Map<number, Outcome>> },
  jobs: SyncJob[],
) {
  const out = await sink.send(jobs, new AbortController().signal);
  return jobs.map((j) => out.get(j.id));
}

const addresses = (n: number, prefix = "a") =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);

describe("one call per address (a few at a time)", () => {
  test("an audience member is unsubscribed and tagged; a stranger is left out", async () => {
    fake = FakeMailchimp.start();
    fake.addMember("list1", "member@example.com", "subscribed");
    const { sink } = sinkFor({ tag: "suppressd:{{reason}}" });
    const out = await send(sink, [job("member@example.com"), job("stranger@example.com")]);
    expect(out.map((o) => o?.kind)).toEqual(["done", "done"]);
    expect(fake.member("list1", "member@example.com")?.status).toBe("unsubscribed");
    expect([...(fake.member("list1", "member@example.com")?.tags ?? [])]).toEqual(["suppressd:hard_bounce"]);
    expect(fake.member("list1", "stranger@example.com")).toBeUndefined();
  });

  test("createMissing creates the stranger as unsubscribed, in every listed audience", async () => {
    fake = FakeMailchimp.start({ lists: ["list1", "list2"] });
    const { sink } = sinkFor({ createMissing: true, listIds: ["list1", "list2"] });
    const out = await send(sink, [job("stranger@example.com")]);
    expect(out[0]?.kind).toBe("done");
    expect(fake.member("list1", "stranger@example.com")?.status).toBe("unsubscribed");
    expect(fake.member("list2", "stranger@example.com")?.status).toBe("unsubscribed");
  });

  test("forgotten addresses count as done; a fake-looking one fails for good; compliance state does not meet an unsubscribe", async () => {
    fake = FakeMailchimp.start();
    fake.compliance.add("complied@example.com");
    fake.forgotten.add("gone@example.com");
    fake.invalid.add("fake@example.com");
    const { sink } = sinkFor({ createMissing: true });
    const out = await send(sink, [
      job("complied@example.com"),
      job("gone@example.com"),
      job("fake@example.com"),
    ]);
    expect(out.map((o) => o?.kind)).toEqual(["done", "done", "fail"]);
    expect(out[1]?.kind === "done" && out[1].note).toContain("was permanently deleted");
    expect(out[2]?.kind === "fail" && out[2].error).toContain("looks fake or invalid");
    // Compliance state refuses subscribing only: the unsubscribe went through as a write.
    expect(fake.member("list1", "complied@example.com")?.status).toBe("unsubscribed");
  });

  test("the fake answers 'Member In Compliance State' only to a call that subscribes", async () => {
    fake = FakeMailchimp.start();
    fake.compliance.add("complied@example.com");
    const put = (status: string) =>
      fetch(`${fake.url}/lists/list1/members/${hash("complied@example.com")}`, {
        method: "PUT",
        headers: { authorization: `Basic ${btoa(`any:${FAKE_KEY}`)}` },
        body: JSON.stringify({ email_address: "complied@example.com", status, status_if_new: status }),
      });
    const refused = await put("subscribed");
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      title: "Member In Compliance State",
      detail:
        "complied@example.com is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.",
    });
    expect((await put("unsubscribed")).status).toBe(200);
  });

  test("a lift removes our tag and nothing else: no one is resubscribed", async () => {
    fake = FakeMailchimp.start();
    fake.addMember("list1", "back@example.com", "unsubscribed", ["suppressd:complaint", "vip"]);
    const { sink } = sinkFor({ tag: "suppressd:{{reason}}" });
    const out = await send(sink, [
      job("back@example.com", "lift", "complaint"),
      job("nobody@example.com", "lift"),
    ]);
    expect(out.map((o) => o?.kind)).toEqual(["done", "done"]);
    const m = fake.member("list1", "back@example.com");
    expect(m?.status).toBe("unsubscribed");
    expect([...(m?.tags ?? [])]).toEqual(["vip"]);
    expect(fake.stats.statusWrites).toEqual([]);
  });
});

describe("bursts use the bulk endpoints", () => {
  test("createMissing: POST /lists/{id} in calls of 500, per-member errors retried alone, tags by batch", async () => {
    fake = FakeMailchimp.start();
    const emails = addresses(1200);
    fake.addMember("list1", emails[0] as string, "subscribed");
    fake.addMember("list1", emails[1] as string, "pending");
    fake.compliance.add(emails[2] as string);
    fake.forgotten.add(emails[3] as string);
    fake.invalid.add(emails[4] as string);
    const { sink } = sinkFor({ createMissing: true, tag: "suppressd" });
    const jobs = emails.map((e) => job(e));
    const out = await send(sink, jobs);
    expect(out.filter((o) => o?.kind === "done").length).toBe(1199);
    expect(out[4]?.kind).toBe("fail");
    expect(fake.stats.routes.get("POST /lists/:id")).toBe(3);
    expect(fake.stats.routes.get("POST /batches")).toBe(1);
    for (const e of emails.slice(5)) {
      const m = fake.member("list1", e);
      expect(m?.status).toBe("unsubscribed");
      expect(m?.tags.has("suppressd")).toBe(true);
    }
    expect(fake.member("list1", emails[1] as string)?.status).toBe("unsubscribed");
    expect(fake.stats.statusWrites.every((s) => s === "unsubscribed")).toBe(true);
  });

  test("without createMissing: a batch of GETs, then PATCHes for mailable members only; no one is created", async () => {
    fake = FakeMailchimp.start({ lists: ["list1", "list2"] });
    const emails = addresses(300);
    for (const e of emails.slice(0, 100)) fake.addMember("list1", e, "subscribed");
    for (const e of emails.slice(50, 150)) fake.addMember("list2", e, "subscribed");
    fake.compliance.add(emails[10] as string);
    const { sink } = sinkFor({ listIds: ["list1", "list2"], tag: "suppressd" });
    const out = await send(
      sink,
      emails.map((e) => job(e)),
    );
    expect(out.every((o) => o?.kind === "done")).toBe(true);
    expect(fake.lists.get("list1")?.size).toBe(100);
    expect(fake.lists.get("list2")?.size).toBe(100);
    for (const e of emails.slice(0, 100)) {
      expect(fake.member("list1", e)?.status).toBe("unsubscribed");
      expect(fake.member("list1", e)?.tags.has("suppressd")).toBe(true);
    }
    expect(fake.stats.routes.get("GET /lists/:id/members/:id")).toBe(600);
    expect(fake.stats.routes.get("PATCH /lists/:id/members/:id")).toBe(200);
    expect(fake.stats.routes.get("POST /batches")).toBe(4);
  });

  test("archived, cleaned and unsubscribed members are left as they are: nothing is unarchived", async () => {
    for (const n of [3, 40]) {
      // 3: one call each; 40: batch requests.
      fake = FakeMailchimp.start();
      const emails = addresses(n);
      const kinds = ["archived", "cleaned", "unsubscribed"] as const;
      emails.forEach((e, i) => {
        fake.addMember("list1", e, kinds[i % 3]);
      });
      const { sink } = sinkFor();
      const out = await send(
        sink,
        emails.map((e) => job(e)),
      );
      expect(out.every((o) => o?.kind === "done")).toBe(true);
      expect(out[0]?.kind === "done" && out[0].note).toContain("left archived");
      expect(out[1]?.kind === "done" && out[1].note).toContain("cleaned");
      emails.forEach((e, i) => {
        expect(fake.member("list1", e)?.status).toBe(kinds[i % 3]);
      });
      expect(fake.stats.unarchived).toBe(0);
      expect(fake.stats.statusWrites).toEqual([]);
      fake.stop();
    }
  });

  test("the fake unarchives an archived member on a write, as Mailchimp does", async () => {
    fake = FakeMailchimp.start();
    fake.addMember("list1", "old@example.com", "archived");
    const { sink } = sinkFor({ createMissing: true });
    // createMissing upserts: the archived member comes back as unsubscribed, like a missing one.
    expect((await send(sink, [job("old@example.com")]))[0]?.kind).toBe("done");
    expect(fake.member("list1", "old@example.com")?.status).toBe("unsubscribed");
    expect(fake.stats.unarchived).toBe(1);
  });

  test("createMissing with a required merge field: members are created (skip_merge_validation=true)", async () => {
    fake = FakeMailchimp.start();
    fake.requiredMergeFields.set("list1", ["FNAME"]);
    // Without the flag, the fake refuses a new member the way Mailchimp does.
    const refused = await fetch(`${fake.url}/lists/list1/members/${hash("new@example.com")}`, {
      method: "PUT",
      headers: { authorization: `Basic ${btoa(`any:${FAKE_KEY}`)}` },
      body: JSON.stringify({ email_address: "new@example.com", status_if_new: "unsubscribed" }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      title: "Invalid Resource",
      detail: "Your merge fields were invalid.",
      errors: [{ field: "FNAME", message: "Please enter a value" }],
    });
    expect(fake.member("list1", "new@example.com")).toBeUndefined();
    const { sink } = sinkFor({ createMissing: true });
    for (const emails of [addresses(3, "one"), addresses(600, "bulk")]) {
      const out = await send(
        sink,
        emails.map((e) => job(e)),
      );
      expect(out.every((o) => o?.kind === "done")).toBe(true);
      for (const e of emails) expect(fake.member("list1", e)?.status).toBe("unsubscribed");
    }
  });

  test("a cleaned member with createMissing: the refusal nested in errors[] counts as done", async () => {
    fake = FakeMailchimp.start();
    const emails = addresses(30);
    for (const e of emails) fake.addMember("list1", e, "cleaned");
    const answer = await fetch(`${fake.url}/lists/list1/members/${hash(emails[0] as string)}`, {
      method: "PUT",
      headers: { authorization: `Basic ${btoa(`any:${FAKE_KEY}`)}` },
      body: JSON.stringify({ email_address: emails[0], status: "unsubscribed" }),
    });
    expect(answer.status).toBe(400);
    const body = (await answer.json()) as { title: string; detail: string; errors: { message: string }[] };
    expect(body.title).toBe("Invalid Resource");
    expect(body.detail).not.toContain("cleaned");
    expect(body.errors[0]?.message).toStartWith(`This member's status is "cleaned."`);
    const { sink } = sinkFor({ createMissing: true });
    for (const jobs of [[job(emails[0] as string)], emails.map((e) => job(e))]) {
      const out = await send(sink, jobs);
      expect(out.every((o) => o?.kind === "done")).toBe(true);
      expect(out[0]?.kind === "done" && out[0].note).toContain(`status is "cleaned."`);
    }
    expect(fake.stats.statusWrites).toEqual([]);
  });

  test("lifts in bulk remove the tag through a batch", async () => {
    fake = FakeMailchimp.start();
    const emails = addresses(40);
    for (const e of emails) fake.addMember("list1", e, "unsubscribed", ["suppressd"]);
    const { sink } = sinkFor({ tag: "suppressd" });
    const out = await send(
      sink,
      emails.map((e) => job(e, "lift")),
    );
    expect(out.every((o) => o?.kind === "done")).toBe(true);
    expect(emails.every((e) => fake.member("list1", e)?.tags.size === 0)).toBe(true);
    expect(fake.stats.statusWrites).toEqual([]);
  });
});

describe("errors", () => {
  // Sink-wide refusals are thrown for the whole send: the worker stops the sink, not each job.
  test("a wrong key is thrown as a permanent error for the whole send, in plain words", async () => {
    fake = FakeMailchimp.start();
    const { sink } = sinkFor({ apiKey: "ffffffffffffffffffffffffffffffff-us19" });
    const e = await send(sink, [job("x@example.com")]).catch((x) => x);
    expect(e).toBeInstanceOf(SinkError);
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/rejected the API key \(401 API Key Invalid/);
  });

  test("an unknown audience is thrown as a permanent error for the whole send and says which", async () => {
    fake = FakeMailchimp.start();
    const { sink } = sinkFor({ listIds: ["nope"] });
    const e = await send(sink, [job("x@example.com")]).catch((x) => x);
    expect(e).toBeInstanceOf(SinkError);
    expect(e.permanent).toBe(true);
    expect(e.message).toContain("audience (list id) 'nope' does not exist");
  });

  test("a deactivated account (403 with a problem body) is thrown as a permanent error, even mid-burst", async () => {
    fake = FakeMailchimp.start();
    const { sink } = sinkFor();
    // The audience check passes first; the account is refused on the member calls after it.
    expect((await send(sink, [job("a@example.com")]))[0]?.kind).toBe("done");
    fake.disabled = true;
    for (const jobs of [[job("x@example.com")], addresses(30).map((e) => job(e))]) {
      const e = await send(sink, jobs).catch((x) => x);
      expect(e).toBeInstanceOf(SinkError);
      expect(e.permanent).toBe(true);
      expect(e.message).toContain("403 User Disabled");
    }
  });

  test("a 403 or 429 without a body is throttling: every job is retried, none fails", async () => {
    fake = FakeMailchimp.start();
    const emails = addresses(30);
    for (const e of emails) fake.addMember("list1", e);
    for (const over of [{}, { createMissing: true }]) {
      const { sink } = sinkFor(over);
      // Checked once and trusted: the throttling meets the member calls.
      await send(sink, [job("warmup@example.com")]);
      for (const fault of ["bare403", "bare429"] as const) {
        fake.failNext(10_000, fault);
        for (const jobs of [[job(emails[0] as string)], emails.map((e) => job(e))]) {
          const out = await send(sink, jobs);
          expect(out.every((o) => o?.kind === "retry")).toBe(true);
          expect(out[0]?.kind === "retry" && out[0].error).toContain(
            `throttling (${fault.slice(4)} without a body)`,
          );
        }
        fake.heal();
      }
    }
    expect(fake.stats.statusWrites).toEqual(["unsubscribed"]);
  });

  test("503 pages and 429s are retried later; a momentary one is retried at once", async () => {
    fake = FakeMailchimp.start();
    fake.addMember("list1", "m@example.com");
    const { sink } = sinkFor();
    fake.failNext(1, "503");
    expect((await send(sink, [job("m@example.com")]))[0]?.kind).toBe("done");
    fake.mode = "down";
    const [o] = await send(sink, [job("m@example.com")]);
    expect(o?.kind).toBe("retry");
    expect(o?.kind === "retry" && o.error).toContain("503");
    fake.mode = "throttle";
    expect((await send(sink, [job("m@example.com")]))[0]?.kind).toBe("retry");
  });

  test("a call that hangs past the timeout is retried later", async () => {
    fake = FakeMailchimp.start();
    const { sink } = sinkFor({ timeoutMs: 300 });
    fake.mode = "hang";
    const [o] = await send(sink, [job("m@example.com")]);
    expect(o?.kind === "retry" && o.error).toContain("no answer from Mailchimp within 0.3 s");
  });

  test("never more than maxConnections per key (default 5), even across sinks and audiences", async () => {
    for (const [over, expected] of [
      [{}, 5],
      [{ maxConnections: 10 }, 10],
    ] as const) {
      fake = FakeMailchimp.start({ lists: ["list1", "list2"], latencyMs: 20 });
      const a = sinkConfig({ name: "a", listIds: ["list1"], ...over });
      const b = sinkConfig({ name: "b", listIds: ["list2"], ...over });
      const set = buildSinks([a, b]);
      const jobs = (name: string) => addresses(10, name).map((e) => ({ ...job(e), sink: name }));
      const signal = new AbortController().signal;
      // 10 addresses per sink go one call each: 20 calls at once would be 429s without the limit.
      for (let i = 0; i < 3; i++) {
        await Promise.all([set.sinks[0]?.send(jobs("a"), signal), set.sinks[1]?.send(jobs("b"), signal)]);
      }
      expect(fake.stats.throttled).toBe(0);
      expect(fake.stats.maxInFlight).toBe(expected);
      fake.stop();
    }
  });

  test("the old key 'concurrency' is a config error that names its new name", () => {
    fake = FakeMailchimp.start();
    expect(() => sinkConfig({ concurrency: 10 })).toThrow(
      /sinks\.0\.concurrency: renamed "maxConnections" \(default 5\)/,
    );
    expect(() => sinkConfig({ maxConnections: 11 })).toThrow(/maxConnections/);
  });
});

test("the probe names what is wrong with each account and audience", async () => {
  fake = FakeMailchimp.start();
  const good = sinkConfig({ name: "good" });
  const badList = sinkConfig({ name: "badlist", listIds: ["list1", "missing"] });
  const badKey = sinkConfig({ name: "badkey", apiKey: "ffffffffffffffffffffffffffffffff-us19" });
  const results = await buildSinks([good, badList, badKey]).probe();
  expect(results[0]?.problems).toEqual([]);
  expect(results[1]?.problems).toEqual([expect.stringContaining("'missing' does not exist")]);
  expect(results[2]?.problems).toEqual([expect.stringContaining("rejected the API key")]);
});
