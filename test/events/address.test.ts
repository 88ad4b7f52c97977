import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { normalizeAddress, recipients } from "../../src/events/address.ts";

describe("normalizeAddress: the key an address is stored under", () => {
  const valid: [string, unknown, string][] = [
    ["a bare address", "jane@example.com", "jane@example.com"],
    ["a display name", "Jane Doe <jane@example.com>", "jane@example.com"],
    ["a quoted display name with a comma", '"Doe, Jane" <jane@example.com>', "jane@example.com"],
    ["angle brackets only", "<jane@example.com>", "jane@example.com"],
    ["the last angle-bracketed part", "Jane <nope> <jane@example.com>", "jane@example.com"],
    ["spaces around", "  jane@example.com \t", "jane@example.com"],
    ["a trailing newline", "jane@example.com\n", "jane@example.com"],
    ["spaces inside the brackets", "Jane < jane@example.com >", "jane@example.com"],
    ["upper case", "Jane.DOE@Example.COM", "jane.doe@example.com"],
    ["upper-case Unicode", "JÜRGEN@BÜCHER.DE", "jürgen@bücher.de"],
    ["decomposed Unicode (NFD) becomes NFC", "ju\u0308rgen@bu\u0308cher.de", "jürgen@bücher.de"],
    ["a punycode domain, kept as written", "user@xn--bcher-kva.de", "user@xn--bcher-kva.de"],
    ["an all-Unicode address", "用户@例子.广告", "用户@例子.广告"],
    ["plus tags", "jane+news@example.com", "jane+news@example.com"],
    ["an apostrophe", "o'brien@example.com", "o'brien@example.com"],
    ["a 64-octet local part", `${"a".repeat(64)}@example.com`, `${"a".repeat(64)}@example.com`],
    ["64 octets of two-byte letters", `${"ü".repeat(32)}@example.com`, `${"ü".repeat(32)}@example.com`],
    ["a 63-character label", `a@${"b".repeat(63)}.com`, `a@${"b".repeat(63)}.com`],
    ["254 characters in all", address(254), address(254)],
  ];
  for (const [name, raw, expected] of valid) {
    test(`accepts ${name}`, () => expect(normalizeAddress(raw)).toBe(expected));
  }

  const invalid: [string, unknown][] = [
    ["an empty string", ""],
    ["only spaces", "   "],
    ["no @", "jane.example.com"],
    ["nothing before @", "@example.com"],
    ["nothing after @", "jane@"],
    ["two @", "jane@doe@example.com"],
    ["a single-label domain", "jane@localhost"],
    ["an empty label", "jane@example..com"],
    ["a leading dot in the domain", "jane@.example.com"],
    ["a trailing dot in the domain", "jane@example.com."],
    ["a label starting with a hyphen", "jane@-example.com"],
    ["a label ending with a hyphen", "jane@example-.com"],
    ["a leading dot in the local part", ".jane@example.com"],
    ["a trailing dot in the local part", "jane.@example.com"],
    ["two dots in the local part", "ja..ne@example.com"],
    ["a space inside", "ja ne@example.com"],
    ["a newline inside", "ja\nne@example.com"],
    ["a NUL byte", "ja\u0000ne@example.com"],
    ["a quoted local part", '"ja ne"@example.com'],
    ["an IP literal", "jane@[192.0.2.1]"],
    ["a comment after the address", "jane@example.com (Jane)"],
    ["empty angle brackets", "Jane <>"],
    ["a stray closing bracket", "jane@example.com>"],
    ["a comma-separated list", "a@example.com,b@example.com"],
    ["a semicolon", "a;b@example.com"],
    ["a 65-octet local part", `${"a".repeat(65)}@example.com`],
    ["65 octets of two-byte letters", `${"ü".repeat(32)}a@example.com`],
    ["a 64-character label", `a@${"b".repeat(64)}.com`],
    ["255 characters in all", address(255)],
    ["more than 1000 characters of display name", `${"x".repeat(1000)} <jane@example.com>`],
    ["a number", 42],
    ["null", null],
    ["undefined", undefined],
    ["an object", { email: "jane@example.com" }],
    ["an array", ["jane@example.com"]],
  ];
  for (const [name, raw] of invalid) {
    test(`rejects ${name}`, () => expect(normalizeAddress(raw)).toBeNull());
  }

  test("normalising is idempotent", () => {
    for (const [, , expected] of valid) expect(normalizeAddress(expected)).toBe(expected);
  });
});

/**
 * The rules read plainly, one step and one allocation at a time, as normalizeAddress was written
 * before it learned to skip the steps that change nothing (issue 14): the oracle below.
 */
function plainReading(raw: unknown): string | null {
  if (typeof raw !== "string" || raw.length > 1000 || !raw.isWellFormed()) return null;
  let value = raw.trim();
  const angle = /<([^<>]*)>\s*$/.exec(value);
  if (angle?.[1] !== undefined) value = angle[1].trim();
  value = value.normalize("NFC").toLowerCase();
  const forbidden = /[\s<>()[\]\\,;:"@\p{Cc}]/u;
  if (value.length > 254) return null;
  const at = value.lastIndexOf("@");
  if (at < 1 || at !== value.indexOf("@")) return null;
  const local = value.slice(0, at);
  const labels = value.slice(at + 1).split(".");
  if (new TextEncoder().encode(local).length > 64 || forbidden.test(local)) return null;
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return null;
  if (labels.length < 2) return null;
  const ok = labels.every((l) => l.length > 0 && l.length <= 63 && !forbidden.test(l) && !/^-|-$/.test(l));
  return ok ? value : null;
}

describe("normalizeAddress agrees with the plain reading of its rules", () => {
  /** Pieces that sit on every rule's edge, joined at random with any text, Unicode included. */
  const piece = fc.oneof(
    fc.constantFrom("@", ".", "..", "-", "<", ">", " ", "\t", "\n", "\u00a0", "\ufeff", "\u3000", ",", '"'),
    fc.constantFrom("Jane", "JÜRGEN", "ju\u0308rgen", "用户", "xn--bcher-kva", "\ud800", "\udc00", "\u0000"),
    fc.constantFrom("a".repeat(63), "b".repeat(64), "ü".repeat(32), "c".repeat(200)),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.string({ maxLength: 8 }),
  );
  const text = fc.array(piece, { maxLength: 12 }).map((p) => p.join(""));
  /** Mostly well-formed parts, with an edge or a random piece among them now and then. */
  const part = (common: string[]) =>
    fc
      .array(
        fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...common) }, { weight: 1, arbitrary: piece }),
        {
          minLength: 1,
          maxLength: 4,
        },
      )
      .map((p) => p.join(""));
  const local = part([
    "jane",
    "J",
    "o'brien",
    "+news",
    ".",
    "-",
    "ü",
    "Ü",
    "用户",
    "ju\u0308rgen",
    "b".repeat(30),
  ]);
  const label = part(["example", "com", "BÜCHER", "例子", "xn--bcher-kva", "-x", "x-", "d".repeat(40)]);
  const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."));
  const addressLike = fc
    .tuple(
      fc.option(fc.constantFrom("Jane", '"Doe, Jane"', "", "J <x>")),
      fc.constantFrom("", " ", "\t"),
      local,
      fc.constantFrom("@", "@", "@", "@@", ""),
      domain,
      fc.constantFrom("", " ", "\n", "\u3000"),
    )
    .map(([name, lead, l, at, d, tail]) =>
      name === null ? `${lead}${l}${at}${d}${tail}` : `${name} <${lead}${l}${at}${d}${tail}>${tail}`,
    );

  test("on generated addresses, display names and any text", () => {
    fc.assert(
      fc.property(fc.oneof(addressLike, text, fc.string({ unit: "binary" })), (raw) => {
        expect(normalizeAddress(raw)).toBe(plainReading(raw) as never);
      }),
      { numRuns: 20_000 },
    );
  });

  test("the generator reaches both answers", () => {
    const sample = fc.sample(addressLike, 5_000);
    expect(sample.filter((a) => plainReading(a) !== null).length).toBeGreaterThan(100);
    expect(sample.filter((a) => plainReading(a) === null).length).toBeGreaterThan(100);
  });
});

describe("recipients: data.to as Resend sends it", () => {
  const cases: [string, unknown, unknown[]][] = [
    ["an array is taken as is", ["a@x.com", "B <b@x.com>"], ["a@x.com", "B <b@x.com>"]],
    ["a comma-separated string (old payloads) is split", "a@x.com, b@x.com", ["a@x.com", " b@x.com"]],
    ["a missing value is no one", undefined, []],
    ["an object is no one", { to: "a@x.com" }, []],
    ["a number is no one", 7, []],
  ];
  for (const [name, to, expected] of cases) test(name, () => expect(recipients(to)).toEqual(expected));
});

/** An address of exactly `length` characters (at least 195): 64 + "@" + 63 + "." + 63 + "." + rest. */
function address(length: number): string {
  const label = "d".repeat(63);
  return `${"l".repeat(64)}@${label}.${label}.${"d".repeat(length - 64 - 1 - 128)}`;
}
