import { describe, expect, test } from "bun:test";
import type { Intent } from "../../src/suppression/intents.ts";
import {
  type AddressState,
  applyIntent,
  emptyState,
  reasonKey,
  type SoftBounceRule,
  softLimitReachedAt,
} from "../../src/suppression/policy.ts";
import type { Decision, Reason } from "../../src/suppression/types.ts";

const DAY = 86_400_000;
const T0 = Date.parse("2026-01-01T00:00:00Z");
const NOW = Date.parse("2026-06-01T00:00:00Z");
const EMAIL = "a@x.com";
const DEFAULT_RULE: SoftBounceRule = { count: 3, days: 14 };

/** Intents at T0 + `day` days, as the events that cause them would produce. */
const at = (day: number) => T0 + day * DAY;
const hard = (day: number): Intent => sup("hard_bounce", day, "email.bounced");
const complaint = (day: number): Intent => sup("complaint", day, "email.complained");
const providerSuppressed = (day: number): Intent => sup("provider_suppressed", day, "email.suppressed");
const unsubscribed = (day: number): Intent => sup("unsubscribe", day, "contact.updated");
const manual = (day: number): Intent => sup("manual", day, "api.put");
/** An unsubscribe an operator (PUT) or an import recorded, not Resend's contact state. */
const apiUnsubscribed = (day: number): Intent => sup("unsubscribe", day, "api.put");
const importedUnsubscribed = (day: number): Intent => sup("unsubscribe", day, "import");
const apiHard = (day: number): Intent => sup("hard_bounce", day, "api.put");
const resubscribed = (day: number): Intent => lift(["unsubscribe"], day, "contact.updated");
/** suppression.removed, by origin (see resend.ts ORIGIN_LIFTS). */
const removedBounce = (day: number): Intent => lift(["hard_bounce", "provider_suppressed"], day);
const removedComplaint = (day: number): Intent => lift([], day);
const removedManual = (day: number): Intent => lift(["provider_suppressed"], day);
const apiDelete = (day: number): Intent => lift("*", day, "api.delete");
const soft = (day: number): Intent => ({
  kind: "soft_bounce",
  email: EMAIL,
  eventType: "email.bounced",
  occurredAt: at(day),
});
const delivered = (day: number): Intent => ({
  kind: "delivered",
  email: EMAIL,
  eventType: "email.delivered",
  occurredAt: at(day),
});

function sup(reason: Reason, day: number, eventType: string): Intent {
  return { kind: "suppress", email: EMAIL, reason, eventType, occurredAt: at(day) };
}
function lift(reasons: Reason[] | "*", day: number, eventType = "suppression.removed"): Intent {
  return { kind: "lift", email: EMAIL, reasons, eventType, occurredAt: at(day) };
}

interface Scenario {
  name: string;
  /** Applied in this (arrival) order to one address. */
  intents: Intent[];
  rule?: SoftBounceRule;
  /** Final state: null when no row exists, else suppressed and its reason. */
  expect: { suppressed: boolean; reason?: Reason } | null;
  /** The decision each intent produced, in order (several for one intent are joined by "+"). */
  decisions: string[];
  /** Which intents changed mailability ("suppress" / "lift" / "-"). */
  changes?: string[];
}

const scenarios: Scenario[] = [
  // What each event means.
  {
    name: "a hard bounce suppresses",
    intents: [hard(0)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed"],
    changes: ["suppress"],
  },
  {
    name: "a complaint suppresses",
    intents: [complaint(0)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed"],
  },
  {
    name: "email.suppressed suppresses as provider_suppressed",
    intents: [providerSuppressed(0)],
    expect: { suppressed: true, reason: "provider_suppressed" },
    decisions: ["suppressed"],
  },
  {
    name: "contact.updated unsubscribed: true suppresses as unsubscribe",
    intents: [unsubscribed(0)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed"],
  },
  {
    name: "a repeated event changes nothing",
    intents: [hard(0), hard(1)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "already_suppressed"],
    changes: ["suppress", "-"],
  },

  // Lifts: only the matching kind, only when older.
  {
    name: "suppression.removed (bounce) lifts a hard bounce that began before it",
    intents: [hard(0), removedBounce(1)],
    expect: { suppressed: false, reason: "hard_bounce" },
    decisions: ["suppressed", "lifted"],
    changes: ["suppress", "lift"],
  },
  {
    name: "suppression.removed (bounce) lifts provider_suppressed",
    intents: [providerSuppressed(0), removedBounce(1)],
    expect: { suppressed: false, reason: "provider_suppressed" },
    decisions: ["suppressed", "lifted"],
  },
  {
    name: "suppression.removed (manual) does not lift a hard bounce",
    intents: [hard(0), removedManual(1)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
    changes: ["suppress", "-"],
  },
  {
    name: "suppression.removed does not lift an unsubscribe",
    intents: [unsubscribed(0), removedBounce(1)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a lift older than the suppression does nothing",
    intents: [hard(5), removedBounce(3)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a lift at the same instant as the suppression does nothing",
    intents: [hard(5), removedBounce(5)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a lift for an address never suppressed is recorded and does nothing",
    intents: [removedBounce(1)],
    expect: null,
    decisions: ["lift_ignored"],
    changes: ["-"],
  },
  {
    name: "a second lift of an already lifted address is ignored",
    intents: [hard(0), removedBounce(1), removedBounce(2)],
    expect: { suppressed: false },
    decisions: ["suppressed", "lifted", "lift_ignored"],
  },
  {
    name: "contact.updated unsubscribed: false lifts an unsubscribe",
    intents: [unsubscribed(0), resubscribed(1)],
    expect: { suppressed: false, reason: "unsubscribe" },
    decisions: ["suppressed", "lifted"],
  },
  {
    name: "contact.updated unsubscribed: false does not lift a hard bounce",
    intents: [hard(0), resubscribed(1)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
  },

  // Complaints: only the API lifts them.
  {
    name: "a complaint is not lifted by suppression.removed (complaint)",
    intents: [complaint(0), removedComplaint(1)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a complaint is not lifted by suppression.removed (bounce)",
    intents: [complaint(0), removedBounce(1)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a complaint is not lifted by a resubscribe",
    intents: [complaint(0), resubscribed(1)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "a complaint is lifted by an API delete",
    intents: [complaint(0), apiDelete(1)],
    expect: { suppressed: false, reason: "complaint" },
    decisions: ["suppressed", "lifted"],
    changes: ["suppress", "lift"],
  },
  {
    // It used to lift (the operator's decision, now), but in the other arrival order the newer
    // bounce suppresses again: a lift, the API's included, only covers what happened before it.
    name: "an API delete does not lift a suppression newer than it",
    intents: [hard(5), apiDelete(3)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
    changes: ["suppress", "-"],
  },

  // Reason strength: the stronger reason is kept, so a weak lift cannot clear a strong reason.
  {
    name: "a complaint after an unsubscribe becomes the reason",
    intents: [unsubscribed(0), complaint(1)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "already_suppressed"],
  },
  {
    name: "an unsubscribe after a complaint keeps the complaint",
    intents: [complaint(0), unsubscribed(1)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "already_suppressed"],
  },
  {
    name: "a resubscribe cannot clear a complaint that came after the unsubscribe",
    intents: [unsubscribed(0), complaint(1), resubscribed(2)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },
  {
    name: "a hard bounce outranks provider_suppressed",
    intents: [providerSuppressed(0), hard(1), removedManual(2)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },
  {
    name: "manual outranks a hard bounce",
    intents: [hard(0), manual(1), removedBounce(2)],
    expect: { suppressed: true, reason: "manual" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },
  {
    name: "a hard bounce outranks the soft-bounce limit",
    intents: [soft(0), soft(1), soft(2), hard(3)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed", "already_suppressed"],
  },

  // Out of order: an older event never overrides a newer state.
  {
    name: "a hard bounce older than the lift that covers it stays lifted",
    intents: [hard(0), removedBounce(10), hard(5)],
    expect: { suppressed: false },
    decisions: ["suppressed", "lifted", "stale"],
    changes: ["suppress", "lift", "-"],
  },
  {
    name: "a hard bounce newer than the lift suppresses again",
    intents: [hard(0), removedBounce(10), hard(12)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lifted", "suppressed"],
    changes: ["suppress", "lift", "suppress"],
  },
  {
    name: "an older complaint after a lift that did not cover complaints suppresses",
    intents: [unsubscribed(0), resubscribed(10), complaint(5)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "lifted", "suppressed"],
  },
  {
    name: "anything older than an API delete stays lifted",
    intents: [complaint(0), apiDelete(10), complaint(5), hard(6)],
    expect: { suppressed: false },
    decisions: ["suppressed", "lifted", "stale", "stale"],
  },
  {
    name: "a newer event after an API delete suppresses again",
    intents: [complaint(0), apiDelete(10), complaint(11)],
    expect: { suppressed: true, reason: "complaint" },
    decisions: ["suppressed", "lifted", "suppressed"],
  },
  {
    name: "suppression.removed arriving before the older hard bounce it removes",
    intents: [removedBounce(10), hard(0)],
    expect: null,
    decisions: ["lift_ignored", "stale"],
  },
  {
    name: "resubscribed arriving before the older unsubscribe",
    intents: [resubscribed(10), unsubscribed(0)],
    expect: null,
    decisions: ["lift_ignored", "stale"],
  },
  {
    name: "a lift of an already lifted address still covers older events of its kind",
    intents: [unsubscribed(0), resubscribed(5), removedBounce(10), hard(7)],
    expect: { suppressed: false },
    decisions: ["suppressed", "lifted", "lift_ignored", "stale"],
  },
  {
    name: "lifting the stronger reason leaves a weaker one still in force",
    intents: [hard(0), unsubscribed(1), removedBounce(2)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },

  // Late retries (issue 8): a suppression's time is its newest event, never an older retry's.
  {
    name: "a late, older retry of a hard bounce does not let an older removal lift it",
    intents: [hard(10), hard(5), removedBounce(7)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
    changes: ["suppress", "-", "-"],
  },
  {
    name: "a late, older retry of an unsubscribe does not let an older resubscribe lift it",
    intents: [unsubscribed(10), unsubscribed(5), resubscribed(7)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },

  // Sources: Resend lifts only what Resend set.
  {
    name: "contact.updated unsubscribed: false does not lift an unsubscribe recorded through the API",
    intents: [apiUnsubscribed(0), resubscribed(1)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "nor one from an import",
    intents: [importedUnsubscribed(0), resubscribed(1)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "nor the API's when Resend's contact state unsubscribed too",
    intents: [apiUnsubscribed(0), unsubscribed(1), resubscribed(2)],
    expect: { suppressed: true, reason: "unsubscribe" },
    decisions: ["suppressed", "already_suppressed", "lift_ignored"],
  },
  {
    name: "suppression.removed does not lift a hard bounce recorded through the API",
    intents: [apiHard(0), removedBounce(1)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "lift_ignored"],
  },
  {
    name: "an API delete lifts every source",
    intents: [apiUnsubscribed(0), unsubscribed(1), importedUnsubscribed(2), apiDelete(3)],
    expect: { suppressed: false },
    decisions: ["suppressed", "already_suppressed", "already_suppressed", "lifted"],
  },

  // Soft bounces.
  {
    name: "three soft bounces within 14 days suppress",
    intents: [soft(0), soft(1), soft(2)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed"],
    changes: ["-", "-", "suppress"],
  },
  {
    name: "two soft bounces do not",
    intents: [soft(0), soft(1)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce"],
  },
  {
    name: "soft bounces spread over more than 14 days do not",
    intents: [soft(0), soft(10), soft(20)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce"],
  },
  {
    name: "a soft bounce exactly 14 days earlier is outside the window",
    intents: [soft(0), soft(7), soft(14)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce"],
  },
  {
    name: "soft bounces arriving out of order still count by event time",
    intents: [soft(2), soft(0), soft(1)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed"],
  },
  {
    name: "a late soft bounce does not count across a reset",
    intents: [soft(1), delivered(1.5), soft(2), soft(3), soft(0.5)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce_reset", "soft_bounce", "soft_bounce", "soft_bounce"],
  },
  {
    name: "email.delivered resets the count",
    intents: [soft(0), soft(1), delivered(1.5), soft(2), soft(3)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce_reset", "soft_bounce", "soft_bounce"],
  },
  {
    name: "after a reset, three more soft bounces suppress",
    intents: [soft(0), soft(1), delivered(1.5), soft(2), soft(3), soft(4)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: [
      "soft_bounce",
      "soft_bounce",
      "soft_bounce_reset",
      "soft_bounce",
      "soft_bounce",
      "soft_bounce+suppressed",
    ],
  },
  {
    name: "a delivery older than the soft bounces does not reset them",
    intents: [soft(1), soft(2), delivered(0.5), soft(3)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce", "soft_bounce", "-", "soft_bounce+suppressed"],
  },
  {
    name: "a delivery with nothing to reset leaves no history",
    intents: [delivered(0)],
    expect: null,
    decisions: ["-"],
  },
  {
    // It used not to, but a delivery arriving first makes the older bounces uncounted, and the
    // outcome must not depend on the order: only the newest delivery is kept, and it resets all.
    name: "a delivery after the soft bounces lifts the soft-bounce limit",
    intents: [soft(0), soft(1), soft(2), delivered(3)],
    expect: { suppressed: false, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed", "soft_bounce_reset+lifted"],
    changes: ["-", "-", "suppress", "lift"],
  },
  {
    name: "the same delivery arriving first: the bounces before it never count",
    intents: [delivered(3), soft(0), soft(1), soft(2)],
    expect: null,
    decisions: ["-", "soft_bounce", "soft_bounce", "soft_bounce"],
  },
  {
    name: "a late delivery inside the window undoes a limit it breaks",
    intents: [soft(0), soft(1), soft(2), delivered(1.5)],
    expect: { suppressed: false },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed", "soft_bounce_reset+lifted"],
  },
  {
    name: "a soft bounce at the same instant as the delivery counts (a tie suppresses)",
    intents: [delivered(1), soft(1), soft(2), soft(3)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["-", "soft_bounce", "soft_bounce", "soft_bounce+suppressed"],
  },
  {
    name: "a late retry of a soft bounce (same time, another id) is counted once",
    intents: [soft(0), soft(1), soft(1)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce"],
  },
  {
    name: "a delivery does not lift a hard bounce",
    intents: [hard(0), delivered(1)],
    expect: { suppressed: true, reason: "hard_bounce" },
    decisions: ["suppressed", "-"],
  },
  {
    name: "an API delete resets the soft-bounce count",
    intents: [soft(0), soft(1), soft(2), apiDelete(3), soft(4)],
    expect: { suppressed: false },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed", "lifted", "soft_bounce"],
  },
  {
    name: "count 0 turns the rule off",
    rule: { count: 0, days: 14 },
    intents: [soft(0), soft(0.1), soft(0.2), soft(0.3), soft(0.4), delivered(1)],
    expect: null,
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce", "soft_bounce", "soft_bounce", "-"],
  },
  {
    name: "count 1 suppresses on the first soft bounce",
    rule: { count: 1, days: 1 },
    intents: [soft(0)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce+suppressed"],
  },
  {
    name: "a shorter window from config",
    rule: { count: 2, days: 1 },
    intents: [soft(0), soft(1.5), soft(2)],
    expect: { suppressed: true, reason: "soft_bounce_limit" },
    decisions: ["soft_bounce", "soft_bounce", "soft_bounce+suppressed"],
  },
];

describe("applyIntent: scenarios for one address", () => {
  for (const s of scenarios) {
    test(s.name, () => {
      const state: AddressState = emptyState();
      const decisions: string[] = [];
      const changes: string[] = [];
      for (const intent of s.intents) {
        const result = applyIntent(state, intent, s.rule ?? DEFAULT_RULE, NOW);
        decisions.push(result.history.map((h) => h.decision).join("+") || "-");
        changes.push(result.change ?? "-");
        for (const h of result.history) {
          expect(h.email).toBe(EMAIL);
          expect(h.event_type).toBe(intent.eventType);
          expect(h.occurred_at).toBe(intent.occurredAt);
        }
      }
      expect(decisions).toEqual(s.decisions);
      if (s.changes) expect(changes).toEqual(s.changes);
      if (s.expect === null) {
        expect(state.row).toBeNull();
      } else {
        expect(state.row?.suppressed).toBe(s.expect.suppressed ? 1 : 0);
        if (s.expect.reason) expect(state.row?.reason).toBe(s.expect.reason);
      }
    });
  }
});

describe("applyIntent: the row it keeps", () => {
  test("a new suppression records event times and the wall clock separately", () => {
    const state: AddressState = emptyState();
    applyIntent(state, hard(0), DEFAULT_RULE, NOW);
    expect(state.row).toEqual({
      email: EMAIL,
      suppressed: 1,
      reason: "hard_bounce",
      first_suppressed_at: at(0),
      suppressed_at: at(0),
      last_event_at: at(0),
      updated_at: NOW,
      note: null,
    });
    expect(state.reasons.get(reasonKey("hard_bounce", "resend"))).toEqual({
      reason: "hard_bounce",
      source: "resend",
      suppressedAt: at(0),
      liftedAt: null,
    });
  });

  test("last_event_at only moves forward", () => {
    const state: AddressState = emptyState();
    applyIntent(state, hard(5), DEFAULT_RULE, NOW);
    applyIntent(state, complaint(2), DEFAULT_RULE, NOW);
    expect(state.row?.last_event_at).toBe(at(5));
    expect(state.row?.reason).toBe("complaint");
  });

  test("a lift remembers what it covered; re-suppressing keeps first_suppressed_at", () => {
    const state: AddressState = emptyState();
    applyIntent(state, hard(0), DEFAULT_RULE, NOW);
    applyIntent(state, removedBounce(1), DEFAULT_RULE, NOW);
    expect(state.reasons.get(reasonKey("hard_bounce", "resend"))).toMatchObject({
      suppressedAt: at(0),
      liftedAt: at(1),
    });
    expect(state.reasons.get(reasonKey("provider_suppressed", "resend"))).toMatchObject({
      suppressedAt: null,
      liftedAt: at(1),
    });
    applyIntent(state, complaint(2), DEFAULT_RULE, NOW);
    expect(state.row).toMatchObject({
      suppressed: 1,
      reason: "complaint",
      first_suppressed_at: at(0),
      suppressed_at: at(2),
    });
  });

  test("an API delete is recorded as covering everything", () => {
    const state: AddressState = emptyState();
    applyIntent(state, complaint(0), DEFAULT_RULE, NOW);
    applyIntent(state, apiDelete(1), DEFAULT_RULE, NOW);
    expect(state.reasons.get(reasonKey("*", "api"))).toEqual({
      reason: "*",
      source: "api",
      suppressedAt: null,
      liftedAt: at(1),
    });
    expect(state.reasons.get(reasonKey("complaint", "resend"))?.liftedAt).toBeNull();
  });

  test("a note travels with the suppression and into the history", () => {
    const state: AddressState = emptyState();
    const result = applyIntent(state, { ...manual(0), note: "asked by phone" } as Intent, DEFAULT_RULE, NOW);
    expect(state.row?.note).toBe("asked by phone");
    expect(result.history[0]?.note).toBe("asked by phone");
  });

  test("the soft-bounce limit's history says how many were counted", () => {
    const state: AddressState = emptyState();
    applyIntent(state, soft(0), DEFAULT_RULE, NOW);
    const result = applyIntent(state, soft(1), DEFAULT_RULE, NOW);
    expect(result.history[0]?.note).toBe("2 of 3 within 14 days");
  });
});

describe("applyIntent: an invalid address", () => {
  test("is recorded with its raw value and suppresses nothing", () => {
    const state: AddressState = emptyState();
    const result = applyIntent(
      state,
      { kind: "invalid_address", raw: "not an address", eventType: "email.bounced", occurredAt: at(0) },
      DEFAULT_RULE,
      NOW,
    );
    expect(result.change).toBeNull();
    expect(state.row).toBeNull();
    expect(result.history).toEqual([
      {
        email: "not an address",
        decision: "invalid_address" satisfies Decision,
        reason: null,
        source: "resend",
        event_type: "email.bounced",
        occurred_at: at(0),
        note: expect.stringContaining("nothing suppressed"),
      },
    ]);
  });
});

describe("softLimitReachedAt", () => {
  const rule = { count: 3, days: 14 };
  test("the newest bounce ending a window of `days` that holds `count` distinct times", () => {
    expect(softLimitReachedAt([at(0), at(1), at(2), at(20)], -Infinity, rule)).toBe(at(2));
    expect(softLimitReachedAt([at(0), at(1), at(2), at(3), at(30)], -Infinity, rule)).toBe(at(3));
    // (day 6, day 20]: day 6 itself is outside the window.
    expect(softLimitReachedAt([at(6), at(6.5), at(20)], -Infinity, rule)).toBeNull();
    expect(softLimitReachedAt([at(1), at(1), at(2)], -Infinity, rule)).toBeNull();
  });
  test("only bounces at or after the last lift count, whatever the order given", () => {
    expect(softLimitReachedAt([at(2), at(0), at(1)], at(1), rule)).toBeNull();
    expect(softLimitReachedAt([at(3), at(1), at(2)], at(1), rule)).toBe(at(3));
  });
});
