import { rmSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { type Mix, type Pool, writePool } from "./payloads.ts";
import { runWrk, summarize, type WrkSummary } from "./wrk.ts";

export interface IngestLoad {
  wrk: string;
  url: string;
  dir: string;
  label: string;
  connections: number;
  threads: number;
  /** Deliveries to pre-sign; the run ends when they are used up or after `maxSeconds`. */
  count: number;
  maxSeconds: number;
  /** Which traffic mix to sign (payloads.ts); "bench" unless said. */
  mix?: Mix;
}

export interface IngestRun {
  pool: Pool;
  summary: WrkSummary;
  /** The svix-ids wrk actually sent, per thread in order (a prefix of each thread's file). */
  sent: string[];
}

/**
 * Signs a fresh pool (timestamps are "now", so Svix's 5-minute tolerance holds), then replays it
 * once. The caller may run something alongside (the lookup bench) before awaiting `done`.
 */
export function startIngest(o: IngestLoad): {
  stop(): void;
  /** wrk has loaded the pool and is sending. */
  started: Promise<void>;
  done: Promise<IngestRun>;
} {
  const pool = writePool(o.dir, o.label, o.count, o.threads, o.mix);
  const outFile = join(o.dir, `wrk-${o.label}.json`);
  const { running, started, stop } = runWrk(o.wrk, {
    url: o.url,
    script: "ingest.lua",
    connections: o.connections,
    threads: o.threads,
    durationS: o.maxSeconds,
    env: { BENCH_POOL: pool.prefix, BENCH_PATH: "/webhooks/resend" },
    outFile,
  });
  const done = running.then((result) => {
    for (let t = 0; t < o.threads; t++) rmSync(`${pool.prefix}-${t}.tsv`, { force: true });
    const sent = result.threads.flatMap((t, i) => (pool.ids[i] ?? []).slice(0, t.issued));
    return { pool, summary: summarize(result), sent };
  });
  return { stop, started, done };
}

export interface DbCheck {
  /** Rows in webhook_events. */
  rows: number;
  sent: number;
  answered2xx: number;
  /** Sent ids that are not in the database. */
  missing: number;
  /** Ids in the database that were never sent (must be 0). */
  unexpected: number;
  /**
   * Every 2xx'd id is stored. Proven outright when nothing sent is missing; when some are, they
   * can only be requests wrk abandoned in flight at the stop (never answered), so their number
   * must not exceed that.
   */
  ok: boolean;
  note: string;
}

/** Reads webhook_events after the server stopped and compares with what was sent and answered. */
export async function checkDatabase(
  dbFile: string,
  runs: IngestRun[],
  /**
   * resend.recordIgnored as the daemon ran: false (its default) answers ignored types without
   * storing them, and they must not be stored.
   */
  recordIgnored = false,
): Promise<DbCheck> {
  const client = createClient({ url: `file:${dbFile}` });
  try {
    const rs = await client.execute("SELECT svix_id FROM webhook_events");
    const stored = new Set(rs.rows.map((r) => String(r.svix_id)));
    const ignored = new Set(runs.flatMap((r) => [...r.pool.ignored]));
    const sent = new Set(runs.flatMap((r) => r.sent).filter((id) => recordIgnored || !ignored.has(id)));
    let missing = 0;
    for (const id of sent) if (!stored.has(id)) missing++;
    let unexpected = 0;
    for (const id of stored) if (!sent.has(id)) unexpected++;
    const answered2xx = runs.reduce((s, r) => s + r.summary.ok, 0);
    const abandoned = runs.reduce((s, r) => s + r.summary.inFlightAtStop + r.summary.bad, 0);
    const unstored = runs.flatMap((r) => r.sent).length - sent.size;
    const ok = unexpected === 0 && missing <= abandoned && stored.size + unstored >= answered2xx;
    const note =
      (missing === 0
        ? "every sent svix-id is stored (so every 2xx'd one is)"
        : `${missing} sent id(s) not stored; ${abandoned} request(s) were never answered 2xx`) +
      (unstored > 0 ? `; ${unstored} of an ignored type, unstored by design and absent` : "");
    return { rows: stored.size, sent: sent.size + unstored, answered2xx, missing, unexpected, ok, note };
  } finally {
    client.close();
  }
}
