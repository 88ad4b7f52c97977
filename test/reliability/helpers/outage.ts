import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "svix";
import { sinkTargets } from "../../../src/daemon.ts";
import { migrate, openDatabase } from "../../../src/db/client.ts";
import { Writer } from "../../../src/db/writer.ts";
import { createApp } from "../../../src/http/app.ts";
import { buildSinks } from "../../../src/sync/sinks/index.ts";
import { SyncWorker } from "../../../src/sync/worker.ts";
import { FAKE_KEY, FakeMailchimp } from "../../fakes/mailchimp.ts";
import { SECRET, testConfig } from "../../helpers/config.ts";
import { drained, outbox, SINK, sleep } from "./daemons.ts";
import type { Figures } from "./figures.ts";
import { MessageSource } from "./messages.ts";
import { judge, type Verdict, verdictProblems } from "./verdict.ts";

export interface OutageOptions {
  dir: string;
  /** How long each kind of outage lasts. */
  phaseMs: number;
  /** Webhooks delivered during each phase. */
  perPhase: number;
  lists: readonly string[];
  log?: (line: string) => void;
}

export interface OutageResult {
  figures: Figures;
  verdict: Verdict;
  /** Webhook answers other than 200 during the outage (each one a bug: ingest never calls Mailchimp). */
  refused: string[];
  drained: boolean;
  outbox: Record<string, number>;
  /** Jobs that needed more than one attempt. */
  retried: number;
  writes: { got: number; atLeast: number; atMost: number; statuses: string[] };
}

/** How Mailchimp misbehaves, in the order the scenario goes through them without healing between. */
const PHASES: [string, (f: FakeMailchimp) => void][] = [
  // Healthy first, so the sink has checked the audiences exist (it trusts that for an hour) and
  // the later timeouts hit member writes, not the audience check.
  ["healthy", () => {}],
  ["503 pages", (f) => (f.mode = "down")],
  ["hangs past the timeout", (f) => (f.mode = "hang")],
  ["429 storm", (f) => (f.mode = "throttle")],
  // The member write lands, but only after the client gave up: a retry writes it again, which is
  // the legitimate "twice" (one per attempt at most).
  [
    "answers after the timeout",
    (f) => {
      f.mode = "up";
      f.latencyMs = 700;
    },
  ],
];

const TIMEOUT_MS = 300;

/**
 * Mailchimp outages while webhooks keep arriving, in-process so the worker can use short backoff
 * (first retry within 200 ms, capped at 1.5 s instead of 15 s and 1 h): every delivery is
 * answered 200, every job is retried through the outage, and after healing everything reaches
 * every audience by itself.
 */
export async function outageScenario(o: OutageOptions): Promise<OutageResult> {
  const fake = FakeMailchimp.start({ lists: [...o.lists], latencyMs: 2 });
  // A directory of its own: config.json and the database of one run only.
  const dir = mkdtempSync(join(o.dir, "outage-"));
  const dbFile = join(dir, "outage.db");
  const config = testConfig(`file:${dbFile}`, {
    sinks: [
      {
        type: "mailchimp",
        name: SINK,
        apiKey: FAKE_KEY,
        listIds: o.lists,
        baseUrl: fake.url,
        createMissing: true,
        timeoutMs: TIMEOUT_MS,
      },
    ],
  });
  const db = await openDatabase(config.database);
  await migrate(db);
  const writer = new Writer(db, { softBounce: config.policy.softBounce, sinks: sinkTargets(config) });
  const app = createApp({ config, db, writer, clock: Date.now });
  const { sinks } = buildSinks(config.sinks, { batch: { pollStartMs: 50 } });
  const worker = new SyncWorker({
    db,
    sinks,
    pollMs: 50,
    claimLimit: 50,
    retry: { firstMs: 200, capMs: 1500, giveUpMs: 3_600_000 },
  });
  worker.start();
  const hook = new Webhook(SECRET);
  const source = new MessageSource(`out${Date.now().toString(36)}`);
  const acked = new Map<string, string>();
  const refused: string[] = [];
  try {
    for (const [name, start] of PHASES) {
      start(fake);
      o.log?.(`outage: ${name}`);
      const ends = Date.now() + o.phaseMs;
      const gap = o.phaseMs / Math.ceil(o.perPhase / 10);
      for (let i = 0; i < o.perPhase; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, o.perPhase - i) }, async () => {
            const m = source.next();
            const at = new Date();
            const res = await app.request("/webhooks/resend", {
              method: "POST",
              body: m.body,
              headers: {
                "svix-id": m.id,
                "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
                "svix-signature": hook.sign(m.id, at, m.body),
              },
            });
            const text = await res.text();
            if (res.status === 200) acked.set(m.id, (JSON.parse(text) as { status: string }).status);
            else refused.push(`${name}: ${res.status} ${text.slice(0, 200)}`);
          }),
        );
        await sleep(gap);
      }
      await sleep(Math.max(0, ends - Date.now()));
    }
    fake.heal();
    fake.latencyMs = 2;
    o.log?.("outage: healed");
    const isDrained = await drained(dbFile, 30_000);
    await worker.stop();
    const verdict = await judge({
      dbFile,
      messages: source.all,
      acked,
      sinks: [SINK],
      audiences: { fake, lists: o.lists },
    });
    const jobs = await db.reader.execute(
      "SELECT count(*) AS n, sum(attempts) AS a, sum(attempts > 1) AS r FROM sync_jobs WHERE status != 'superseded'",
    );
    const attempts = Number(jobs.rows[0]?.a ?? 0);
    const retried = Number(jobs.rows[0]?.r ?? 0);
    const writes = {
      got: fake.stats.statusWrites.length,
      atLeast: verdict.addresses * o.lists.length,
      atMost: attempts * o.lists.length,
      statuses: [...new Set(fake.stats.statusWrites)],
    };
    const overWritten = Math.max(0, writes.got - writes.atMost);
    return {
      verdict,
      refused,
      drained: isDrained,
      outbox: await outbox(dbFile),
      retried,
      writes,
      figures: {
        events: acked.size,
        attempts: acked.size + refused.length,
        crashes: 0,
        lost: verdict.lost.length + refused.length,
        duplicates: verdict.duplicates.length + overWritten,
        hostile: 0,
        extra: {
          outages: PHASES.length - 1,
          jobs_retried: retried,
          job_attempts: attempts,
          audience_writes: writes.got,
          rewritten_after_late_answer: writes.got - writes.atLeast,
          throttled: fake.stats.throttled,
        },
      },
    };
  } finally {
    await worker.stop();
    await writer.close();
    db.close();
    fake.stop();
  }
}

/**
 * Everything that broke a promise in an outage run. Writes: never anything but "unsubscribed";
 * every member written at least once, and at most once per attempt of its job (an attempt whose
 * answer came too late may have written it: that is the legitimate second write; more writes than
 * attempts would be a job sent twice).
 */
export function outageProblems(r: OutageResult): string[] {
  return [
    ...r.refused.slice(0, 10).map((x) => `webhook refused during the outage: ${x}`),
    ...(r.drained ? [] : ["the outbox did not drain after healing"]),
    ...((r.outbox.dead ?? 0) > 0 ? [`${r.outbox.dead} jobs died`] : []),
    ...verdictProblems(r.verdict),
    ...(r.writes.statuses.some((s) => s !== "unsubscribed")
      ? [`statuses written: ${r.writes.statuses}`]
      : []),
    ...(r.writes.got < r.writes.atLeast
      ? [`${r.writes.got} member writes, fewer than ${r.writes.atLeast}`]
      : []),
    ...(r.writes.got > r.writes.atMost
      ? [`${r.writes.got} member writes, more than ${r.writes.atMost} attempts allow`]
      : []),
  ];
}
