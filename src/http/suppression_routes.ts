import { Hono } from "hono";
import { stream } from "hono/streaming";
import { z } from "zod";
import {
  findSuppression,
  historyOf,
  listSuppressions,
  reasonsInForce,
  suppressedAmong,
} from "../db/queries.ts";
import type { SuppressionTable } from "../db/schema.ts";
import { badRequest, conflict, notFound } from "../errors.ts";
import { normalizeAddress } from "../events/address.ts";
import { REASONS } from "../suppression/types.ts";
import { iso } from "../util.ts";
import type { AppDeps } from "./app.ts";
import type { AuthEnv } from "./auth.ts";
import { csvLine, SUPPRESSION_CSV_HEADER, suppressionCsvRow } from "./csv.ts";
import { erasedOf, eraseRoute } from "./erase_routes.ts";
import { parse, readJson } from "./json.ts";

const MAX_CHECK = 10_000;

const checkBody = z.object({
  emails: z.array(z.string().max(1000)).max(MAX_CHECK, `at most ${MAX_CHECK} addresses per call`),
});
// SQLite keeps a NUL, but text reads stop at it: the note would come back cut short.
const note = z
  .string()
  .max(2000)
  .regex(/^[^\0]*$/, "must not contain NUL characters")
  .nullish();
const putBody = z.object({ reason: z.enum(REASONS).default("manual"), note }).strict();
/** Why an address may be mailed again, kept in its history. */
const deleteBody = z.object({ note }).strict();
const deleteQuery = z.object({ erase: z.literal("keep-suppressed").optional() }).strict();
const listQuery = z.object({
  reason: z.enum(REASONS).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(600).optional(),
  format: z.enum(["json", "csv"]).default("json"),
});

/** /v1/suppressions: the questions a sender asks, and the operator's manual changes. */
export function suppressionRoutes(deps: AppDeps) {
  const db = deps.db.read;
  // An operator's change happens when we take it, and two of them never share an instant: the
  // policy keeps a suppression and a lift at the same instant in force whatever their order, so a
  // PUT and a DELETE sent within one millisecond would otherwise cancel the DELETE.
  let lastChange = -Infinity;
  const changeTime = () => {
    lastChange = Math.max(deps.clock(), lastChange + 1);
    return lastChange;
  };

  return new Hono<AuthEnv>()
    .get("/v1/suppressions/:email", async (c) => {
      const email = addressParam(c.req.param("email"));
      const row = await findSuppression(db, email);
      const history = (await historyOf(db, email)).map((h) => ({
        ...h,
        occurred_at: iso(h.occurred_at),
        recorded_at: iso(h.recorded_at),
      }));
      // 404 still means "may be mailed"; the history says why (a lift, by whom, with what note).
      if (!row || row.suppressed === 0) {
        // Erased with keep-suppressed: only its keyed hash is left, and that is the answer.
        const erased = await erasedOf(deps, [email]);
        const hit = erased.get(email);
        if (hit)
          return c.json({
            email,
            suppressed: true,
            reason: hit.reason,
            erased: true,
            erased_at: iso(hit.erased_at),
          });
        return c.json({ email, suppressed: false, history }, 404);
      }
      const reasons = await reasonsInForce(db, email);
      return c.json({
        ...present(row),
        // Every reason in force, and who set it: each is lifted on its own (see the README).
        reasons: reasons.map((r) => ({ ...r, suppressed_at: iso(r.suppressed_at) })),
        history,
      });
    })
    .post("/v1/suppressions/check", async (c) => {
      const body = parse(checkBody, await readJson(c));
      const invalid: string[] = [];
      const emails: string[] = [];
      for (const raw of body.emails) {
        const email = normalizeAddress(raw);
        if (email === null) invalid.push(raw);
        else emails.push(email);
      }
      const unique = [...new Set(emails)];
      const hits = await suppressedAmong(db, unique);
      const found = new Set(hits.map((h) => h.email));
      const erased = await erasedOf(
        deps,
        unique.filter((e) => !found.has(e)),
      );
      return c.json({
        checked: body.emails.length,
        suppressed: [
          ...hits.map((h) => ({
            email: h.email,
            reason: h.reason,
            suppressed_at: iso(h.suppressed_at),
          })),
          // Only a keyed hash is left of these: no time, and the address is the caller's own.
          ...[...erased].map(([email, e]) => ({
            email,
            reason: e.reason,
            suppressed_at: null,
            erased: true,
          })),
        ],
        invalid,
      });
    })
    .get("/v1/suppressions", async (c) => {
      const q = parse(listQuery, c.req.query());
      const filter = { reason: q.reason, since: q.since ? Date.parse(q.since) : undefined };
      if (q.format === "csv") {
        c.header("content-type", "text/csv; charset=utf-8");
        c.header("content-disposition", 'attachment; filename="suppressions.csv"');
        return stream(c, async (out) => {
          await out.write(csvLine(SUPPRESSION_CSV_HEADER));
          let after: { updatedAt: number; email: string } | undefined;
          for (;;) {
            const rows = await listSuppressions(db, { ...filter, after, limit: 5000 });
            if (rows.length === 0) break;
            await out.write(rows.map(suppressionCsvRow).join(""));
            const last = rows[rows.length - 1] as SuppressionTable;
            after = { updatedAt: last.updated_at, email: last.email };
          }
        });
      }
      const rows = await listSuppressions(db, { ...filter, after: decodeCursor(q.cursor), limit: q.limit });
      const last = rows[rows.length - 1];
      return c.json({
        items: rows.map(present),
        next_cursor: rows.length === q.limit && last ? encodeCursor(last) : null,
      });
    })
    .put("/v1/suppressions/:email", async (c) => {
      const email = addressParam(c.req.param("email"));
      const body = parse(putBody, await readJson(c));
      const at = changeTime();
      await deps.writer.submit({
        claim: "none",
        svixId: null,
        type: "api.put",
        status: "processed",
        occurredAt: at,
        actor: `token:${c.get("tokenName")}`,
        intents: [
          {
            kind: "suppress",
            email,
            reason: body.reason,
            eventType: "api.put",
            occurredAt: at,
            note: body.note ?? undefined,
          },
        ],
      });
      const row = await findSuppression(db, email);
      return c.json(row ? present(row) : { email, suppressed: true });
    })
    .delete("/v1/suppressions/:email", async (c) => {
      const email = addressParam(c.req.param("email"));
      const query = parse(deleteQuery, c.req.query());
      if (query.erase) return c.json(await eraseRoute(deps, email));
      const body = parse(deleteBody, await readJson(c));
      if ((await erasedOf(deps, [email])).has(email))
        throw conflict(
          "erased_suppression",
          `${email} was erased with keep-suppressed: only a keyed hash of it is kept, and it stays suppressed. To let it be mailed again, erase it entirely: suppressd forget ${email} --yes.`,
        );
      const at = changeTime();
      const result = await deps.writer.submit({
        claim: "none",
        svixId: null,
        type: "api.delete",
        status: "processed",
        occurredAt: at,
        actor: `token:${c.get("tokenName")}`,
        intents: [
          {
            kind: "lift",
            email,
            reasons: "*",
            eventType: "api.delete",
            occurredAt: at,
            note: body.note ?? undefined,
          },
        ],
      });
      if (result.changed === 0) {
        // The lift is remembered either way (an older event arriving later finds it lifted).
        const row = await findSuppression(db, email);
        if (row?.suppressed === 1)
          throw conflict(
            "newer_suppression",
            `${email} stays suppressed (${row.reason}): an event dated after this request suppressed it (newest event ${iso(row.last_event_at)}); lift it again after that time, or check the server's clock.`,
          );
        throw notFound(
          "not_suppressed",
          `${email} is not suppressed; nothing to lift (the lift is kept: an event dated before now will not suppress it).`,
        );
      }
      return c.json({ email, suppressed: false });
    });
}

/** `raw` comes from `c.req.param()`, which Hono has already percent-decoded: decoding again turned
 * `a%25b@x.com` into a 500 (URIError) and `a%2525b@x.com` into the wrong address. */
function addressParam(raw: string): string {
  const email = normalizeAddress(raw);
  if (email === null)
    throw badRequest("invalid_email", `${JSON.stringify(raw.slice(0, 100))} is not an email address.`);
  return email;
}

function present(row: SuppressionTable) {
  return {
    email: row.email,
    suppressed: row.suppressed === 1,
    reason: row.reason,
    first_suppressed_at: iso(row.first_suppressed_at),
    suppressed_at: iso(row.suppressed_at),
    last_event_at: iso(row.last_event_at),
    updated_at: iso(row.updated_at),
    note: row.note,
  };
}

function encodeCursor(row: SuppressionTable): string {
  return Buffer.from(JSON.stringify([row.updated_at, row.email])).toString("base64url");
}

function decodeCursor(cursor: string | undefined): { updatedAt: number; email: string } | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [updatedAt, email] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    // A forged cursor can hold any JSON: 1e400 (Infinity) made libsql throw a RangeError (500), and
    // a lone-surrogate escape is text SQLite would compare as something else.
    if (Number.isSafeInteger(updatedAt) && typeof email === "string" && email.isWellFormed())
      return { updatedAt, email };
  } catch {}
  throw badRequest("invalid_cursor", "cursor is not one this server returned; start again without it.");
}
