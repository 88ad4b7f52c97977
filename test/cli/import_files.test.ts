import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zipSync } from "fflate";
import { tableCounts, tempDir } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { openTestDb, runCli } from "./run.ts";

/** `suppressd import` on the files users really have, as a real process on a real database. */
const tmp = tempDir();
const FIXTURES = join(import.meta.dir, "../fixtures");
afterAll(() => tmp.cleanup());

let n = 0;
/** A fresh config and database for one test. */
function fresh() {
  const dir = join(tmp.dir, `t${++n}`);
  mkdirSync(dir);
  const db = join(dir, "s.db");
  return { dir, db, config: writeConfig(dir, db) };
}

async function suppressions(file: string) {
  const t = await openTestDb(file);
  try {
    const rows = await t.db.read
      .selectFrom("suppressions")
      .select(["email", "reason", "suppressed_at", "note"])
      .orderBy("email")
      .execute();
    return {
      rows: rows.map((r) => [r.email, r.reason, new Date(r.suppressed_at).toISOString()]),
      counts: await tableCounts(t.db),
    };
  } finally {
    await t.close();
  }
}

let zipFile: string;
beforeAll(() => {
  zipFile = join(FIXTURES, "mailchimp/members_export_4f6a2c1b9e.zip");
});

test("Mailchimp's export zip as downloaded: unsubscribed and cleaned members imported, subscribed ones not", async () => {
  const { db, config } = fresh();
  const r = await runCli(["import", "--config", config, zipFile]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    [
      "cleaned_members_export_4f6a2c1b9e.csv: format: Mailchimp cleaned members export (rows become hard_bounce, at CLEAN_TIME)",
      "cleaned_members_export_4f6a2c1b9e.csv: imported 2, already suppressed 0, invalid 0, unknown reason 0 (2 rows)",
      "unsubscribed_members_export_4f6a2c1b9e.csv: format: Mailchimp unsubscribed members export (rows become unsubscribe, at UNSUB_TIME)",
      "unsubscribed_members_export_4f6a2c1b9e.csv: imported 3, already suppressed 0, invalid 0, unknown reason 0 (3 rows)",
      "total: imported 5, already suppressed 0, invalid 0, unknown reason 0 (5 rows)",
      "",
    ].join("\n"),
  );
  expect(r.stderr).toContain(
    "subscribed_members_export_4f6a2c1b9e.csv: not imported (only unsubscribed_* and cleaned_* members are suppressed)",
  );
  const { rows } = await suppressions(db);
  expect(rows).toEqual([
    ["ada@example.com", "unsubscribe", "2025-06-03T08:15:42.000Z"],
    ["grace.hopper@example.com", "unsubscribe", "2025-07-14T21:03:09.000Z"],
    ["linus@example.com", "unsubscribe", "2025-08-01T00:00:01.000Z"],
    ["old.mailbox@example.net", "hard_bounce", "2025-05-20T06:30:00.000Z"],
    ["typo@exmaple.com", "hard_bounce", "2024-10-11T04:00:00.000Z"],
  ]);

  // The same zip from standard input, again: nothing changes.
  const before = (await suppressions(db)).counts;
  const again = await runCli(["import", "--config", config, "-"], {
    stdin: readFileSync(zipFile) as unknown as string,
  });
  expect(again.code).toBe(0);
  expect(again.stdout).toContain(
    "total: imported 0, already suppressed 5, invalid 0, unknown reason 0 (5 rows)",
  );
  expect((await suppressions(db)).counts).toEqual(before);
});

test("the unsubscribed CSV on its own, and Resend's suppression list", async () => {
  const { db, config } = fresh();
  const mc = await runCli([
    "import",
    "--config",
    config,
    join(FIXTURES, "mailchimp/unsubscribed_members_export_4f6a2c1b9e.csv"),
  ]);
  expect(mc.code).toBe(0);
  expect(mc.stdout.split("\n")[0]).toBe(
    "format: Mailchimp unsubscribed members export (rows become unsubscribe, at UNSUB_TIME)",
  );
  const resend = await runCli([
    "import",
    "--config",
    config,
    join(FIXTURES, "resend/suppressions-export.csv"),
  ]);
  expect(resend.code).toBe(0);
  expect(resend.stdout).toBe(
    "format: Resend suppression list (origin bounce → hard_bounce, complaint → complaint, manual → provider_suppressed)\n" +
      "imported 3, already suppressed 0, invalid 0, unknown reason 0 (3 rows)\n",
  );
  const { rows } = await suppressions(db);
  expect(rows.filter(([e]) => e?.includes("wozniak") || e?.includes("kare") || e?.includes("angry"))).toEqual(
    [
      ["angry.reader@example.org", "complaint", "2026-10-08T12:00:00.000Z"],
      ["steve.wozniak@example.com", "provider_suppressed", "2026-10-06T23:47:56.678Z"],
      ["susan.kare@example.com", "hard_bounce", "2026-10-07T08:12:03.412Z"],
    ],
  );
});

test("a plain list with --reason; a reason word --reason does not know is a usage error", async () => {
  const { db, config } = fresh();
  const r = await runCli([
    "import",
    "--config",
    config,
    "--reason",
    "Hard Bounce",
    join(FIXTURES, "plain/addresses.txt"),
  ]);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(
    "format: plain list, one address per line (reason from --reason, else imported)\n" +
      "imported 3, already suppressed 0, invalid 0, unknown reason 0 (3 rows)\n",
  );
  expect((await suppressions(db)).rows.map(([e, reason]) => [e, reason])).toEqual([
    ["one@example.com", "hard_bounce"],
    ["three@example.com", "hard_bounce"],
    ["two@example.com", "hard_bounce"],
  ]);
  const bad = await runCli([
    "import",
    "--config",
    config,
    "--reason",
    "sometimes",
    join(FIXTURES, "plain/addresses.txt"),
  ]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("--reason sometimes: use one of hard_bounce,");
});

test("rows not imported: exit 65 listing their lines; --allow-invalid exits 0; the good rows are in either way", async () => {
  const { dir, db, config } = fresh();
  const file = join(dir, "mixed.txt");
  writeFileSync(file, "good@example.com\nnot an address\nalso.good@example.com\n");
  const r = await runCli(["import", "--config", config, file]);
  expect(r.code).toBe(65);
  expect(r.stdout).toContain(
    "imported 2, already suppressed 0, invalid 1, unknown reason 0 (3 rows); not imported: line 2",
  );
  expect(r.stderr).toContain('line 2: "not an address" is not an email address; skipped');
  expect(r.stderr).toContain("1 row was not imported");
  const allowed = await runCli(["import", "--config", config, "--allow-invalid", file]);
  expect(allowed.code).toBe(0);
  expect((await suppressions(db)).rows).toHaveLength(2);
});

test("refused whole, database untouched: a subscribed export, a zip without member files, a broken zip", async () => {
  const { dir, db, config } = fresh();
  await runCli(["import", "--config", config, join(FIXTURES, "plain/addresses.txt")]);
  const before = (await suppressions(db)).counts;
  const other = join(dir, "other.zip");
  writeFileSync(other, zipSync({ "readme.txt": new TextEncoder().encode("hello") }));
  const broken = join(dir, "broken.zip");
  writeFileSync(broken, readFileSync(zipFile).subarray(0, 200));
  const [subscribed, noMembers, cut] = await Promise.all([
    runCli([
      "import",
      "--config",
      config,
      join(FIXTURES, "mailchimp/subscribed_members_export_4f6a2c1b9e.csv"),
    ]),
    runCli(["import", "--config", config, other]),
    runCli(["import", "--config", config, broken]),
  ]);
  expect(subscribed.code).toBe(2);
  expect(subscribed.stderr).toContain("is a Mailchimp export of subscribed members: they may be mailed");
  expect(noMembers.code).toBe(2);
  expect(noMembers.stderr).toContain(
    "is a zip without unsubscribed_*.csv or cleaned_*.csv (it holds: readme.txt)",
  );
  expect(cut.code).toBe(2);
  expect(cut.stderr).toContain("looks like a zip but cannot be read");
  for (const r of [subscribed, noMembers, cut]) expect(r.stderr).not.toMatch(/\n\s+at /);
  expect((await suppressions(db)).counts).toEqual(before);
});
