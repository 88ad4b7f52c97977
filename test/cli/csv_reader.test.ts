import { describe, expect, test } from "bun:test";
import { CsvReader, importStream, parseIsoTime } from "../../src/cli/import.ts";
import type { Reason } from "../../src/db/schema.ts";
import type { Intent } from "../../src/events/intents.ts";

function readAll(text: string, pieces = 1) {
  const r = new CsvReader();
  const size = Math.ceil(text.length / pieces);
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(...r.push(text.slice(i, i + size)));
  return [...out, ...r.end()];
}

describe("CsvReader", () => {
  const text = 'email,note\r\na@x.com,"one, ""two""\r\nthree"\r\nb@x.com,plain\nc@x.com,\rd@x.com,"x"';
  const expected = [
    { line: 1, cells: ["email", "note"] },
    { line: 2, cells: ["a@x.com", 'one, "two"\r\nthree'] },
    { line: 4, cells: ["b@x.com", "plain"] },
    { line: 5, cells: ["c@x.com", ""] },
    { line: 6, cells: ["d@x.com", "x"] },
  ];

  test("quoted fields, escaped quotes, embedded newlines, CRLF / LF / CR, no final newline", () => {
    expect(readAll(text)).toEqual(expected);
  });

  test("the same records however the text is split into chunks", () => {
    for (const pieces of [2, 3, 7, text.length]) expect(readAll(text, pieces)).toEqual(expected);
  });

  test("an unclosed quote is reported, a stray quote inside a field is kept", () => {
    expect(readAll('a,b"c\nx,"open\nmore')).toEqual([
      { line: 1, cells: ["a", 'b"c'] },
      { line: 2, cells: ["x", "open\nmore"], unterminated: true },
    ]);
  });
});

test("parseIsoTime: dates, times, zones; rejects impossible dates", () => {
  expect(parseIsoTime("2024-01-05")).toBe(Date.parse("2024-01-05T00:00:00Z"));
  expect(parseIsoTime("2024-01-05T10:00:00")).toBe(Date.parse("2024-01-05T10:00:00Z"));
  expect(parseIsoTime("2024-01-05 10:00:00.123456+02")).toBe(Date.parse("2024-01-05T08:00:00.123Z"));
  expect(parseIsoTime("2024-01-05T10:00:00-0130")).toBe(Date.parse("2024-01-05T11:30:00Z"));
  for (const bad of ["2024-02-30", "2024-13-01", "yesterday", "2024-01-05T25:00:00Z", "1704412800"]) {
    expect(parseIsoTime(bad)).toBeNull();
  }
});

test("importStream: chunks of at most 1000, progress every 10,000 rows, counts", async () => {
  const rows = ["email"];
  for (let i = 0; i < 25_000; i++) rows.push(`user${i}@example.com`);
  rows.push("user1@example.com", "nope");
  const submitted: number[] = [];
  const store = new Map<string, Reason>();
  const lines: string[] = [];
  const stats = await importStream([new TextEncoder().encode(`\uFEFF${rows.join("\n")}\n`)], {
    async submit(intents: Intent[]) {
      submitted.push(intents.length);
      let changed = 0;
      for (const i of intents) {
        if (i.kind === "suppress" && !store.has(i.email)) {
          store.set(i.email, i.reason);
          changed++;
        }
      }
      return changed;
    },
    async suppressed(emails) {
      return new Map(emails.filter((e) => store.has(e)).map((e) => [e, store.get(e) as Reason]));
    },
    report: (l) => lines.push(l),
  });
  expect(stats).toEqual({ rows: 25_002, imported: 25_000, already: 1, invalid: 1, lifted: 0 });
  expect(Math.max(...submitted)).toBe(1000);
  expect(lines.filter((l) => l.startsWith("import: "))).toHaveLength(2);
  expect(lines).toContain('line 25003: "nope" is not an email address; skipped');
});
