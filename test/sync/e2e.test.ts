import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

let daemon: RunningDaemon | undefined;
let fake: FakeMailchimp | undefined;
const tmp = tempDir();
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  fake?.stop();
  fake = undefined;
});
afterAll(() => tmp.cleanup());

async function post(d: RunningDaemon, email: string) {
  const body = bounce(email);
  const res = await fetch(`${d.url}/webhooks/resend`, { method: "POST", body, headers: signedHeaders(body) });
  expect(res.status).toBe(200);
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await Bun.sleep(50);
  }
}

async function jobCounts(d: RunningDaemon): Promise<Record<string, number>> {
  const res = await fetch(`${d.url}/v1/sync/jobs?limit=1`, { headers: authHeaders() });
  return ((await res.json()) as { counts: Record<string, number> }).counts;
}

test("a signed bounce posted to the daemon ends as an unsubscribed, tagged member in Mailchimp", async () => {
  fake = FakeMailchimp.start();
  fake.addMember("list1", "reader@example.com", "subscribed", ["newsletter"]);
  const config = writeConfig(tmp.dir, join(tmp.dir, "a.db"), {
    sinks: [
      {
        type: "mailchimp",
        name: "mc",
        apiKey: FAKE_KEY,
        listIds: ["list1"],
        baseUrl: fake.url,
        tag: "suppressd:{{reason}}",
      },
    ],
    sync: { pollMs: 100 },
  });
  daemon = await startDaemon({ config });
  await post(daemon, "Reader@Example.com");
  await until(
    "the member is unsubscribed and tagged",
    () => fake?.member("list1", "reader@example.com")?.tags.has("suppressd:hard_bounce") ?? false,
  );
  const m = fake.member("list1", "reader@example.com");
  expect(m?.status).toBe("unsubscribed");
  expect([...(m?.tags ?? [])].sort()).toEqual(["newsletter", "suppressd:hard_bounce"]);
  await until("the job is done", async () => {
    const c = await jobCounts(daemon as RunningDaemon);
    return c.pending === 0 && c.running === 0;
  });
  expect(fake.stats.statusWrites).toEqual(["unsubscribed"]);
  // The start-up probe asked Mailchimp about the account and the audience.
  expect(daemon.stdout()).toContain('"msg":"sink ready"');
});

test("SIGKILL between commit and sync loses nothing: after restart each address reaches each audience", async () => {
  fake = FakeMailchimp.start({ lists: ["list1", "list2"] });
  const config = writeConfig(tmp.dir, join(tmp.dir, "k.db"), {
    sinks: [
      {
        type: "mailchimp",
        name: "mc",
        apiKey: FAKE_KEY,
        listIds: ["list1", "list2"],
        baseUrl: fake.url,
        createMissing: true,
      },
    ],
    sync: { pollMs: 100, leaseSeconds: 10 },
  });
  // Mailchimp accepts connections but never answers: the jobs are committed and claimed, not synced.
  fake.mode = "hang";
  daemon = await startDaemon({ config });
  const emails = Array.from({ length: 25 }, (_, i) => `k${i}@example.com`);
  for (const e of emails) await post(daemon, e);
  await until(
    "every job is claimed and stuck in a call",
    async () => (await jobCounts(daemon as RunningDaemon)).running === 25,
  );
  await daemon.kill();
  daemon = undefined;
  fake.heal();
  expect(fake.lists.get("list1")?.size ?? 0).toBe(0);

  daemon = await startDaemon({ config });
  // The dead process's leases expire (leaseSeconds) and the new one takes the jobs over.
  await until(
    "each address is unsubscribed in each audience",
    () => emails.every((e) => ["list1", "list2"].every((l) => fake?.member(l, e)?.status === "unsubscribed")),
    25_000,
  );
  await until("every job is done", async () => {
    const c = await jobCounts(daemon as RunningDaemon);
    return c.pending === 0 && c.running === 0 && c.dead === 0;
  });
  expect(new Set(fake.stats.statusWrites)).toEqual(new Set(["unsubscribed"]));
}, 45_000);
