import { afterAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parseResendEvent, useFastChecks } from "../../src/events/resend.ts";

/**
 * zod is the oracle: the checks that skip it for the common shapes (src/events/resend.ts) must
 * give exactly what zod alone gives, outcome, intents and error wording, on generated bodies
 * that sit on and around every edge those checks test (type length, timestamps, recipient
 * lists, bounce objects), with the whole of Unicode in the strings (lone surrogates included).
 */
afterAll(() => useFastChecks(true));

function both(body: string) {
  useFastChecks(false);
  const slow = parseResendEvent(body);
  useFastChecks(true);
  return { slow, fast: parseResendEvent(body) };
}

const text = fc.string({ unit: "binary", maxLength: 30 });
const address = fc.oneof(
  fc.constantFrom("a@example.com", "Jane.Doe@Example.COM", " b@x.io ", "not-an-address", ""),
  fc.tuple(text, text).map(([l, d]) => `${l}@${d}.com`),
);
const absent = Symbol("absent");
/** Mostly there, sometimes missing or null. */
const maybe = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: a, weight: 8 }, fc.constant(absent), fc.constant(null));
/** The first (the shape that acts) most of the time, the others around it. */
const mostly = (first: fc.Arbitrary<unknown>, ...rest: fc.Arbitrary<unknown>[]) =>
  fc.oneof({ arbitrary: first, weight: 6 * rest.length }, ...rest);

const type = mostly(
  fc.constantFrom(
    "email.sent",
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.bounced",
    "email.complained",
    "email.suppressed",
    "contact.updated",
    "",
    "x".repeat(200),
    "x".repeat(201),
    "toString",
  ),
  text,
);
const createdAt = mostly(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom("2026-11-29T17:00:00.000000+00:00", "yesterday", "", "2026-13-45"),
  text,
  fc.integer(),
);
const to = mostly(
  fc.array(fc.oneof(address, fc.integer(), fc.constant(null)), { maxLength: 4 }),
  fc.array(address, { minLength: 99, maxLength: 102 }),
  address,
  fc.array(address, { maxLength: 3 }).map((l) => l.join(", ")),
  fc.constant(`${"a@example.com,".repeat(1_500)}b@example.com`), // > 20,000 characters
  fc.constant(`${"a@b.co,".repeat(101)}z@b.co`), // a short string of 102 recipients
  fc.integer(),
  fc.dictionary(text, text, { maxKeys: 2 }),
);
const bounce = mostly(
  fc.record({
    type: maybe(fc.oneof(fc.constantFrom("Permanent", "hard", "Transient", " HARD "), text, fc.integer())),
  }),
  fc.constant([]),
  text,
);
const data = mostly(
  fc.record({ to: maybe(to), bounce: maybe(bounce), tags: maybe(fc.constant({ suppressd_test: "true" })) }),
  fc.constant([]),
  text,
  fc.jsonValue({ maxDepth: 2 }),
);
/** Drops the keys generated as absent, so a field can be missing, null or anything. */
const present = (o: Record<string, unknown>) => JSON.stringify(o, (_k, v) => (v === absent ? undefined : v));
const event = fc
  .record({ type: maybe(mostly(type, fc.integer())), created_at: maybe(createdAt), data: maybe(data) })
  .map((e) => present(e as Record<string, unknown>));

describe("parseResendEvent without zod for the common shapes agrees with zod alone", () => {
  test("on generated events around every edge of the fast checks", () => {
    let acted = 0;
    fc.assert(
      fc.property(event, (body) => {
        const { slow, fast } = both(body);
        expect(fast).toEqual(slow);
        if (fast.outcome === "act") acted++;
      }),
      { numRuns: 3000 },
    );
    // The generator reaches the interesting side too (not only quarantines).
    expect(acted).toBeGreaterThan(100);
  });

  test("on any JSON value and any text", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ unit: "binary" }),
        ),
        (body) => {
          const { slow, fast } = both(body);
          expect(fast).toEqual(slow);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
