import { type Kysely, sql } from "kysely";
import { REASONS, type Reason } from "../suppression/types.ts";
import type { Database, JobStatus } from "./schema.ts";

/**
 * Read-only counts for `/metrics` and `suppressd status`. The ones /metrics uses read indexes or
 * small tables (the live outbox, the quarantine); the daemon caches them between scrapes.
 */

/**
 * Suppressed addresses per reason, every reason included. One count per reason over the
 * suppressions_by_reason index, with a turn of the event loop between them: libSQL's local calls
 * block it, so one GROUP BY over a large table would hold up webhooks for its whole duration.
 */
export async function suppressedByReason(db: Kysely<Database>): Promise<{ reason: Reason; n: number }[]> {
  const out: { reason: Reason; n: number }[] = [];
  for (const reason of REASONS) {
    const row = await db
      .selectFrom("suppressions")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("suppressed", "=", 1)
      .where("reason", "=", reason)
      .executeTakeFirstOrThrow();
    out.push({ reason, n: Number(row.n) });
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/**
 * Sync jobs by sink and status. `statuses` limits the count to those (the sync_jobs_due index
 * finds them): /metrics asks for the live ones only, since done and superseded rows pile up
 * until the worker prunes them and their rate is in suppressd_sync_jobs_total anyway.
 */
export async function outboxByStatus(
  db: Kysely<Database>,
  statuses?: readonly JobStatus[],
): Promise<{ sink: string; status: JobStatus; n: number }[]> {
  let q = db
    .selectFrom("sync_jobs")
    .select(["sink", "status", (eb) => eb.fn.countAll<number>().as("n")])
    .groupBy(["sink", "status"]);
  if (statuses) q = q.where("status", "in", statuses);
  const rows = await q.execute();
  return rows.map((r) => ({ sink: r.sink, status: r.status, n: Number(r.n) }));
}

/**
 * When each sink's oldest pending job was queued. Reads the pending part of the sync_jobs_due
 * index: small in normal times, the backlog itself in an outage (still one pass, no sort).
 */
export async function oldestPending(db: Kysely<Database>): Promise<{ sink: string; createdAt: number }[]> {
  const rows = await db
    .selectFrom("sync_jobs")
    .select(["sink", (eb) => eb.fn.min<number>("created_at").as("oldest")])
    .where("status", "=", "pending")
    .groupBy("sink")
    .execute();
  return rows.map((r) => ({ sink: r.sink, createdAt: Number(r.oldest) }));
}

export async function quarantineCounts(db: Kysely<Database>): Promise<{ waiting: number; total: number }> {
  const row = await db
    .selectFrom("quarantine")
    .select([
      (eb) => eb.fn.countAll<number>().as("total"),
      sql<number>`coalesce(sum(reprocessed_at IS NULL), 0)`.as("waiting"),
    ])
    .executeTakeFirstOrThrow();
  return { waiting: Number(row.waiting), total: Number(row.total) };
}

/** The newest delivery we recorded (by the `received_at` index), or null on an empty database. */
export async function lastEventReceived(
  db: Kysely<Database>,
): Promise<{ type: string; receivedAt: number } | null> {
  const row = await db
    .selectFrom("webhook_events")
    .select(["type", "received_at"])
    .orderBy("received_at", "desc")
    .limit(1)
    .executeTakeFirst();
  return row ? { type: row.type, receivedAt: row.received_at } : null;
}

/** How many idempotency keys are kept and the oldest one: what retention bounds. */
export async function eventsKept(db: Kysely<Database>): Promise<{ n: number; oldest: number | null }> {
  const row = await db
    .selectFrom("webhook_events")
    .select([(eb) => eb.fn.countAll<number>().as("n"), (eb) => eb.fn.min("received_at").as("oldest")])
    .executeTakeFirstOrThrow();
  return { n: Number(row.n), oldest: row.oldest === null ? null : Number(row.oldest) };
}
