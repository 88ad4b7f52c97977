import { describe, expect, test } from "bun:test";
import { ACTIONABLE_TYPES, MAX_RECIPIENTS, parseResendEvent } from "../../src/events/resend.ts";
import type { Intent } from "../../src/suppression/intents.ts";
import type { Reason } from "../../src/suppression/types.ts";
import { event, fixtures } from "../helpers/sign.ts";

const AT = Date.parse("2026-11-22T23:41:12.126Z");

/** What each sample in test/fixtures/resend must become. A new fixture fails the first test until it is listed. */
const EXPECTED: Record<string, { outcome: "act" | "ignore"; type: string; at: number; intents: Intent[] }> = {
  "email.bounced.permanent": act("email.bounced", [
    suppress("delivered@example.com", "hard_bounce", "email.bounced"),
  ]),
  "email.bounced.transient": act("email.bounced", [soft("fullbox@example.com")]),
  // Older payloads carry only bounce.message: without a type it is a soft bounce.
  "email.bounced.legacy": {
    ...act("email.bounced", []),
    at: Date.parse("2023-02-22T23:41:12.126+00:00"),
    intents: [soft("legacy@example.com", Date.parse("2023-02-22T23:41:12.126+00:00"))],
  },
  "email.complained": act("email.complained", [
    suppress("angry@example.com", "complaint", "email.complained"),
  ]),
  "email.suppressed": act("email.suppressed", [
    suppress("known-bad@example.com", "provider_suppressed", "email.suppressed"),
  ]),
  "email.delivered": act("email.delivered", [
    { kind: "delivered", email: "fullbox@example.com", eventType: "email.delivered", occurredAt: AT },
  ]),
  "suppression.added": act("suppression.added", [
    suppress("steve@example.com", "hard_bounce", "suppression.added"),
  ]),
  "suppression.removed": {
    outcome: "act",
    type: "suppression.removed",
    // The envelope's created_at, not data.created_at (which is the suppression's creation time).
    at: Date.parse("2026-11-23T08:00:00.000Z"),
    intents: [
      {
        kind: "lift",
        email: "steve@example.com",
        reasons: ["hard_bounce", "provider_suppressed"],
        eventType: "suppression.removed",
        occurredAt: Date.parse("2026-11-23T08:00:00.000Z"),
      },
    ],
  },
  // Mixed-case address and a malformed data.created_at: the envelope time is what counts.
  "contact.updated.unsubscribed": act("contact.updated", [
    suppress("leaving@example.com", "unsubscribe", "contact.updated"),
  ]),
  "email.opened": { outcome: "ignore", type: "email.opened", at: AT, intents: [] },
  "domain.updated": { outcome: "ignore", type: "domain.updated", at: AT, intents: [] },
};

describe("every fixture", () => {
  test("has an expected outcome listed here", () => {
    expect(Object.keys(fixtures()).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [name, body] of Object.entries(fixtures())) {
    test(`${name} parses to its expected outcome and intents`, () => {
      const want = EXPECTED[name];
      if (!want) throw new Error(`add ${name} to EXPECTED`);
      const got = parseResendEvent(body);
      expect(got.outcome).toBe(want.outcome);
      expect(got.type).toBe(want.type);
      expect(got.occurredAt).toBe(want.at);
      expect(got.outcome === "act" ? got.intents : []).toEqual(want.intents);
    });
  }
});

describe("bounce types", () => {
  const cases: [string, string | null | undefined, "hard" | "soft"][] = [
    ["Permanent", "Permanent", "hard"],
    ["permanent", "permanent", "hard"],
    ["PERMANENT", "PERMANENT", "hard"],
    ["hard", "hard", "hard"],
    ["Hard with spaces", " Hard ", "hard"],
    ["Transient", "Transient", "soft"],
    ["Undetermined", "Undetermined", "soft"],
    ["Temporary", "Temporary", "soft"],
    ["soft", "soft", "soft"],
    ["an empty type", "", "soft"],
    ["a null type", null, "soft"],
    ["no type", undefined, "soft"],
    ["a type that only contains Permanent", "NotPermanent", "soft"],
  ];
  for (const [name, type, expected] of cases) {
    test(`${name} is a ${expected} bounce`, () => {
      const bounce = type === undefined ? { message: "m" } : { type, message: "m" };
      const got = parseResendEvent(event("email.bounced", { to: ["a@x.com"], bounce }));
      expect(got.outcome).toBe("act");
      const kind = got.outcome === "act" ? got.intents[0]?.kind : undefined;
      expect(kind).toBe(expected === "hard" ? "suppress" : "soft_bounce");
    });
  }

  test("a bounce with no bounce object at all is soft", () => {
    const got = parseResendEvent(event("email.bounced", { to: ["a@x.com"] }));
    expect(got.outcome === "act" && got.intents.map((i) => i.kind)).toEqual(["soft_bounce"]);
  });
});

describe("suppression.* origins", () => {
  const added: [string | undefined, Reason][] = [
    ["bounce", "hard_bounce"],
    ["complaint", "complaint"],
    ["manual", "provider_suppressed"],
    ["Bounce", "hard_bounce"],
    ["something-new", "provider_suppressed"],
    [undefined, "provider_suppressed"],
  ];
  for (const [origin, reason] of added) {
    test(`suppression.added with origin ${origin} suppresses for ${reason}`, () => {
      const got = parseResendEvent(event("suppression.added", { email: "a@x.com", origin }));
      expect(got.outcome === "act" && got.intents).toEqual([
        suppress("a@x.com", reason, "suppression.added", got.occurredAt as number),
      ]);
    });
  }

  const removed: [string | undefined, string[]][] = [
    ["bounce", ["hard_bounce", "provider_suppressed"]],
    // Nothing but an explicit API call lifts a complaint.
    ["complaint", []],
    ["manual", ["provider_suppressed"]],
    [undefined, ["provider_suppressed"]],
  ];
  for (const [origin, reasons] of removed) {
    test(`suppression.removed with origin ${origin} may lift ${reasons.join(", ") || "nothing"}`, () => {
      const got = parseResendEvent(event("suppression.removed", { email: "a@x.com", origin }));
      const intent = got.outcome === "act" ? got.intents[0] : undefined;
      expect(intent?.kind).toBe("lift");
      expect(intent?.kind === "lift" && intent.reasons).toEqual(reasons as never);
    });
  }
});

describe("contact.updated", () => {
  test("unsubscribed: true suppresses for unsubscribe", () => {
    const got = parseResendEvent(event("contact.updated", { email: "A@X.com", unsubscribed: true }));
    expect(got.outcome === "act" && got.intents.map((i) => [i.kind, "email" in i && i.email])).toEqual([
      ["suppress", "a@x.com"],
    ]);
  });
  test("unsubscribed: false lifts only an unsubscribe", () => {
    const got = parseResendEvent(event("contact.updated", { email: "a@x.com", unsubscribed: false }));
    const intent = got.outcome === "act" ? got.intents[0] : undefined;
    expect(intent?.kind === "lift" && intent.reasons).toEqual(["unsubscribe"]);
  });
});

describe("recipients", () => {
  test("every recipient of data.to gets an intent, display names stripped", () => {
    const got = parseResendEvent(
      event("email.complained", { to: ["Jane <Jane@X.com>", " bob@x.com ", "not an address"] }),
    );
    expect(got.outcome === "act" && got.intents.map((i) => ("email" in i ? i.email : i.raw))).toEqual([
      "jane@x.com",
      "bob@x.com",
      "not an address",
    ]);
    expect(got.outcome === "act" && got.intents[2]?.kind).toBe("invalid_address");
  });

  test("a comma-separated data.to string is split", () => {
    const got = parseResendEvent(
      event("email.bounced", { to: "a@x.com, B <b@x.com>", bounce: { type: "Permanent" } }),
    );
    expect(got.outcome === "act" && got.intents.map((i) => ("email" in i ? i.email : i.raw))).toEqual([
      "a@x.com",
      "b@x.com",
    ]);
  });

  test("values that are not strings become invalid_address intents, not errors", () => {
    const got = parseResendEvent(event("email.bounced", { to: [42, null, { a: 1 }] }));
    expect(got.outcome === "act" && got.intents.map((i) => i.kind)).toEqual([
      "invalid_address",
      "invalid_address",
      "invalid_address",
    ]);
  });

  test("an invalid address's raw value is capped so history rows stay small", () => {
    const got = parseResendEvent(event("email.bounced", { to: ["x".repeat(5000)] }));
    const intent = got.outcome === "act" ? got.intents[0] : undefined;
    expect(intent?.kind === "invalid_address" && intent.raw.length).toBe(320);
  });

  test(`more than ${MAX_RECIPIENTS} recipients is not a real event: quarantined`, () => {
    const to = Array.from({ length: MAX_RECIPIENTS + 1 }, (_, i) => `r${i}@x.com`);
    expect(parseResendEvent(event("email.bounced", { to })).outcome).toBe("quarantine");
  });
});

describe("types we do not act on are ignored, never rejected", () => {
  const types = [
    "email.sent",
    "email.opened",
    "email.clicked",
    "email.delivery_delayed",
    "email.scheduled",
    "domain.created",
    "contact.created",
    "some.future_type",
  ];
  for (const type of types) {
    test(type, () => {
      const got = parseResendEvent(event(type, { to: ["a@x.com"] }));
      expect(got).toEqual({ outcome: "ignore", type, occurredAt: expect.any(Number) });
    });
  }

  test("even with an unreadable created_at or data", () => {
    const got = parseResendEvent(JSON.stringify({ type: "email.sent", created_at: "soon", data: 5 }));
    expect(got).toEqual({ outcome: "ignore", type: "email.sent", occurredAt: null });
  });

  test("the types we act on are exactly the documented ones", () => {
    expect([...ACTIONABLE_TYPES].sort()).toEqual([
      "contact.updated",
      "email.bounced",
      "email.complained",
      "email.delivered",
      "email.suppressed",
      "suppression.added",
      "suppression.removed",
    ]);
  });
});

describe("what cannot be understood is quarantined with a reason", () => {
  const ok = "2026-11-22T23:41:12.126Z";
  const cases: [string, string, RegExp][] = [
    ["not JSON", "this is not json", /not JSON/],
    ["truncated JSON", '{"type":"email.bounced","created_at":', /not JSON/],
    ["a JSON array", "[]", /not a Resend event/],
    ["JSON null", "null", /not a Resend event/],
    ["a JSON string", '"email.bounced"', /not a Resend event/],
    ["no type", JSON.stringify({ created_at: ok, data: {} }), /type/],
    ["an empty type", JSON.stringify({ type: "", created_at: ok, data: {} }), /type/],
    ["a numeric type", JSON.stringify({ type: 7, created_at: ok, data: {} }), /type/],
    ["no created_at", JSON.stringify({ type: "email.bounced", data: { to: ["a@x.com"] } }), /created_at/],
    ["a bad created_at", event("email.bounced", { to: ["a@x.com"] }, "yesterday"), /created_at/],
    [
      "a numeric created_at",
      JSON.stringify({ type: "email.bounced", created_at: 1700000000, data: { to: ["a@x.com"] } }),
      /created_at/,
    ],
    ["no data", JSON.stringify({ type: "email.bounced", created_at: ok }), /data/],
    ["a bounce without data.to", event("email.bounced", { bounce: { type: "Permanent" } }, ok), /to/],
    ["data.to as a number", event("email.complained", { to: 5 }, ok), /to/],
    [
      "a bounce type that is not a string",
      event("email.bounced", { to: ["a@x.com"], bounce: { type: 1 } }, ok),
      /type/,
    ],
    ["suppression.added without an email", event("suppression.added", { origin: "bounce" }, ok), /email/],
    [
      "contact.updated without unsubscribed",
      event("contact.updated", { email: "a@x.com" }, ok),
      /unsubscribed/,
    ],
    [
      "contact.updated with unsubscribed as a string",
      event("contact.updated", { email: "a@x.com", unsubscribed: "true" }, ok),
      /unsubscribed/,
    ],
  ];
  for (const [name, body, reason] of cases) {
    test(name, () => {
      const got = parseResendEvent(body);
      expect(got.outcome).toBe("quarantine");
      expect(got.outcome === "quarantine" && got.reason).toMatch(reason);
    });
  }

  test("a schema mismatch keeps the type and the time for the operator", () => {
    const got = parseResendEvent(event("email.complained", { to: 5 }, ok));
    expect(got).toMatchObject({
      outcome: "quarantine",
      type: "email.complained",
      occurredAt: Date.parse(ok),
    });
  });
});

describe("parsing is defensive", () => {
  test("unknown fields anywhere are fine", () => {
    const body = JSON.stringify({
      type: "email.complained",
      created_at: "2026-11-22T23:41:12.126Z",
      extra: { nested: true },
      data: { to: ["a@x.com"], tags: [{ name: "n", value: "v" }], whatever: [1, 2] },
    });
    expect(parseResendEvent(body).outcome).toBe("act");
  });

  test("tags may be an object or an array", () => {
    for (const tags of [{ a: "b" }, [{ name: "a", value: "b" }], null]) {
      expect(parseResendEvent(event("email.complained", { to: ["a@x.com"], tags })).outcome).toBe("act");
    }
  });

  test("email.suppressed without data.suppressed still acts", () => {
    expect(parseResendEvent(event("email.suppressed", { to: ["a@x.com"] })).outcome).toBe("act");
  });

  test("created_at with a numeric offset is read as the same instant", () => {
    const got = parseResendEvent(
      event("email.complained", { to: ["a@x.com"] }, "2026-11-23T01:41:12.126+02:00"),
    );
    expect(got.occurredAt).toBe(AT);
  });
});

function act(type: string, intents: Intent[]) {
  return { outcome: "act" as const, type, at: AT, intents };
}

function suppress(email: string, reason: Reason, eventType: string, at = AT): Intent {
  return { kind: "suppress", email, reason, eventType, occurredAt: at };
}

function soft(email: string, at = AT): Intent {
  return { kind: "soft_bounce", email, eventType: "email.bounced", occurredAt: at };
}
