import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseIsoTime } from "../../src/cli/import.ts";
import { detectFormat } from "../../src/cli/import_formats.ts";
import { reasonFromWord } from "../../src/cli/import_reasons.ts";
import { type ImportStats, importStream } from "../../src/cli/import_stream.ts";
import type { Intent } from "../../src/suppression/intents.ts";
import type { Reason } from "../../src/suppression/types.ts";

const FIXTURES = join(import.meta.dir, "../fixtures");

/** importStream against an in-memory store: what was written, what was said. */
async function run(
  chunks: (string | Uint8Array)[],
  defaultReason?: Reason,
  now = Date.parse("2027-01-01T00:00:00Z"),
) {
  const store = new Map<string, Intent & { kind: "suppress" }>();
  const submitted: number[] = [];
  const lines: string[] = [];
  const formats: string[] = [];
  const stats = await importStream(
    chunks,
    {
      async submit(intents) {
        submitted.push(intents.length);
        let changed = 0;
        for (const i of intents) {
          if (i.kind === "suppress" && store.get(i.email)?.reason !== i.reason) {
            store.set(i.email, i);
            changed++;
          }
        }
        return changed;
      },
      async suppressed(emails) {
        return new Map(emails.filter((e) => store.has(e)).map((e) => [e, store.get(e)?.reason as Reason]));
      },
      report: (l) => lines.push(l),
      detected: (f) => formats.push(f),
      now: () => now,
    },
    { defaultReason },
  );
  return { stats, store, submitted, lines, formats };
}

const fixture = (path: string) => readFileSync(join(FIXTURES, path), "utf8");
const rows = (store: Map<string, Intent & { kind: "suppress" }>) =>
  [...store.values()].map((i) => [i.email, i.reason, new Date(i.occurredAt).toISOString()]);

describe("CSV parsing (csv-parse): quoting, line ends, chunking, line numbers", () => {
  const text =
    'email,note\r\na@x.com,"one, ""two""\r\nthree"\r\nbad\r\nc@x.com,\r\n\r\nnope,x\r\nx@y.com,"open\r\nmore';
  test("quoted fields with commas, quotes and line breaks; CRLF; a quote never closed", async () => {
    const { stats, store, lines } = await run([text]);
    expect([...store.values()].map((i) => [i.email, i.note ?? null])).toEqual([
      ["a@x.com", 'one, "two"\r\nthree'],
      ["c@x.com", null],
    ]);
    expect(lines).toEqual([
      'line 4: "bad" is not an email address; skipped',
      'line 7: "nope" is not an email address; skipped',
      "line 8: the row cannot be read as CSV (Quote Not Closed); skipped",
    ]);
    expect(stats).toMatchObject({
      rows: 5,
      imported: 2,
      invalid: 3,
      unknownReason: 0,
      problemLines: [4, 7, 8],
    });
  });

  test("the same result however the bytes are split (a CRLF or a UTF-8 character across chunks)", async () => {
    const bytes = new TextEncoder().encode(`\uFEFF${text.replace("three", "thrée")}`);
    const whole = await run([bytes]);
    for (const size of [1, 2, 3, 7, 64]) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) parts.push(bytes.slice(i, i + size));
      const split = await run(parts);
      expect(split.lines).toEqual(whole.lines);
      expect(rows(split.store)).toEqual(rows(whole.store));
    }
    expect(whole.store.get("a@x.com")?.note).toBe('one, "two"\r\nthrée');
  });

  test("LF and CR line ends; a stray quote inside an unquoted field is text", async () => {
    const { store, lines } = await run(['email,note\nb@x.com,say "hi"\rc@x.com,x\n']);
    expect(store.get("b@x.com")?.note).toBe('say "hi"');
    expect(store.has("c@x.com")).toBe(true);
    expect(lines).toEqual([]);
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

test("reason words: common spellings map, unknown words do not", () => {
  const cases: [string, Reason | null][] = [
    ["bounce", "hard_bounce"],
    ["Hard Bounce", "hard_bounce"],
    ["hard-bounce", "hard_bounce"],
    ["HARD_BOUNCE", "hard_bounce"],
    ["unsubscribed", "unsubscribe"],
    ["Opted out", "unsubscribe"],
    ["spam", "complaint"],
    ["Spam Complaint", "complaint"],
    ["soft_bounce_limit", "soft_bounce_limit"],
    ["provider_suppressed", "provider_suppressed"],
    ["manual", "manual"],
    ["imported", "imported"],
    ["bouncy", null],
    ["maybe later", null],
  ];
  for (const [word, reason] of cases) expect([word, reasonFromWord(word)]).toEqual([word, reason]);
});

describe("formats, detected from the first row", () => {
  test("Mailchimp unsubscribed export: unsubscribe at UNSUB_TIME, the reason kept as a note", async () => {
    const { stats, store, formats } = await run([
      fixture("mailchimp/unsubscribed_members_export_4f6a2c1b9e.csv"),
    ]);
    expect(formats).toEqual([expect.stringContaining("Mailchimp unsubscribed members export")]);
    expect(rows(store)).toEqual([
      ["ada@example.com", "unsubscribe", "2025-06-03T08:15:42.000Z"],
      ["grace.hopper@example.com", "unsubscribe", "2025-07-14T21:03:09.000Z"],
      ["linus@example.com", "unsubscribe", "2025-08-01T00:00:01.000Z"],
    ]);
    expect(store.get("grace.hopper@example.com")?.note).toBe(
      "Mailchimp unsubscribed: Other (fill in reason below): Too many emails, sorry",
    );
    expect(stats).toMatchObject({ rows: 3, imported: 3, invalid: 0, unknownReason: 0 });
  });

  test("Mailchimp cleaned export: hard_bounce at CLEAN_TIME", async () => {
    const { store, formats } = await run([fixture("mailchimp/cleaned_members_export_4f6a2c1b9e.csv")]);
    expect(formats[0]).toContain("Mailchimp cleaned members export");
    expect(rows(store)).toEqual([
      ["old.mailbox@example.net", "hard_bounce", "2025-05-20T06:30:00.000Z"],
      ["typo@exmaple.com", "hard_bounce", "2024-10-11T04:00:00.000Z"],
    ]);
    expect(store.get("old.mailbox@example.net")?.note).toBe("Mailchimp cleaned (campaign May newsletter)");
  });

  test("Mailchimp subscribed export is refused: those addresses may be mailed", async () => {
    await expect(run([fixture("mailchimp/subscribed_members_export_4f6a2c1b9e.csv")])).rejects.toThrow(
      /subscribed members: they may be mailed/,
    );
  });

  test("Resend suppression list: origin maps as suppression.added does; an unknown origin is reported", async () => {
    const text = `${fixture("resend/suppressions-export.csv")}0f0f0f0f-0000-4000-8000-000000000000,new@example.com,policy,,2026-10-09T00:00:00Z\n`;
    const { stats, store, lines, formats } = await run([text]);
    expect(formats[0]).toContain("Resend suppression list");
    expect(rows(store)).toEqual([
      ["steve.wozniak@example.com", "provider_suppressed", "2026-10-06T23:47:56.678Z"],
      ["susan.kare@example.com", "hard_bounce", "2026-10-07T08:12:03.412Z"],
      ["angry.reader@example.org", "complaint", "2026-10-08T12:00:00.000Z"],
    ]);
    expect(lines).toEqual(['line 5: unknown origin "policy" (known: bounce, complaint, manual); skipped']);
    expect(stats).toMatchObject({ rows: 4, imported: 3, unknownReason: 1, invalid: 0, problemLines: [5] });
  });

  test("a plain list: every line is an address, --reason sets the reason", async () => {
    const { stats, store, formats } = await run([fixture("plain/addresses.txt")], "unsubscribe");
    expect(formats[0]).toContain("plain list");
    expect([...store.values()].map((i) => [i.email, i.reason])).toEqual([
      ["one@example.com", "unsubscribe"],
      ["two@example.com", "unsubscribe"],
      ["three@example.com", "unsubscribe"],
    ]);
    expect(stats).toMatchObject({ rows: 3, imported: 3 });
  });

  test("a CSV with an email column: reason words, unknown words reported with their line", async () => {
    const { stats, store, lines } = await run(
      ["Email,Reason\na@x.com,Hard Bounce\nb@x.com,spam\nc@x.com,whatever\nd@x.com,\n"],
      "manual",
    );
    expect([...store.values()].map((i) => [i.email, i.reason])).toEqual([
      ["a@x.com", "hard_bounce"],
      ["b@x.com", "complaint"],
      ["d@x.com", "manual"],
    ]);
    expect(lines).toEqual([
      expect.stringMatching(/^line 4: unknown reason "whatever" \(known: hard_bounce, .*\); skipped$/),
    ]);
    expect(stats).toMatchObject({ rows: 4, imported: 3, unknownReason: 1 });
  });

  test("neither a header nor an address: a usage error naming what was found", () => {
    expect(() => detectFormat(["name", "phone"])).toThrow(/cannot tell what this file is.*Found: name,phone/);
  });
});

test("importStream: chunks of at most 1000, progress every 10,000 rows, counts", async () => {
  const list = ["email"];
  for (let i = 0; i < 25_000; i++) list.push(`user${i}@example.com`);
  list.push("user1@example.com", "nope");
  const { stats, submitted, lines } = await run([new TextEncoder().encode(`\uFEFF${list.join("\n")}\n`)]);
  expect(stats).toEqual({
    format: expect.stringContaining("email column"),
    rows: 25_002,
    imported: 25_000,
    already: 1,
    invalid: 1,
    unknownReason: 0,
    lifted: 0,
    problemLines: [25003],
  } satisfies ImportStats);
  expect(Math.max(...submitted)).toBe(1000);
  expect(lines.filter((l) => l.startsWith("import: "))).toHaveLength(2);
  expect(lines).toContain('line 25003: "nope" is not an email address; skipped');
});
