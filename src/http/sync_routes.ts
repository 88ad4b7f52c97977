import { Hono } from "hono";
import { z } from "zod";
import { countJobs, existingJobIds, type JobRow, listJobs, retryDead } from "../db/jobs.ts";
import { JOB_STATUSES } from "../db/schema.ts";
import { badRequest, notFound } from "../errors.ts";
import { iso } from "../util.ts";
import type { AppDeps } from "./app.ts";
import { parse, readJson } from "./json.ts";

const listQuery = z.object({
  status: z.enum(JOB_STATUSES).optional(),
  sink: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.coerce.number().int().positive().optional(),
});

const retryBody = z.union([
  z.object({ ids: z.array(z.number().int().positive()).min(1).max(10_000) }).strict(),
  z.object({ all: z.literal(true), sink: z.string().max(64).optional() }).strict(),
]);

/**
 * /v1/sync/jobs: the outbox, for operators. What each job is waiting for (attempts, last error,
 * next attempt) and a way to give dead jobs another chance once the cause is fixed.
 */
export function syncRoutes(deps: AppDeps) {
  const db = deps.db.read;
  return new Hono()
    .get("/v1/sync/jobs", async (c) => {
      const q = parse(listQuery, c.req.query());
      const [rows, counts] = await Promise.all([
        listJobs(db, { status: q.status, sink: q.sink, before: q.cursor, limit: q.limit }),
        countJobs(db, q.sink),
      ]);
      const last = rows[rows.length - 1];
      return c.json({
        counts,
        items: rows.map(present),
        next_cursor: rows.length === q.limit && last ? String(last.id) : null,
      });
    })
    .post("/v1/sync/jobs/retry", async (c) => {
      const parsed = retryBody.safeParse(await readJson(c));
      if (!parsed.success) {
        throw badRequest(
          "invalid_request",
          'Send {"ids": [1, 2, …]} or {"all": true} (optionally with "sink": NAME).',
        );
      }
      const body = parsed.data;
      if ("ids" in body) {
        // An id that names no job is a mistake in the request: say so and change nothing.
        const known = await existingJobIds(db, body.ids);
        const unknown = body.ids.filter((id) => !known.has(id));
        if (unknown.length > 0)
          throw notFound(
            "job_not_found",
            `No sync job with id ${unknown.slice(0, 20).join(", ")}; nothing was changed.`,
          );
      }
      const r = await retryDead(
        deps.db.write,
        deps.clock(),
        "ids" in body ? { ids: body.ids } : { all: true, sink: body.sink },
      );
      const touched = new Set([...r.requeued, ...r.superseded]);
      return c.json({
        requeued: r.requeued,
        // Dead, but a newer job for the same address and sink exists: that one carries the state.
        superseded: r.superseded,
        not_dead: "ids" in body ? body.ids.filter((id) => !touched.has(id)) : [],
      });
    });
}

function present(j: JobRow) {
  return {
    id: j.id,
    sink: j.sink,
    email: j.email,
    action: j.action,
    reason: j.reason,
    event_type: j.event_type,
    occurred_at: iso(j.occurred_at),
    status: j.status,
    attempts: j.attempts,
    next_attempt_at: j.status === "pending" ? iso(j.next_attempt_at) : null,
    last_error: j.last_error,
    lease_owner: j.lease_owner,
    lease_until: iso(j.lease_until),
    created_at: iso(j.created_at),
    updated_at: iso(j.updated_at),
  };
}
