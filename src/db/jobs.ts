import { type Kysely, type Selectable, sql } from "kysely";
import type { Reason } from "../suppression/types.ts";
import { withBusyRetry } from "./connection.ts";
import { idList, textList } from "./json_param.ts";
import {
  type Database,
  type JobStatus,
  LIVE_STATUSES,
  type LiveStatus,
  type SyncJobTable,
} from "./schema.ts";

/**
 * The operator's queries on the outbox: list, count, retry, cancel, hurry, backfill (GET/POST
 * /v1/sync/jobs, `suppressd jobs`, the start-up warning about jobs of unconfigured sinks). Writes
 * run on `db.write`, like the worker's (outbox.ts); the ones a command runs on its own (retryDead,
 * backfill) wait out another process's lock with `withBusyRetry`.
 */

export interface JobFilter {
  status?: JobStatus;
  sink?: string;
  /** Rows with a smaller id than this (the cursor of the previous page). */
  before?: number;
  limit: number;
}

/** Newest first. */
export type JobRow = Selectable<SyncJobTable>;

export async function listJobs(db: Kysely<Database>, f: JobFilter): Promise<JobRow[]> {
  let q = db.selectFrom("sync_jobs").select(JOB_COLUMNS);
  if (f.status) q = q.where("status", "=", f.status);
  if (f.sink) q = q.where("sink", "=", f.sink);
  if (f.before !== undefined) q = q.where("id", "<", f.before);
  const rows = await q.orderBy("id", "desc").limit(f.limit).execute();
  return rows.map((r) => Object.fromEntries(JOB_COLUMNS.map((c) => [c, r[c]])) as JobRow);
}

const JOB_COLUMNS = [
  "id",
  "sink",
  "email",
  "action",
  "reason",
  "event_type",
  "occurred_at",
  "status",
  "attempts",
  "next_attempt_at",
  "lease_owner",
  "lease_until",
  "last_error",
  "created_at",
  "updated_at",
] as const satisfies readonly (keyof SyncJobTable)[];

/**
 * Waiting jobs (pending or running) per sink that is not among `configured`: a sink removed or
 * renamed in the config. No worker claims them; they wait for the sink to come back.
 */
export async function jobsWithoutSink(
  db: Kysely<Database>,
  configured: readonly string[],
): Promise<{ sink: string; jobs: number }[]> {
  let q = db
    .selectFrom("sync_jobs")
    .select(["sink", (eb) => eb.fn.countAll<number>().as("jobs")])
    .where("status", "in", ["pending", "running"]);
  if (configured.length > 0) q = q.where("sink", "not in", textList(configured));
  const rows = await q.groupBy("sink").orderBy("sink").execute();
  return rows.map((r) => ({ sink: r.sink, jobs: Number(r.jobs) }));
}

/** Jobs per live status: each an index range, never a walk over the finished history. */
export async function countJobs(db: Kysely<Database>, sink?: string): Promise<Record<LiveStatus, number>> {
  const out = { pending: 0, running: 0, dead: 0 };
  for (const status of LIVE_STATUSES) {
    let q = db
      .selectFrom("sync_jobs")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("status", "=", status);
    if (sink) q = q.where("sink", "=", sink);
    out[status] = Number((await q.executeTakeFirstOrThrow()).n);
  }
  return out;
}

/** Which of `jobIds` exist (in any status): an id that names no job is the caller's mistake. */
export async function existingJobIds(db: Kysely<Database>, jobIds: readonly number[]): Promise<Set<number>> {
  if (jobIds.length === 0) return new Set();
  const rows = await db.selectFrom("sync_jobs").select("id").where("id", "in", idList(jobIds)).execute();
  return new Set(rows.map((r) => r.id));
}

/**
 * Pending jobs waiting out their backoff become due now (optionally of one sink): after an
 * outage, to send at once instead of at each job's next attempt. Returns how many were moved.
 */
export async function hurryPending(db: Kysely<Database>, now: number, sink?: string): Promise<number> {
  const r = await withBusyRetry(() => {
    let q = db
      .updateTable("sync_jobs")
      .set({ next_attempt_at: now, updated_at: now })
      .where("status", "=", "pending")
      .where("next_attempt_at", ">", now);
    if (sink) q = q.where("sink", "=", sink);
    return q.executeTakeFirst();
  });
  return Number(r.numUpdatedRows);
}

/**
 * Marks a sink's pending and dead jobs `cancelled`: never sent. Running ones (being sent now) are
 * left to finish. One statement, so a worker claiming meanwhile gets either the job or nothing.
 */
export async function cancelJobs(db: Kysely<Database>, now: number, sink: string): Promise<number> {
  const r = await withBusyRetry(() =>
    db
      .updateTable("sync_jobs")
      .set({
        status: "cancelled",
        next_attempt_at: now,
        lease_owner: null,
        lease_until: null,
        updated_at: now,
      })
      .where("sink", "=", sink)
      .where("status", "in", ["pending", "dead"])
      .executeTakeFirst(),
  );
  return Number(r.numUpdatedRows);
}

/**
 * Dead jobs back to the queue, by id or all of them (optionally of one sink). A dead job whose
 * address has a newer job on the same sink is superseded instead: sending it now would push an
 * older state over a newer one. The three-day window starts again (`created_at` is reset).
 */
export async function retryDead(
  db: Kysely<Database>,
  now: number,
  which: { ids: readonly number[] } | { all: true; sink?: string },
): Promise<{ requeued: number[]; superseded: number[] }> {
  const base = () => {
    let q = db.updateTable("sync_jobs").where("status", "=", "dead");
    if ("ids" in which) q = q.where("id", "in", idList(which.ids));
    else if (which.sink) q = q.where("sink", "=", which.sink);
    return q;
  };
  const superseded = await withBusyRetry(() =>
    base()
      .set({ status: "superseded", updated_at: now })
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom("sync_jobs as n")
            .select("n.id")
            .whereRef("n.sink", "=", "sync_jobs.sink")
            .whereRef("n.email", "=", "sync_jobs.email")
            .whereRef("n.id", ">", "sync_jobs.id")
            .where("n.status", "!=", "superseded"),
        ),
      )
      .returning("id")
      .execute(),
  );
  const requeued = await withBusyRetry(() =>
    base()
      .set({
        status: "pending",
        attempts: 0,
        next_attempt_at: now,
        created_at: now,
        lease_owner: null,
        lease_until: null,
        updated_at: now,
      })
      .returning("id")
      .execute(),
  );
  return { requeued: requeued.map((r) => r.id), superseded: superseded.map((r) => r.id) };
}

/**
 * Queues a suppress job on `sink` for every address suppressed now that has no job waiting there:
 * what a sink added after the suppressions were made (or a renamed one) has never been sent. The
 * addresses go a chunk at a time in address order, each chunk one short statement, so the daemon's
 * commits run in between; running it again while those jobs wait adds none (once they are done, it
 * sends them again, which is how a newly listed audience gets them). The jobs carry the address's
 * current reason and `event_type` "backfill". A suppression begun by `send-test-event` is left out.
 * With the sink's `reasons` filter, only addresses with one of those reasons in force are queued,
 * each with its strongest reason if that one is in the filter (else the first of the filter's, by
 * name): widening a filter and running this again sends what the sink now should hold. Narrowing
 * one takes nothing back (a sink never resubscribes anyone).
 */
export async function backfill(
  db: Kysely<Database>,
  sink: string,
  now: number,
  opts: {
    chunk?: number;
    onChunk?: (progress: { scanned: number; queued: number }) => void;
    reasons?: readonly Reason[] | null;
  } = {},
): Promise<{ scanned: number; queued: number }> {
  const chunk = opts.chunk ?? 5000;
  const filter = opts.reasons ? textList(opts.reasons) : null;
  let after = "";
  const progress = { scanned: 0, queued: 0 };
  for (;;) {
    const page = await withBusyRetry(() =>
      db
        .selectFrom("suppressions")
        .select("email")
        .where(notIndexed("suppressed"), "=", 1)
        .where("email", ">", after)
        .orderBy("email")
        .limit(chunk)
        .execute(),
    );
    const last = page[page.length - 1]?.email;
    if (last === undefined) return progress;
    // The range is read again inside the insert: an address lifted since the page was read is
    // left out, and one that got a job meanwhile is not given a second.
    const r = await withBusyRetry(() =>
      db
        .insertInto("sync_jobs")
        .columns([
          "sink",
          "email",
          "action",
          "reason",
          "event_type",
          "occurred_at",
          "status",
          "attempts",
          "next_attempt_at",
          "created_at",
          "updated_at",
        ])
        .expression((eb) =>
          eb
            .selectFrom("suppressions as s")
            .select([
              eb.val(sink).as("sink"),
              "s.email",
              eb.val("suppress").as("action"),
              filter
                ? sql<Reason>`coalesce(CASE WHEN s.reason IN ${filter} THEN s.reason END, (SELECT min(r.reason)
                    FROM suppression_reasons r WHERE r.email = s.email AND r.active = 1 AND r.reason IN ${filter}))`.as(
                    "reason",
                  )
                : "s.reason",
              eb.val("backfill").as("event_type"),
              "s.suppressed_at",
              eb.val("pending").as("status"),
              eb.val(0).as("attempts"),
              eb.val(now).as("next_attempt_at"),
              eb.val(now).as("created_at"),
              eb.val(now).as("updated_at"),
            ])
            .where(notIndexed("s.suppressed"), "=", 1)
            .where("s.email", ">", after)
            .where("s.email", "<=", last)
            .$if(filter !== null, (q) =>
              q.where(({ exists, selectFrom }) =>
                exists(
                  selectFrom("suppression_reasons as r")
                    .select("r.email")
                    .whereRef("r.email", "=", "s.email")
                    .where("r.active", "=", 1)
                    .where("r.reason", "in", filter as never),
                ),
              ),
            )
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom("sync_jobs as j")
                    .select("j.id")
                    .where("j.sink", "=", sink)
                    .whereRef("j.email", "=", "s.email")
                    .where("j.status", "in", ["pending", "running"]),
                ),
              ),
            )
            // A suppression that a smoke test began is never sent to a sink, now or later.
            .where(({ not, exists, selectFrom }) =>
              not(
                exists(
                  selectFrom("suppression_events as e")
                    .select("e.id")
                    .whereRef("e.email", "=", "s.email")
                    .whereRef("e.occurred_at", "=", "s.suppressed_at")
                    .where("e.decision", "=", "suppressed")
                    .where("e.actor", "=", "send-test-event"),
                ),
              ),
            ),
        )
        .executeTakeFirst(),
    );
    progress.scanned += page.length;
    progress.queued += Number(r.numInsertedOrUpdatedRows ?? 0);
    opts.onChunk?.({ ...progress });
    after = last;
  }
}

/**
 * A column SQLite must not pick an index for (`+column`). Without it, `suppressed = 1` sends the
 * backfill through the listing index, reading every suppressed address for each chunk (0.45 s a
 * chunk on 1,000,000) instead of walking the primary key from where the last chunk ended.
 */
const notIndexed = (column: string) => sql<number>`+${sql.ref(column)}`;
