import { Hono } from "hono";
import { z } from "zod";
import { listChanges } from "../db/queries.ts";
import { badRequest } from "../errors.ts";
import { iso } from "../util.ts";
import type { AppDeps } from "./app.ts";
import type { AuthEnv } from "./auth.ts";
import { parse } from "./json.ts";

const query = z.object({
  after: z.string().max(100).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/**
 * GET /v1/changes: every suppression and lift, in commit order, for a poller that keeps another
 * list in step. `?since=` on the list route cannot do that: a lifted address leaves the list, so a
 * poller never hears of it. Keep `next_cursor` and pass it as `after`: it is returned on every
 * page, an empty one too, so polling from it never misses or repeats a change.
 */
export function changeRoutes(deps: AppDeps) {
  const db = deps.db.read;
  return new Hono<AuthEnv>().get("/v1/changes", async (c) => {
    const q = parse(query, c.req.query());
    const after = q.after === undefined ? 0 : decodeCursor(q.after);
    const rows = await listChanges(db, after, q.limit);
    const last = rows[rows.length - 1]?.id ?? after;
    return c.json({
      items: rows.map((r) => ({
        change: r.decision === "lifted" ? "lift" : "suppress",
        email: r.email,
        reason: r.reason,
        event_type: r.event_type,
        occurred_at: iso(r.occurred_at),
        recorded_at: iso(r.recorded_at),
        actor: r.actor,
        note: r.note,
      })),
      next_cursor: encodeCursor(last),
    });
  });
}

// Opaque to clients so its form can change; today a history row id behind a version prefix.
function encodeCursor(id: number): string {
  return Buffer.from(`c1:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const m = /^c1:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m || Buffer.from(`c1:${m[1]}`).toString("base64url") !== cursor) {
    throw badRequest("invalid_cursor", "after is not a cursor this server returned; start again without it.");
  }
  return Number(m[1]);
}
