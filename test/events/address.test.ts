import { describe, expect, test } from "bun:test";
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
