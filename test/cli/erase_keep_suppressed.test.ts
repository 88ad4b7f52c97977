import { expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { appsClosedAfterEach, type TestApp } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { bounce, event, signedHeaders } from "../helpers/sign.ts";
import { runCli } from "./run.ts";

const makeApp = appsClosedAfterEach();
const KEY = "test-hash-key-0123456789abcdef0123456789";
const CRM = { type: "http", name: "crm", url: "https://crm.example/{{email}}" };
const GONE = "gone@example.com";

/** An address with a suppression, two reasons, history and a pending sync job; and a neighbour. */
async function setup(privacy: Record<string, unknown> = { hashKey: KEY }) {
  const t = await makeApp({ sinks: [CRM], privacy });
  for (const body of [bounce("Gone@Example.com"), bounce("neighbour@example.com")]) {
    const res = await webhook(t, body);
    expect(res.status).toBe(200);
  }
  await t.api("PUT", `/v1/suppressions/${GONE}`, { reason: "manual", note: "asked by phone, Jane Gone" });
  const config = writeConfig(t.dir, join(t.dir, "test.db"), { sinks: [CRM], privacy });
  return { t, config };
}

function webhook(t: TestApp, body: string) {
  return t.app.request("/webhooks/resend", { method: "POST", body, headers: signedHeaders(body) });
}

/** Every row of every table, as text: what a reader of the database file could see. */
async function everything(t: TestApp): Promise<Record<string, string>> {
  const tables = await t.db.reader.execute(
    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
  );
  const out: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const rows = await t.db.reader.execute(`SELECT * FROM "${name}"`);
    out[name as string] = JSON.stringify(
      rows.rows.map((r) =>
        Object.fromEntries(
          rows.columns.map((c) => [c, r[c] instanceof ArrayBuffer ? new TextDecoder().decode(r[c]) : r[c]]),
        ),
      ),
    );
  }
  return out;
}

/** No table holds the address, its local part, or the operator's personal note. */
async function expectNoPersonalData(t: TestApp) {
  const all = await everything(t);
  expect(Object.keys(all)).toContain("erased_suppressions");
  for (const [table, text] of Object.entries(all)) {
    for (const needle of ["gone@", "Gone@", "Jane Gone", "asked by phone"])
      expect({ table, found: text.includes(needle) }).toEqual({ table, found: false });
  }
  // The neighbour is untouched, so the check above could find an address if one were there.
  expect(all.suppressions).toContain("neighbour@example.com");
}

async function expectStillSuppressed(t: TestApp, config: string) {
  const get = await t.api("GET", `/v1/suppressions/${encodeURIComponent("Gone@Example.com")}`);
  expect(get.status).toBe(200);
  expect(await get.json()).toMatchObject({ email: GONE, suppressed: true, reason: "manual", erased: true });
  const bulk = await t.api("POST", "/v1/suppressions/check", {
    emails: ["GONE@example.com", "neighbour@example.com", "free@example.com"],
  });
  const out = (await bulk.json()) as { suppressed: { email: string; reason: string }[] };
  expect(out.suppressed.map((s) => `${s.email} ${s.reason}`).sort()).toEqual([
    "gone@example.com manual",
    "neighbour@example.com hard_bounce",
  ]);
  const check = await runCli(["check", GONE, "--config", config]);
  expect(check.code).toBe(1);
  expect(check.stdout).toContain(`${GONE}: suppressed, reason manual (erased on `);
}

test("forget --keep-suppressed: no personal data left in any table, and the address answers suppressed everywhere", async () => {
  const { t, config } = await setup();
  const dry = await runCli(["forget", GONE, "--keep-suppressed", "--config", config]);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain("nothing erased");
  expect(await everything(t).then((a) => a.suppressions?.includes(GONE))).toBe(true);

  const r = await runCli(["forget", GONE, "--keep-suppressed", "--yes", "--config", config]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(
    `${GONE}: erased 1 suppression(s), 2 reason row(s), 2 history row(s), 1 sync job(s); it stays suppressed (manual) by a keyed hash alone`,
  );
  // Its crm job had not been sent: the operator is told that sink never heard of it.
  expect(r.stdout).toContain("1 unsent sync job(s) were erased with it: crm never heard of this suppression");
  await expectNoPersonalData(t);
  const kept = await t.db.reader.execute("SELECT hash, reason FROM erased_suppressions");
  expect(kept.rows.map((x) => [x.hash, x.reason])).toEqual([
    [createHmac("sha256", KEY).update(GONE).digest("hex"), "manual"],
  ]);
  await expectStillSuppressed(t, config);

  // Later webhooks about it (a lift and a new bounce) are acknowledged, store nothing about it,
  // tell no sink anything, and leave it suppressed.
  const jobsBefore = (await t.counts()).sync_jobs;
  const lift = event("suppression.removed", {
    email: GONE,
    origin: "manual",
    id: "x",
    created_at: "2020-01-01",
  });
  for (const body of [lift, bounce(GONE)]) {
    const res = await webhook(t, body);
    expect(res.status).toBe(200);
  }
  expect((await t.counts()).sync_jobs).toBe(jobsBefore);
  await expectNoPersonalData(t);
  await expectStillSuppressed(t, config);

  // A plain DELETE cannot lift it: 409, with the way to let it be mailed, and nothing changes.
  const before = await everything(t);
  const del = await t.api("DELETE", `/v1/suppressions/${GONE}`, {});
  expect(del.status).toBe(409);
  expect(await del.json()).toEqual({
    error: "erased_suppression",
    message: `${GONE} was erased with keep-suppressed: only a keyed hash of it is kept, and it stays suppressed. To let it be mailed again, erase it entirely: suppressd forget ${GONE} --yes.`,
  });
  expect(await everything(t)).toEqual(before);

  // A full erasure removes the hash too: then, and only then, it may be mailed.
  const full = await runCli(["forget", GONE, "--yes", "--config", config]);
  expect(full.code).toBe(0);
  expect(full.stdout).toContain("and the suppression kept by its hash");
  expect((await t.counts()).suppressions).toBe(1);
  const get = await t.api("GET", `/v1/suppressions/${GONE}`);
  expect(get.status).toBe(404);
});

test("DELETE ?erase=keep-suppressed does the same over the API", async () => {
  const { t, config } = await setup();
  const res = await t.api(
    "DELETE",
    `/v1/suppressions/${encodeURIComponent("Gone@Example.com")}?erase=keep-suppressed`,
  );
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({
    email: GONE,
    suppressed: true,
    erased: true,
    reason: "manual",
    was_suppressed: true,
    erased_rows: { suppressions: 1, reasons: 2, history: 2, jobs: 1 },
    unsent_jobs: [{ sink: "crm", status: "pending" }],
  });
  await expectNoPersonalData(t);
  await expectStillSuppressed(t, config);
});

test("an address that was not suppressed is suppressed by the erasure (the person asked not to be mailed)", async () => {
  const { t, config } = await setup();
  const res = await t.api("DELETE", "/v1/suppressions/never@example.com?erase=keep-suppressed");
  expect(await res.json()).toMatchObject({ suppressed: true, reason: "manual", was_suppressed: false });
  const check = await runCli(["check", "never@example.com", "--config", config]);
  expect(check.code).toBe(1);
});

test("refused erasures change nothing: no privacy.hashKey (409 over HTTP, exit 78 on the CLI), a wrong erase value (400)", async () => {
  const { t, config } = await setup({});
  const before = await everything(t);
  const res = await t.api("DELETE", `/v1/suppressions/${GONE}?erase=keep-suppressed`);
  expect(res.status).toBe(409);
  expect(await res.json()).toEqual({
    error: "hash_key_missing",
    message:
      "erase=keep-suppressed needs privacy.hashKey in the server's configuration (at least 32 characters); nothing was erased.",
  });
  const cli = await runCli(["forget", GONE, "--keep-suppressed", "--yes", "--config", config]);
  expect(cli.code).toBe(78);
  expect(cli.stderr).toContain("forget --keep-suppressed needs privacy.hashKey in the configuration");
  expect(cli.stderr).not.toContain("    at ");
  const bad = await t.api("DELETE", `/v1/suppressions/${GONE}?erase=everything`);
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toBe("invalid_request");
  expect(await everything(t)).toEqual(before);
});
