import { type Compilable, type CompiledQuery, type Kysely, sql } from "kysely";
import type { Decision, Reason } from "../suppression/types.ts";
import { textList } from "./json_param.ts";
import type { Database, SuppressionTable } from "./schema.ts";

/** Read-only queries. They take the Kysely instance first and never write. */

/**
 * A read of fixed shape compiled once per database: each call puts its values in place of the
 * markers it was compiled with. Building, freezing and compiling Kysely's query tree on every
 * call was about a fifth of a `GET /v1/suppressions/{email}` (profiled, issue 14).
 */
function compiledOnce<R, A extends unknown[]>(
  build: (db: Kysely<Database>, ...markers: A) => Compilable<R>,
): (db: Kysely<Database>, ...values: A) => Promise<R[]> {
  const compiled = new WeakMap<Kysely<Database>, CompiledQuery<R>>();
  return async (db, ...values) => {
    let q = compiled.get(db);
    if (q === undefined) {
      const markers = values.map((_, i) => `\u0000${i}\u0000`) as A;
      q = build(db, ...markers).compile();
      compiled.set(db, q);
    }
    const parameters = q.parameters.map((p) => {
      const i = typeof p === "string" && p.length > 2 && p[0] === "\u0000" ? Number(p.slice(1, -1)) : -1;
      return i >= 0 ? values[i] : p;
    });
    return (await db.executeQuery<R>({ ...q, parameters })).rows;
  };
}

const suppressionOf = compiledOnce((db, email: string) =>
  db.selectFrom("suppressions").selectAll().where("email", "=", email),
);

export async function findSuppression(
  db: Kysely<Database>,
  email: string,
): Promise<SuppressionTable | undefined> {
  return (await suppressionOf(db, email))[0];
}

const historyRows = compiledOnce((db, email: string, limit: number) =>
  db
    .selectFrom("suppression_events")
    .select([
      "decision",
      "reason",
      "source",
      "event_type",
      "svix_id",
      "occurred_at",
      "recorded_at",
      "note",
      "actor",
    ])
    .where("email", "=", email)
    .orderBy("occurred_at", "desc")
    .orderBy("id", "desc")
    .limit(limit),
);

export async function historyOf(db: Kysely<Database>, email: string, limit = 100) {
  return historyRows(db, email, limit);
}

const reasonRows = compiledOnce((db, email: string) =>
  db
    .selectFrom("suppression_reasons")
    .select(["reason", "source", "suppressed_at"])
    .where("email", "=", email)
    .where("active", "=", 1)
    .orderBy("suppressed_at", "desc")
    .orderBy("reason")
    .orderBy("source"),
);

/** The reasons an address is suppressed for now, each with its source, newest first. */
export async function reasonsInForce(db: Kysely<Database>, email: string) {
  const rows = await reasonRows(db, email);
  return rows.map((r) => ({
    reason: r.reason as Reason,
    source: r.source,
    suppressed_at: r.suppressed_at as number,
  }));
}

/**
 * The history rows that changed an address's mailability, written exactly as migration 005's
 * partial index is, so SQLite walks only the changes.
 */
export const CHANGES = sql<Decision>`('suppressed', 'lifted')`;

/** What a change shows, to pollers (`/v1/changes`) and on the status page. */
export const CHANGE_COLUMNS = [
  "id",
  "email",
  "decision",
  "reason",
  "source",
  "event_type",
  "occurred_at",
  "recorded_at",
  "note",
  "actor",
] as const;

/**
 * Suppressions and lifts after history row `afterId`, in id order, which is commit order: SQLite
 * lets one writer at a time insert, so a row with a higher id never commits before a lower one.
 * The condition on `decision` is written exactly as the partial index's (migration 005), so
 * SQLite walks only the changes. (The table has no AUTOINCREMENT: after `forget` erased the newest
 * rows, SQLite hands their ids out again, so a poller holding a cursor past them misses the
 * changes that reuse them. Erasures are rare, and the table cannot gain AUTOINCREMENT in place.)
 */
export async function listChanges(db: Kysely<Database>, afterId: number, limit: number) {
  return db
    .selectFrom("suppression_events")
    .select(CHANGE_COLUMNS)
    .where("decision", "in", CHANGES)
    .where("id", ">", afterId)
    .orderBy("id")
    .limit(limit)
    .execute();
}

/**
 * Which of `emails` are suppressed: one primary-key lookup per address inside a single query.
 * `suppressed` is filtered here, not in SQL: given `suppressed = 1`, SQLite prefers the listing
 * index and scans every suppressed row (150 ms per 1,000 addresses on a 200k list).
 */
export async function suppressedAmong(db: Kysely<Database>, emails: string[]) {
  if (emails.length === 0) return [];
  const rows = await db
    .selectFrom("suppressions")
    .select(["email", "reason", "suppressed_at", "suppressed"])
    .where("email", "in", textList(emails))
    .execute();
  return rows.filter((r) => r.suppressed === 1).map(({ suppressed: _, ...r }) => r);
}

export interface ListFilter {
  reason?: Reason;
  since?: number;
  /** Exclusive position: (updated_at, email) of the last row already seen. */
  after?: { updatedAt: number; email: string };
  limit: number;
}

/** Suppressed addresses ordered by last change, so `since` + cursor also serve incremental syncs. */
export async function listSuppressions(db: Kysely<Database>, f: ListFilter): Promise<SuppressionTable[]> {
  let q = db.selectFrom("suppressions").selectAll().where("suppressed", "=", 1);
  if (f.reason) q = q.where("reason", "=", f.reason);
  if (f.since !== undefined) q = q.where("updated_at", ">=", f.since);
  if (f.after) {
    const { updatedAt, email } = f.after;
    q = q.where((eb) =>
      eb.or([
        eb("updated_at", ">", updatedAt),
        eb.and([eb("updated_at", "=", updatedAt), eb("email", ">", email)]),
      ]),
    );
  }
  return q.orderBy("updated_at").orderBy("email").limit(f.limit).execute();
}
