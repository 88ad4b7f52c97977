import { expect, test } from "bun:test";
import { jsonLogger } from "../../src/log.ts";

// The logger builds each line by hand (src/log.ts); it must be exactly the JSON it stands for.

test("a line is the JSON of time, level, msg and the fields, in that order", () => {
  const lines: string[] = [];
  const log = jsonLogger("debug", (l) => lines.push(l));
  const cases: (Record<string, unknown> | undefined)[] = [
    undefined,
    {},
    { status: 200, duration_ms: 1.5, ip: null, skipped: undefined },
    { nested: { a: [1, "two", { three: true }] }, quote: 'say "hi"\n', emoji: "📬", lone: "\uD800" },
  ];
  for (const fields of cases) log.log("info", 'a "quoted" message', fields);
  expect(lines).toHaveLength(cases.length);
  for (const [i, line] of lines.entries()) {
    expect(line.endsWith("\n")).toBe(true);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Date.parse(parsed.time as string)).not.toBeNaN();
    const expected = JSON.stringify({
      time: parsed.time,
      level: "info",
      msg: 'a "quoted" message',
      ...cases[i],
    });
    expect(line).toBe(`${expected}\n`);
  }
});
