import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { Webhook } from "svix";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { SECRET } from "../helpers/config.ts";
import { SINK } from "./helpers/daemons.ts";
import { MessageSource } from "./helpers/messages.ts";
import { judge } from "./helpers/verdict.ts";

/**
 * The judge of the reliability suite, checked against damage done on purpose: a suite that can
 * only say "0 lost" proves nothing.
 */
let t: TestApp | undefined;
let fake: FakeMailchimp | undefined;
afterEach(async () => {
  await t?.close();
  fake?.stop();
});

test("the judge sees a lost event, a lost effect, a double effect and an address missing from an audience", async () => {
  fake = FakeMailchimp.start();
  t = await makeApp({
    sinks: [{ type: "mailchimp", name: SINK, apiKey: FAKE_KEY, listIds: ["list1"], baseUrl: fake.url }],
  });
  const app = t;
  const source = new MessageSource("judge");
  const acked = new Map<string, string>();
  const hook = new Webhook(SECRET);
  for (let i = 0; i < 40; i++) {
    const m = source.next();
    const at = new Date();
    const res = await app.app.request("/webhooks/resend", {
      method: "POST",
      body: m.body,
      headers: {
        "svix-id": m.id,
        "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
        "svix-signature": hook.sign(m.id, at, m.body),
      },
    });
    acked.set(m.id, ((await res.json()) as { status: string }).status);
  }
  const dbFile = join(app.dir, "test.db");
  const verdict = () => judge({ dbFile, messages: source.all, acked, sinks: [SINK] });
  // The jobs are pending (no worker ran): "no finished job" for every address, nothing else.
  const before = await verdict();
  expect(before.duplicates).toEqual([]);
  expect(before.lost.every((l) => l.includes(`no finished ${SINK} job`))).toBe(true);
  await app.db.writer.execute("UPDATE sync_jobs SET status = 'done'");
  expect(await verdict()).toMatchObject({ lost: [], duplicates: [] });

  const [first, second, third] = source.all.filter((m) => m.kind === "suppress");
  if (!first || !second || !third) throw new Error("the source makes suppressions first");
  const w = app.db.writer;
  await w.execute({ sql: "DELETE FROM webhook_events WHERE svix_id = ?", args: [first.id] });
  await w.execute({ sql: "DELETE FROM suppression_events WHERE svix_id = ?", args: [second.id] });
  await w.execute({
    sql: "INSERT INTO suppression_events (email, decision, reason, event_type, svix_id, occurred_at, recorded_at) SELECT email, decision, reason, event_type, svix_id, occurred_at, recorded_at FROM suppression_events WHERE svix_id = ?",
    args: [third.id],
  });
  await w.execute({
    sql: "INSERT INTO sync_jobs (sink, email, action, reason, event_type, occurred_at, status, attempts, next_attempt_at, created_at, updated_at) SELECT sink, email, action, reason, event_type, occurred_at, 'pending', 0, 0, 0, 0 FROM sync_jobs WHERE email = ?",
    args: [third.emails[0] as string],
  });
  const after = await judge({
    dbFile,
    messages: source.all,
    acked,
    sinks: [SINK],
    audiences: { fake, lists: ["list1"] },
  });
  expect(after.lost).toContain(`${first.id}: acknowledged (processed) but not in webhook_events`);
  expect(after.lost).toContain(`${second.id} → ${second.emails[0]}: no history row`);
  expect(after.lost).toContain(`${first.emails[0]}: absent in audience list1`);
  expect(after.duplicates).toContain(`${third.id} → ${third.emails[0]}: 2 history rows`);
  expect(after.duplicates).toContain(`${third.emails[0]}: suppressed 2 times`);
  expect(after.duplicates).toContain(`${third.emails[0]}: 2 ${SINK} jobs`);
});
