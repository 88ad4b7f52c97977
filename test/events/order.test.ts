import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import fc from "fast-check";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { findSuppression, reasonsInForce } from "../../src/db/queries.ts";
import { type WriteItem, Writer } from "../../src/db/writer.ts";
import { parseResendEvent } from "../../src/events/resend.ts";
import { REASONS, type Reason } from "../../src/suppression/types.ts";
import { tempDir } from "../helpers/app.ts";
import { testConfig } from "../helpers/config.ts";
import { event } from "../helpers/sign.ts";

/**
 * Model-based property: for any set of events about one address, every arrival order (retries,
 * duplicates, several events in one commit) ends in the state a small reference model computes
 * from the set alone. The events go through the real parser and the real writer on a real libSQL
 * file; the state is read back with the queries the daemon answers from.
 *
 * The model below is written from the README's rule, not from policy.ts: per (reason, source),
 * the newest suppression and the newest lift; in force when the first is at or after the second.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse("2026-04-01T00:00:00Z");
const RULE = { count: 2, days: 1 };
const RUNS = 300;

type Ev =
  | { kind: "bounce"; type: string | null; h: number }
  | { kind: "delivered"; h: number }
  | { kind: "complained"; h: number }
  | { kind: "provider_suppressed"; h: number }
  | { kind: "added" | "removed"; origin: "bounce" | "complaint" | "manual"; h: number }
  | { kind: "contact"; unsubscribed: boolean; h: number }
  | { kind: "put"; reason: Reason; h: number }
  | { kind: "delete"; h: number };

// Whole hours over three days: ties between events are frequent, and the one-day soft-bounce
// window both catches and misses.
const hour = fc.integer({ min: 0, max: 72 });
const origin = fc.constantFrom("bounce" as const, "complaint" as const, "manual" as const);
const eventArb: fc.Arbitrary<Ev> = fc.oneof(
  fc.record({
    kind: fc.constant("bounce" as const),
    type: fc.constantFrom("Permanent", "hard", "Transient", "Undetermined", "Temporary", null),
    h: hour,
  }),
  fc.record({ kind: fc.constant("bounce" as const), type: fc.constant("Transient"), h: hour }),
  fc.record({ kind: fc.constant("delivered" as const), h: hour }),
  fc.record({ kind: fc.constant("complained" as const), h: hour }),
  fc.record({ kind: fc.constant("provider_suppressed" as const), h: hour }),
  fc.record({ kind: fc.constantFrom("added" as const, "removed" as const), origin, h: hour }),
  fc.record({ kind: fc.constant("contact" as const), unsubscribed: fc.boolean(), h: hour }),
  fc.record({ kind: fc.constant("put" as const), reason: fc.constantFrom(...REASONS), h: hour }),
  fc.record({ kind: fc.constant("delete" as const), h: hour }),
);

const MAX_ARRIVALS = 16;
const scenario = fc.record({
  events: fc.array(eventArb, { minLength: 1, maxLength: 11 }),
  /** Copies of some events: the same message again (same svix-id), or a retry under a new id. */
  copies: fc.array(fc.record({ of: fc.nat(), newId: fc.boolean() }), { maxLength: 5 }),
  /** Sort keys for three arrival orders. */
  orders: fc.array(fc.array(fc.nat(), { minLength: MAX_ARRIVALS, maxLength: MAX_ARRIVALS }), {
    minLength: 3,
    maxLength: 3,
  }),
  /** Sizes of the commits the third order is cut into (the rest go one per commit). */
  commits: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: MAX_ARRIVALS, maxLength: MAX_ARRIVALS }),
});

/** The reference model: the final state as a function of the set of events. */
function model(events: Ev[]): { active: string[]; strongest: Reason | null } {
  const suppressed = new Map<string, number>();
  const lifted = new Map<string, number>();
  const soft = new Set<number>();
  let apiLift = Number.NEGATIVE_INFINITY;
  const sup = (key: string, t: number) => suppressed.set(key, Math.max(suppressed.get(key) ?? t, t));
  const lift = (key: string, t: number) => lifted.set(key, Math.max(lifted.get(key) ?? t, t));
  const FROM_ORIGIN = { bounce: "hard_bounce", complaint: "complaint", manual: "provider_suppressed" };
  for (const e of events) {
    const t = T0 + e.h * HOUR;
    switch (e.kind) {
      case "bounce":
        if (e.type === "Permanent" || e.type === "hard") sup("hard_bounce/resend", t);
        else soft.add(t);
        break;
      case "delivered":
        lift("soft_bounce_limit/resend", t);
        break;
      case "complained":
        sup("complaint/resend", t);
        break;
      case "provider_suppressed":
        sup("provider_suppressed/resend", t);
        break;
      case "added":
        sup(`${FROM_ORIGIN[e.origin]}/resend`, t);
        break;
      case "removed":
        if (e.origin === "bounce") lift("hard_bounce/resend", t);
        if (e.origin !== "complaint") lift("provider_suppressed/resend", t);
        break;
      case "contact":
        (e.unsubscribed ? sup : lift)("unsubscribe/resend_contact", t);
        break;
      case "put":
        sup(`${e.reason}/api`, t);
        break;
      case "delete":
        apiLift = Math.max(apiLift, t);
        break;
    }
  }
  const liftOf = (key: string) => Math.max(lifted.get(key) ?? Number.NEGATIVE_INFINITY, apiLift);
  // Soft bounces count from the newest delivery or API lift on, at distinct times.
  const counted = [...soft].filter((t) => t >= liftOf("soft_bounce_limit/resend"));
  const reached = counted.filter(
    (t) => counted.filter((b) => b > t - RULE.days * DAY && b <= t).length >= RULE.count,
  );
  if (reached.length > 0) sup("soft_bounce_limit/resend", Math.max(...reached));
  const active = [...suppressed].filter(([key, t]) => t >= liftOf(key)).map(([key]) => key);
  const rank: Reason[] = [
    "complaint",
    "manual",
    "hard_bounce",
    "provider_suppressed",
    "unsubscribe",
    "imported",
    "soft_bounce_limit",
  ];
  const reasons = new Set(active.map((k) => k.split("/")[0] as Reason));
  return { active: active.sort(), strongest: rank.find((r) => reasons.has(r)) ?? null };
}

/** What the webhook route and the API routes submit for `e`. */
function item(e: Ev, email: string, svixId: string): WriteItem {
  const at = T0 + e.h * HOUR;
  if (e.kind === "put" || e.kind === "delete") {
    const type = e.kind === "put" ? "api.put" : "api.delete";
    return {
      claim: "none",
      svixId: null,
      type,
      status: "processed",
      occurredAt: at,
      intents: [
        e.kind === "put"
          ? { kind: "suppress", email, reason: e.reason, eventType: type, occurredAt: at }
          : { kind: "lift", email, reasons: "*", eventType: type, occurredAt: at },
      ],
    };
  }
  const parsed = parseResendEvent(body(e, email, new Date(at).toISOString()));
  if (parsed.outcome !== "act") throw new Error(`test event not acted on: ${JSON.stringify(parsed)}`);
  return {
    claim: "new",
    svixId,
    type: parsed.type,
    status: "processed",
    occurredAt: parsed.occurredAt,
    intents: parsed.intents,
  };
}

function body(e: Ev, email: string, createdAt: string): string {
  switch (e.kind) {
    case "bounce":
      return event(
        "email.bounced",
        { to: [email], bounce: e.type === null ? { message: "no type" } : { type: e.type, message: "x" } },
        createdAt,
      );
    case "delivered":
      return event("email.delivered", { to: [email] }, createdAt);
    case "complained":
      return event("email.complained", { to: [email] }, createdAt);
    case "provider_suppressed":
      return event("email.suppressed", { to: [email], suppressed: { type: "x", message: "x" } }, createdAt);
    case "added":
    case "removed":
      return event(
        `suppression.${e.kind}`,
        { id: "sup_1", email, origin: e.origin, created_at: "2026-03-01T00:00:00Z" },
        createdAt,
      );
    case "contact":
      return event("contact.updated", { id: "c_1", email, unsubscribed: e.unsubscribed }, createdAt);
    default:
      throw new Error(`not a webhook: ${e.kind}`);
  }
}

let db: Db;
let writer: Writer;
const tmp = tempDir();
beforeAll(async () => {
  db = await openDatabase(testConfig(`file:${join(tmp.dir, "order.db")}`).database);
  await migrate(db);
  writer = new Writer(db, {
    softBounce: RULE,
    sinks: [{ name: "audience", lifts: true }],
    clock: () => T0 + 1000 * DAY,
  });
});
afterAll(async () => {
  await writer.close();
  db.close();
  tmp.cleanup();
});

/** The state the daemon answers from, plus what the outbox last told the sink. */
async function observed(email: string) {
  const row = await findSuppression(db.read, email);
  const reasons = await reasonsInForce(db.read, email);
  const jobs = await db.reader.execute({
    sql: "SELECT action FROM sync_jobs WHERE email = ? ORDER BY id DESC LIMIT 1",
    args: [email],
  });
  return {
    suppressed: row?.suppressed === 1,
    reason: row?.suppressed === 1 ? row.reason : null,
    active: reasons.map((r) => `${r.reason}/${r.source}`).sort(),
    lastJob: (jobs.rows[0]?.action as string | undefined) ?? null,
  };
}

let run = 0;
describe("arrival order never changes the outcome", () => {
  test(`${RUNS} sets of events, each in three orders (one per commit twice, then several per commit)`, async () => {
    let arrivals = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        run++;
        const expected = model(s.events);
        const arrival = [
          ...s.events.map((e, i) => ({ e, copy: i, newId: false })),
          ...s.copies.map((c) => ({
            e: s.events[c.of % s.events.length] as Ev,
            copy: c.of % s.events.length,
            newId: c.newId,
          })),
        ];
        for (const [k, keys] of s.orders.entries()) {
          const email = `run${run}.order${k}@x.com`;
          const order = arrival
            .map((a, i) => ({ ...a, key: keys[i] ?? 0, i }))
            .sort((a, b) => a.key - b.key || a.i - b.i)
            .map((a) => item(a.e, email, `msg_${run}_${k}_${a.copy}${a.newId ? `_retry${a.i}` : ""}`));
          arrivals += order.length;
          if (k < 2) {
            for (const it of order) await writer.submit(it);
          } else {
            // Submitted in one tick, each group is decided and committed in one batch.
            let i = 0;
            for (const size of s.commits) {
              const group = order.slice(i, i + size);
              i += size;
              await Promise.all(group.map((it) => writer.submit(it)));
            }
          }
          const got = await observed(email);
          const why = `order ${k} of ${JSON.stringify(s.events)}`;
          expect(got.active, why).toEqual(expected.active);
          expect(got.suppressed, why).toBe(expected.active.length > 0);
          expect(got.reason, why).toBe(expected.strongest);
          // The sinks end up told the same: the last job suppresses iff the address is suppressed.
          if (got.suppressed) expect(got.lastJob, why).toBe("suppress");
          else expect(got.lastJob ?? "lift", why).toBe("lift");
        }
      }),
      { numRuns: RUNS },
    );
    console.log(`order property: ${RUNS} sets, ${arrivals} arrivals through the writer`);
  }, 300_000);
});
