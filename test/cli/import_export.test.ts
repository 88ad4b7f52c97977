import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tableCounts, tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { openTestDb, runCli } from "./run.ts";

const tmp = tempDir();
const dbFile = join(tmp.dir, "s.db");
let config: string;

beforeAll(() => {
  config = writeConfig(tmp.dir, dbFile);
});
afterAll(() => tmp.cleanup());

async function inspect(file: string) {
  const t = await openTestDb(file);
  try {
    const rows = await t.db.read.selectFrom("suppressions").selectAll().orderBy("email").execute();
    return { rows, counts: await tableCounts(t.db) };
  } finally {
    await t.close();
  }
}

// A BOM, CRLF, quoted fields with commas, quotes and newlines, a display name, and five bad rows.
const CSV = [
  "\uFEFFEmail,Reason,Note,suppressed_at,extra",
  'A@Example.com,complaint,"said ""stop"", twice",2025-03-04T05:06:07Z,x',
  "Bob <bob@example.com>,,,,",
  'carol@example.com,hard_bounce,"line one\r\nline two",2025-01-01,',
  "not-an-address,manual,,,",
  "dave@example.com,bouncy,,,",
  "erin@example.com,,,04/05/2025,",
  ",manual,,,",
  "frank@example.com,,,2999-01-01,",
  "",
  '-dash@example.com,manual,=HYPERLINK("http://x"),,',
].join("\r\n");

test("import: good rows are written, bad rows reported with their line and skipped; exit 65", async () => {
  const file = join(tmp.dir, "list.csv");
  writeFileSync(file, CSV);
  const r = await runCli(["import", "--config", config, file]);
  expect(r.code).toBe(65);
  expect(r.stdout).toBe(
    "format: CSV with an email column (reason, note, suppressed_at or created_at are read when present)\n" +
      "imported 4, already suppressed 0, invalid 4, unknown reason 1 (9 rows); not imported: lines 6, 7, 8, 9, 10\n",
  );
  expect(r.stderr).toContain('line 6: "not-an-address" is not an email address; skipped');
  expect(r.stderr).toContain('line 7: unknown reason "bouncy" (known: hard_bounce,');
  expect(r.stderr).toContain('line 8: "04/05/2025" is not an ISO 8601 date or time');
  expect(r.stderr).toContain("line 9: no email");
  expect(r.stderr).toContain("line 10: 2999-01-01T00:00:00.000Z is in the future");
  expect(r.stderr).toContain("5 rows were not imported (listed above)");
  expect(r.stderr).toContain("--allow-invalid");

  const { rows, counts } = await inspect(dbFile);
  expect(rows.map((row) => [row.email, row.reason, row.note])).toEqual([
    ["-dash@example.com", "manual", '=HYPERLINK("http://x")'],
    ["a@example.com", "complaint", 'said "stop", twice'],
    ["bob@example.com", "imported", null],
    ["carol@example.com", "hard_bounce", "line one\r\nline two"],
  ]);
  expect(rows[1]?.suppressed_at).toBe(Date.parse("2025-03-04T05:06:07Z"));
  expect(rows[3]?.suppressed_at).toBe(Date.parse("2025-01-01T00:00:00Z"));
  expect(counts.suppression_events).toBe(4);

  const again = await runCli(["import", "--config", config, "--allow-invalid", file]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("imported 0, already suppressed 4, invalid 4, unknown reason 1 (9 rows)");
  expect((await inspect(dbFile)).counts).toEqual(counts);
});

test("export round trip: export, import into an empty database: the same addresses, reasons, dates and notes", async () => {
  const out = join(tmp.dir, "export.csv");
  const r = await runCli(["export", "--config", config, "--output", out]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("exported 4 addresses");
  expect(statSync(out).mode & 0o777).toBe(0o600);
  const exported = readFileSync(out, "utf8");
  expect(exported.split("\n")[0]).toBe("email,reason,first_suppressed_at,suppressed_at,updated_at,note");
  // Neutralised for spreadsheets on the way out…
  expect(exported).toContain("'-dash@example.com,manual,");
  expect(exported).toContain(`"'=HYPERLINK(""http://x"")"`);

  const dir = join(tmp.dir, "second");
  mkdirSync(dir);
  const secondDb = join(dir, "s.db");
  const second = writeConfig(dir, secondDb);
  const imported = await runCli(["import", "--config", second, out]);
  expect(imported.code).toBe(0);
  expect(imported.stdout).toBe(
    "format: CSV with an email column (reason, note, suppressed_at or created_at are read when present)\nimported 4, already suppressed 0, invalid 0, unknown reason 0 (4 rows)\n",
  );
  // …and read back as the original values.
  const strip = (rows: { email: string; reason: string; suppressed_at: number; note: string | null }[]) =>
    rows.map((row) => [row.email, row.reason, row.suppressed_at, row.note]);
  expect(strip((await inspect(secondDb)).rows)).toEqual(strip((await inspect(dbFile)).rows));

  const onlyComplaints = await runCli(["export", "--config", second, "--reason", "complaint"]);
  expect(onlyComplaints.code).toBe(0);
  expect(onlyComplaints.stdout.trim().split("\n")).toHaveLength(2);
  expect(onlyComplaints.stdout).toContain("a@example.com,complaint,");
});

test("import from standard input; a file without an email column or a missing file is a usage error", async () => {
  const dir = join(tmp.dir, "third");
  mkdirSync(dir);
  const third = writeConfig(dir, join(dir, "s.db"));
  const stdin = await runCli(["import", "--config", third, "-"], { stdin: "email\nz@example.com\n" });
  expect(stdin.stdout).toBe(
    "format: CSV with an email column (reason, note, suppressed_at or created_at are read when present)\nimported 1, already suppressed 0, invalid 0, unknown reason 0 (1 rows)\n",
  );

  const noColumn = join(dir, "bad.csv");
  writeFileSync(noColumn, "address,reason\nz@example.com,manual\n");
  const [header, missing, reason] = await Promise.all([
    runCli(["import", "--config", third, noColumn]),
    runCli(["import", "--config", third, join(dir, "nope.csv")]),
    runCli(["export", "--config", third, "--reason", "spam"]),
  ]);
  expect(header.code).toBe(2);
  expect(header.stderr).toContain("email column");
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain("cannot read");
  expect(reason.code).toBe(2);
});

test("a larger file is written in chunks with progress on stderr", async () => {
  const dir = join(tmp.dir, "large");
  mkdirSync(dir);
  const large = writeConfig(dir, join(dir, "s.db"));
  const file = join(dir, "large.csv");
  const lines = ["email,reason"];
  for (let i = 0; i < 20_000; i++) lines.push(`user${i}@example.com,unsubscribe`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  const r = await runCli(["import", "--config", large, file]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    "format: CSV with an email column (reason, note, suppressed_at or created_at are read when present)\nimported 20000, already suppressed 0, invalid 0, unknown reason 0 (20000 rows)\n",
  );
  expect(r.stderr).toContain("import: 10000 rows written");
  expect(r.stderr).toContain("import: 20000 rows written");
  const { counts } = await inspect(join(dir, "s.db"));
  expect(counts.suppressions).toBe(20_000);
});
