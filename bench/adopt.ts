/**
 * Adopting suppressd on an existing account (issue 12): how fast `import --from` reads the
 * services' lists, and how long `reconcile` takes on a large list. Against the fakes of
 * test/fakes/ on loopback, with the services' documented limits applied: Resend 5 requests per
 * second per team (resend.com/docs/api-reference/rate-limit), 100 rows per page; Mailchimp at most
 * 10 simultaneous connections (the backfill reads one page at a time) and 1000 members per page.
 * Network latency is not modelled: a real service adds its round trip to every page.
 *
 *   bun bench/adopt.ts [--resend 5000] [--mailchimp 50000] [--reconcile 100000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { mailchimpApi, mailchimpMembers } from "../src/backfill/mailchimp.ts";
import { runPass } from "../src/backfill/pass.ts";
import { resendSuppressions } from "../src/backfill/resend.ts";
import { ResendReader } from "../src/backfill/resend_api.ts";
import { emptyStats } from "../src/backfill/rows.ts";
import { parseConfig } from "../src/config/load.ts";
import { sinkTargets } from "../src/daemon.ts";
import { migrate, openDatabase } from "../src/db/client.ts";
import { Writer } from "../src/db/writer.ts";
import { reconcile } from "../src/reconcile/reconcile.ts";
import { FAKE_KEY, FakeMailchimp } from "../test/fakes/mailchimp.ts";
import { FakeResend } from "../test/fakes/resend.ts";
import { seededAddress, seedSuppressions } from "./lib/seed.ts";

const { values } = parseArgs({
  options: {
    resend: { type: "string", default: "5000" },
    mailchimp: { type: "string", default: "50000" },
    reconcile: { type: "string", default: "100000" },
  },
});
const dir = mkdtempSync(join(tmpdir(), "suppressd-adopt-bench-"));
const fmt = (n: number) => Math.round(n).toLocaleString("en");

async function open(name: string, sinks: unknown[] = [], resend: Record<string, unknown> = {}) {
  const config = parseConfig({
    database: { url: `file:${join(dir, name)}` },
    resend: { webhookSecrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], ...resend },
    api: { tokens: ["bench-token-0123456789"] },
    sinks,
  });
  const db = await openDatabase(config.database);
  await migrate(db);
  const writer = new Writer(db, { softBounce: config.policy.softBounce, sinks: sinkTargets(config) });
  return { config, db, writer };
}

try {
  // 1. Resend's suppression list, at its documented rate limit.
  const resend = new FakeResend();
  const url = resend.start();
  resend.rateLimit = 5;
  for (let i = 0; i < Number(values.resend); i++) resend.suppress(`r${i}@example.com`, "bounce");
  {
    const { db, writer } = await open("resend.db");
    const reader = new ResendReader({ apiKey: resend.apiKey, baseUrl: url });
    const started = performance.now();
    const stats = emptyStats();
    await runPass(
      { db, writer, eventType: "suppression.backfill", skipSinks: [] },
      resendSuppressions(reader, false),
      stats,
    );
    const s = (performance.now() - started) / 1000;
    console.log(
      `resend: ${fmt(stats.written)} suppressions in ${s.toFixed(1)} s = ${fmt(stats.written / s)} rows/s (5 requests/s, 100 per page; ${reader.throttled} answered 429)`,
    );
    await writer.close();
    db.close();
  }
  resend.stop();

  // 2. A Mailchimp audience's unsubscribed members.
  const mc = FakeMailchimp.start({ lists: ["aud"] });
  for (let i = 0; i < Number(values.mailchimp); i++) mc.addMember("aud", `m${i}@example.com`, "unsubscribed");
  {
    const sink = { type: "mailchimp", name: "news", apiKey: FAKE_KEY, listIds: ["aud"], baseUrl: mc.url };
    const { config, db, writer } = await open("mailchimp.db", [sink]);
    const mcSink = config.sinks[0] as Parameters<typeof mailchimpApi>[0];
    const started = performance.now();
    const stats = emptyStats();
    await runPass(
      { db, writer, eventType: "mailchimp.backfill", skipSinks: ["news"] },
      mailchimpMembers(mailchimpApi(mcSink), "news", "aud", "unsubscribed"),
      stats,
    );
    const s = (performance.now() - started) / 1000;
    console.log(
      `mailchimp: ${fmt(stats.written)} members in ${s.toFixed(1)} s = ${fmt(stats.written / s)} rows/s (1000 per page, one connection of 10)`,
    );
    await writer.close();
    db.close();
  }
  mc.stop();

  // 3. Reconcile: COUNT suppressed here; an audience of COUNT members, half of them suppressed
  //    here and still subscribed (drift), the rest unsubscribed there and unknown here (drift).
  const count = Number(values.reconcile);
  const file = join(dir, "reconcile.db");
  await seedSuppressions(file, count);
  const big = FakeMailchimp.start({ lists: ["aud"] });
  for (let i = 0; i < count; i++)
    big.addMember(
      "aud",
      i % 2 === 0 ? seededAddress(i) : `other${i}@example.com`,
      i % 2 === 0 ? "subscribed" : "unsubscribed",
    );
  {
    const sink = { type: "mailchimp", name: "news", apiKey: FAKE_KEY, listIds: ["aud"], baseUrl: big.url };
    const { config, db, writer } = await open("reconcile.db", [sink]);
    const started = performance.now();
    const [r] = await reconcile({ config, db, writer }, { fix: false });
    const s = (performance.now() - started) / 1000;
    console.log(
      `reconcile: ${fmt(count)} suppressed here against an audience of ${fmt(count)} members in ${s.toFixed(1)} s ` +
        `(drift found: ${fmt(r?.hereNotThere.count ?? 0)} here not there, ${fmt(r?.thereNotHere.count ?? 0)} there not here; ${big.stats.requests} calls)`,
    );
    await writer.close();
    db.close();
  }
  big.stop();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
