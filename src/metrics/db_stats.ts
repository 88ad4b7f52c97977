import { type Kysely, sql } from "kysely";
import type { Database } from "../db/schema.ts";

/**
 * Read-only counts for `/metrics` and `suppressd status`. Each is one indexed query or one scan
 * of a table that stays small (the outbox by status, the quarantine); the daemon caches them.
 */

export async function suppressedByReason(db: Kysely<Database>): Promise<{ reason: string; n: number }[]> {
  const rows = await db
    .selectFrom("suppressions")
    .select(["reason", (eb) => eb.fn.countAll<number>().as("n")])
    .where("suppressed", "=", 1)
    .groupBy("reason")
    .execute();
  return rows.map((r) => ({ reason: r.reason, n: Number(r.n) }));
}

export async function outboxByStatus(
  db: Kysely<Database>,
): Promise<{ sink: string; status: string; n: number }[]> {
  const rows = await db
    .selectFrom("sync_jobs")
    .select(["sink", "status", (eb) => eb.fn.countAll<number>().as("n")])
    .groupBy(["sink", "status"])
    .execute();
  return rows.map((r) => ({ sink: r.sink, status: r.status, n: Number(r.n) }));
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
