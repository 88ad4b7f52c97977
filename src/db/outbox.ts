import { type Kysely, sql } from "kysely";
import { idList, jsonParam, textList } from "./json_param.ts";
import type { Database, JobStatus, SyncJobTable } from "./schema.ts";

/**
 * The outbox as the sync worker uses it: claim, renew, complete, reclaim, prune (the operator's
 * queries on it are jobs.ts). Each is one statement, so it is atomic on its own in SQLite and on a libSQL
 * server alike: that, not a transaction, is what keeps two workers from claiming the same row.
 * The writes run on `db.write`, the write connection between the Writer's commits, so they never
 * contend with it for SQLite's lock inside the process. Another process's lock (SQLITE_BUSY) is
 * waited out with `withBusyRetry` by the worker around each call.
 */

/** A job as a sink sends it: what it is about, and how long it has been trying. */
export type SyncJob = Pick<
  SyncJobTable,
  "sink" | "email" | "action" | "reason" | "event_type" | "occurred_at" | "attempts" | "created_at"
> & { id: number };

/** Leases whose worker died (crash, SIGKILL, lost machine) go back to the queue. */
export async function reclaimExpired(db: Kysely<Database>, now: number): Promise<number> {
  const r = await db
    .updateTable("sync_jobs")
    .set({ status: "pending", lease_owner: null, lease_until: null, updated_at: now })
    .where("status", "=", "running")
    .where("lease_until", "<", now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Claims up to `limit` due jobs of `sinks` for `owner` until `leaseUntil`. A job whose address
 * already has a job running on the same sink waits, so a suppress and the lift that followed it
 * can never race each other to the sink.
 */
export async function claimDue(
  db: Kysely<Database>,
  o: { owner: string; now: number; leaseUntil: number; limit: number; sinks: readonly string[] },
): Promise<SyncJob[]> {
  const rows = await db
    .updateTable("sync_jobs")
    .set({ status: "running", lease_owner: o.owner, lease_until: o.leaseUntil, updated_at: o.now })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("sync_jobs as j")
        .select("j.id")
        .where("j.status", "=", "pending")
        .where("j.next_attempt_at", "<=", o.now)
        .where("j.sink", "in", textList(o.sinks))
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom("sync_jobs as r")
                .select("r.id")
                .whereRef("r.sink", "=", "j.sink")
                .whereRef("r.email", "=", "j.email")
                .where("r.status", "=", "running"),
            ),
          ),
        )
        .orderBy("j.next_attempt_at")
        .limit(o.limit),
    )
    // No second `status = 'pending'` here: SQLite would then walk every pending row instead of
    // looking the claimed ids up. The statement is atomic, so the subquery's filter is enough.
    .returning([
      "id",
      "sink",
      "email",
      "action",
      "reason",
      "event_type",
      "occurred_at",
      "attempts",
      "created_at",
    ])
    .execute();
  // Copy the columns only: a libsql row also carries indexed keys and `length`.
  return rows.map((r) => ({
    id: r.id,
    sink: r.sink,
    email: r.email,
    action: r.action,
    reason: r.reason,
    event_type: r.event_type,
    occurred_at: r.occurred_at,
    attempts: r.attempts,
    created_at: r.created_at,
  }));
}

/**
 * Extends the lease of jobs still being sent (a Mailchimp batch can take minutes). Returns the ids
 * still held: a job whose lease ran out and that another worker took over is not among them.
 */
export async function renewLeases(
  db: Kysely<Database>,
  owner: string,
  jobIds: readonly number[],
  leaseUntil: number,
): Promise<number[]> {
  if (jobIds.length === 0) return [];
  const rows = await db
    .updateTable("sync_jobs")
    .set({ lease_until: leaseUntil })
    .where("id", "in", idList(jobIds))
    // Unary + keeps SQLite on the id lookups rather than walking the status index.
    .where(sql<string>`+status`, "=", "running")
    .where(sql<string>`+lease_owner`, "=", owner)
    .returning("id")
    .execute();
  return rows.map((r) => r.id);
}

export interface Completion {
  id: number;
  status: Extract<JobStatus, "done" | "pending" | "dead" | "superseded">;
  /** When the next attempt may run (pending only). */
  next: number;
  error: string | null;
  /** Whether this counts as an attempt (false when a job is only handed back). */
  attempted: boolean;
}

/**
 * Records what became of claimed jobs in one statement. Only rows this owner still holds change:
 * if our lease ran out and another worker took a job over, its result is the one that counts.
 * A job headed back to the queue is superseded instead when a newer one for its address exists.
 */
export async function complete(
  db: Kysely<Database>,
  owner: string,
  now: number,
  items: readonly Completion[],
): Promise<number> {
  if (items.length === 0) return 0;
  const payload = jsonParam(
    items.map((i) => ({ id: i.id, s: i.status, n: i.next, e: i.error, a: i.attempted ? 1 : 0 })),
  );
  // The MATERIALIZED list drives the join (one id lookup per item). Left to itself, SQLite picked
  // the status index as the outer loop and scanned the JSON once per running job: 49 s for 2,000
  // items beside 50,000 rows, against 15 ms this way.
  const r = await sql`
    WITH u(id, s, n, e, a) AS MATERIALIZED (
      SELECT value ->> 'id', value ->> 's', value ->> 'n', value ->> 'e', value ->> 'a'
      FROM json_each(${payload})
    )
    UPDATE sync_jobs SET
      -- Back to the queue only if no newer job for the address and sink came meanwhile (it
      -- arrived while this one was running, so the writer could not supersede it): a retry
      -- after that newer job would push an older state over a newer one.
      status = CASE
        WHEN u.s = 'pending' AND EXISTS (
          SELECT 1 FROM sync_jobs n
          WHERE n.sink = sync_jobs.sink AND n.email = sync_jobs.email AND n.id > sync_jobs.id
        ) THEN 'superseded'
        ELSE u.s
      END,
      next_attempt_at = u.n,
      last_error = u.e,
      attempts = attempts + u.a,
      lease_owner = NULL,
      lease_until = NULL,
      updated_at = ${now}
    FROM u
    WHERE sync_jobs.id = u.id
      AND sync_jobs.status = 'running'
      AND sync_jobs.lease_owner = ${owner}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Deletes finished rows (done, superseded, cancelled) last changed before `cutoff`, a slice at a time. */
export async function pruneFinished(db: Kysely<Database>, cutoff: number, limit = 5000): Promise<number> {
  const r = await db
    .deleteFrom("sync_jobs")
    .where("id", "in", (eb) =>
      eb
        .selectFrom("sync_jobs")
        .select("id")
        .where("status", "in", ["done", "superseded", "cancelled"])
        // Finished rows carry their finishing time in next_attempt_at too (superseded ones an
        // earlier one): a range of the (status, next_attempt_at) index, not a walk of every row.
        .where("next_attempt_at", "<", cutoff)
        .where("updated_at", "<", cutoff)
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
