import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import fc from "fast-check";
import { claimDue } from "../../src/db/outbox.ts";
import { REASONS } from "../../src/suppression/types.ts";
import { runCli } from "../cli/run.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { TOKEN } from "../helpers/config.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { emptyFigures, summaryLine } from "./helpers/figures.ts";
import {
  anyAddress,
  anyText,
  parseCsv,
  pathPart,
  propertyTimeout,
  runs,
  signBytes,
} from "./helpers/hostile.ts";

/**
 * Issue 8: one string with a lone surrogate (a note cut in the middle of an emoji, a signed
 * `"\ud800x@example.com"`) was stored as bytes that are not UTF-8, and libsql aborted the process
 * on every later read. Here every string field of every route and of signed bodies gets full
 * Unicode (every code point, lone surrogates, non-characters, cut emoji); then every table is
 * read back through the daemon's own code paths, and the file is scanned for invalid UTF-8.
 * A regression aborts this process: the run fails as loudly as the daemon would have.
 */
const figures = { ...emptyFigures(), extra: {} as Record<string, number> };
const count = (k: string) => {
  figures.extra[k] = (figures.extra[k] ?? 0) + 1;
};
afterAll(() => console.log(summaryLine("hostile_unicode", figures)));

const T = () => new Date().toISOString();

/** Whether any string in `value` holds a lone surrogate: JSON.stringify escapes only those. */
function illFormed(value: unknown): boolean {
  return /(?<!\\)(?:\\\\)*\\ud[89a-f]/.test(JSON.stringify(value));
}

const signedBody = fc.record(
  {
    type: fc.oneof(
      fc.constantFrom("email.bounced", "email.complained", "email.suppressed", "email.delivered"),
      fc.constantFrom("suppression.added", "suppression.removed", "contact.updated", "email.opened"),
      anyText(),
    ),
    created_at: fc.oneof(fc.constant(null).map(T), anyText()),
    data: fc.record(
      {
        to: fc.oneof(
          fc.array(anyAddress(), { maxLength: 5 }),
          fc.array(anyAddress(), { maxLength: 5 }).map((a) => a.join(",")),
        ),
        email: anyAddress(),
        origin: fc.oneof(fc.constantFrom("bounce", "complaint", "manual"), anyText()),
        unsubscribed: fc.boolean(),
        bounce: fc.record({
          type: fc.oneof(fc.constantFrom("Permanent", "Transient"), anyText()),
          message: anyText(),
        }),
        id: anyText(),
        subject: anyText(),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ["type", "created_at", "data"] },
);

type Call = { kind: string; method: string; path: string; body?: unknown };
const apiCall: fc.Arbitrary<Call> = fc.oneof(
  fc
    .tuple(anyAddress(), fc.oneof(fc.constantFrom(...REASONS), anyText()), anyText(200), anyText(8))
    .map(([e, reason, note, key]) => ({
      kind: "put",
      method: "PUT",
      path: `/v1/suppressions/${pathPart(e)}`,
      body: key.length % 3 === 0 ? { reason, note, [key]: 1 } : { reason, note },
    })),
  anyAddress().map((e) => ({ kind: "get", method: "GET", path: `/v1/suppressions/${pathPart(e)}` })),
  anyAddress().map((e) => ({ kind: "delete", method: "DELETE", path: `/v1/suppressions/${pathPart(e)}` })),
  fc
    .array(anyAddress(), { maxLength: 6 })
    .map((emails) => ({ kind: "check", method: "POST", path: "/v1/suppressions/check", body: { emails } })),
  fc
    .tuple(
      anyText(),
      anyText(),
      fc.oneof(
        anyText(),
        fc.tuple(fc.integer(), anyText()).map((c) => JSON.stringify(c)),
      ),
    )
    .map(([reason, since, cursor]) => ({
      kind: "list",
      method: "GET",
      path: `/v1/suppressions?reason=${pathPart(reason)}&since=${pathPart(since)}&cursor=${Buffer.from(cursor).toString("base64url")}`,
    })),
  fc.tuple(anyText(), anyText()).map(([status, sink]) => ({
    kind: "jobs",
    method: "GET",
    path: `/v1/sync/jobs?status=${pathPart(status)}&sink=${pathPart(sink)}`,
  })),
  anyText().map((sink) => ({
    kind: "retry",
    method: "POST",
    path: "/v1/sync/jobs/retry",
    body: { all: true, sink },
  })),
);

async function readBack(t: TestApp, cli: boolean) {
  const get = async (path: string) => {
    const res = await t.api("GET", path);
    expect(res.status, path).toBeLessThan(500);
    return res;
  };
  // The list, page by page, and each address with its history.
  const listed: string[] = [];
  for (let cursor = ""; ; ) {
    const page = (await (await get(`/v1/suppressions?limit=100${cursor}`)).json()) as {
      items: { email: string; note: string | null }[];
      next_cursor: string | null;
    };
    listed.push(...page.items.map((i) => i.email));
    for (const i of page.items) expect(i.email.isWellFormed() && (i.note ?? "").isWellFormed()).toBe(true);
    if (!page.next_cursor) break;
    cursor = `&cursor=${page.next_cursor}`;
  }
  for (const email of listed)
    expect((await get(`/v1/suppressions/${pathPart(email)}`)).status, email).toBe(200);
  const csv = parseCsv(await (await get("/v1/suppressions?format=csv")).text());
  expect(csv.length - 1).toBe(listed.length);
  for (let cursor = ""; ; ) {
    const page = (await (await get(`/v1/sync/jobs?limit=1000${cursor}`)).json()) as {
      items: unknown[];
      next_cursor: string | null;
    };
    if (!page.next_cursor) break;
    cursor = `&cursor=${page.next_cursor}`;
  }
  const metrics = await t.app.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(metrics.status).toBe(200);
  const now = Date.now();
  const claimed = await claimDue(t.db.write, {
    owner: "t",
    now,
    leaseUntil: now + 60_000,
    limit: 100_000,
    sinks: ["crm"],
  });
  for (const j of claimed) expect(j.email.isWellFormed()).toBe(true);
  figures.extra.jobs_claimed = (figures.extra.jobs_claimed ?? 0) + claimed.length;
  figures.extra.read_backs = (figures.extra.read_backs ?? 0) + 1;
  if (!cli) return { listed: listed.length, claimed: claimed.length };
  // The CLI reads the same file in other processes: status, export, events, jobs.
  const config = writeConfig(t.dir, join(t.dir, "test.db"), {
    sinks: [{ type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" }],
  });
  for (const args of [["status", "--json"], ["export"], ["events", "list"], ["jobs", "list"]]) {
    const r = await runCli([...args, "--config", config]);
    expect(r.stderr, args.join(" ")).not.toContain("panicked");
    expect([0, 1, 69], `${args.join(" ")}: ${r.stderr}`).toContain(r.code);
  }
  return { listed: listed.length, claimed: claimed.length };
}

/** Text values anywhere in the file that are not UTF-8, found without reading them as text. */
async function invalidUtf8(t: TestApp): Promise<string[]> {
  const bad: string[] = [];
  const strict = new TextDecoder("utf-8", { fatal: true });
  const tables = await t.db.reader.execute(
    "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
  );
  for (const { name } of tables.rows) {
    const cols = await t.db.reader.execute({
      sql: "SELECT name FROM pragma_table_info(?) WHERE upper(type) = 'TEXT'",
      args: [name as string],
    });
    for (const { name: col } of cols.rows) {
      const r = await t.db.reader.execute(`SELECT CAST("${col}" AS BLOB) AS b FROM "${name}"`);
      for (const row of r.rows) {
        try {
          if (row.b !== null) strict.decode(new Uint8Array(row.b as ArrayBuffer));
        } catch {
          bad.push(`${name}.${col}`);
        }
      }
    }
  }
  return bad;
}

test(
  "property: full Unicode in every string field of every route and signed body; every table reads back",
  async () => {
    const t = await makeApp({ sinks: [{ type: "http", name: "crm", url: "http://127.0.0.1:9/{{email}}" }] });
    let n = 0;
    // Printed first, so a run that takes the process down can still be replayed (FC_SEED=…).
    const seed = Number(process.env.FC_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`hostile_unicode seed ${seed}`);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            signedBody.map((b) => ({ kind: "webhook", body: b }) as const),
            apiCall,
          ),
          async (call) => {
            // Every 100 inputs the tables are read back in-process too, so a bad row is caught
            // close to the input that wrote it.
            if (++figures.hostile % 100 === 0) await readBack(t, false);
            if (call.kind === "webhook") {
              const bytes = new TextEncoder().encode(JSON.stringify(call.body));
              const res = await t.app.request("/webhooks/resend", {
                method: "POST",
                body: bytes,
                headers: signBytes(bytes, `msg_unicode_${++n}`),
              });
              const json = (await res.json()) as { status: string };
              expect(res.status, JSON.stringify(call.body).slice(0, 200)).toBe(200);
              count(`webhook_${json.status}`);
              return;
            }
            const c = call as Call;
            const before = c.body !== undefined ? await t.counts() : null;
            const res = await t.api(c.method, c.path, c.body);
            const why = `${c.method} ${c.path} ${JSON.stringify(c.body)?.slice(0, 200)}`;
            expect(res.status, why).toBeLessThan(500);
            const json = (await res.json()) as Record<string, unknown>;
            if (res.status >= 400 && json.suppressed !== false) {
              expect(Object.keys(json).sort(), why).toEqual(["error", "message"]);
              count(`api_${res.status}_${json.error}`);
            } else count(`api_${res.status}`);
            if (c.body !== undefined && illFormed(c.body)) {
              // Refused whole: 400 for the address or the text (404 where "", "." or ".." left no
              // address in the path), and nothing stored.
              expect(["400 invalid_text", "400 invalid_email", "404 not_found"], why).toContain(
                `${res.status} ${json.error}`,
              );
              expect(await t.counts(), why).toEqual(before as Record<string, number>);
            }
          },
        ),
        { numRuns: runs(600), seed },
      );
      const back = await readBack(t, true);
      figures.extra.rows_read_back = back.listed;
      expect(await invalidUtf8(t)).toEqual([]);
    } finally {
      await t.close();
    }
  },
  propertyTimeout() * 2,
);
