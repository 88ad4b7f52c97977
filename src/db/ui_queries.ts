import { type Kysely, sql } from "kysely";
import { CHANGE_COLUMNS, CHANGES } from "./queries.ts";
import type { Database } from "./schema.ts";

/**
 * Read-only queries behind the status page (src/ui). Each is bounded: a range of rowids, an index
 * seek, or a small LIMIT, so the page's background refresh never holds the event loop (libSQL's
 * local calls block it) for long, whatever the size of the list.
 */

/** The newest rowid of webhook_events (0 when empty). */
export async function lastWebhookRowid(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("webhook_events")
    .select(sql<number | null>`max(rowid)`.as("id"))
    .executeTakeFirst();
  return Number(row?.id ?? 0);
}

/** The rowid just before the first delivery received at or after `since` (by the received_at index). */
export async function webhookRowidBefore(db: Kysely<Database>, since: number): Promise<number> {
  const row = await db
    .selectFrom("webhook_events")
    .select(sql<number>`rowid`.as("id"))
    .where("received_at", ">=", since)
    .orderBy("received_at")
    .limit(1)
    .executeTakeFirst();
  return row ? Number(row.id) - 1 : lastWebhookRowid(db);
}

/**
 * Deliveries with rowid in (`after`, `upTo`], counted per `bucketMs` of arrival, type and outcome.
 * Rows are appended in commit order by the one writer, so a rowid range is "what arrived since".
 */
export async function webhookCounts(db: Kysely<Database>, after: number, upTo: number, bucketMs: number) {
  const rows = await db
    .selectFrom("webhook_events")
    .select([
      sql<number>`(received_at / ${sql.lit(Math.trunc(bucketMs))}) * ${sql.lit(Math.trunc(bucketMs))}`.as(
        "bucket",
      ),
      "type",
      "status",
      (eb) => eb.fn.countAll<number>().as("n"),
    ])
    .where(sql<number>`rowid`, ">", after)
    .where(sql<number>`rowid`, "<=", upTo)
    .groupBy(["bucket", "type", "status"])
    .execute();
  return rows.map((r) => ({ bucket: Number(r.bucket), type: r.type, status: r.status, n: Number(r.n) }));
}

/** The newest history row id (0 when empty). */
export async function lastHistoryId(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("suppression_events")
    .select((eb) => eb.fn.max("id").as("id"))
    .executeTakeFirst();
  return Number(row?.id ?? 0);
}

/**
 * The id just before the first history row recorded at or after `since`. The history has no index
 * on recorded_at, but it is append-only and ids follow commit order, so recorded_at grows with the
 * id: a binary search reads about 20 rows by primary key instead of scanning the table.
 */
export async function historyIdBefore(db: Kysely<Database>, since: number): Promise<number> {
  let lo = 0;
  let hi = await lastHistoryId(db);
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    const row = await db
      .selectFrom("suppression_events")
      .select(["id", "recorded_at"])
      .where("id", ">=", mid)
      .orderBy("id")
      .limit(1)
      .executeTakeFirst();
    if (row && row.recorded_at < since) lo = Math.max(mid, Number(row.id));
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Suppressions and lifts among history rows with id in (`after`, `upTo`], per UTC day recorded.
 * The divisors are literals: a bound JS number arrives as a REAL and the division would not round.
 */
export async function changeCounts(db: Kysely<Database>, after: number, upTo: number) {
  const day = 86_400_000;
  const rows = await db
    .selectFrom("suppression_events")
    .select([
      sql<number>`(recorded_at / ${sql.lit(day)}) * ${sql.lit(day)}`.as("day"),
      "decision",
      (eb) => eb.fn.countAll<number>().as("n"),
    ])
    .where("id", ">", after)
    .where("id", "<=", upTo)
    .where("decision", "in", CHANGES)
    .groupBy(["day", "decision"])
    .execute();
  return rows.map((r) => ({ day: Number(r.day), decision: r.decision, n: Number(r.n) }));
}

/**
 * The newest suppressions and lifts, newest first: walks migration 005's partial index of changes
 * backwards (the condition is written as the index's), so soft bounces in between cost nothing.
 */
export async function recentChanges(db: Kysely<Database>, limit: number) {
  return db
    .selectFrom("suppression_events")
    .select(CHANGE_COLUMNS)
    .where("decision", "in", CHANGES)
    .orderBy("id", "desc")
    .limit(limit)
    .execute();
}

/** The newest quarantined deliveries, bodies included (the quarantine is small: it is an exception). */
export async function recentQuarantine(db: Kysely<Database>, limit: number) {
  return db
    .selectFrom("quarantine")
    .select(["svix_id", "received_at", "reason", "body", "reprocessed_at"])
    .orderBy("received_at", "desc")
    .limit(limit)
    .execute();
}

/** Each reason of an address from each source, in force or lifted, in force first. */
export async function reasonsOf(db: Kysely<Database>, email: string) {
  return db
    .selectFrom("suppression_reasons")
    .selectAll()
    .where("email", "=", email)
    .orderBy("active", "desc")
    .orderBy("suppressed_at", "desc")
    .orderBy("reason")
    .execute();
}
