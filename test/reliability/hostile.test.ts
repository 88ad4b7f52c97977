import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import fc from "fast-check";
import { normalizeAddress } from "../../src/events/address.ts";
import { runCli } from "../cli/run.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";
import { writeConfig } from "../helpers/daemon.ts";
import { emptyFigures, summaryLine } from "./helpers/figures.ts";
import {
  anyText,
  FORMULA_START,
  hostileBody,
  INJECTED_ADDRESSES,
  INJECTIONS,
  parseCsv,
  pathPart,
  propertyTimeout,
  runs,
  signBytes,
  UNICODE_ADDRESSES,
  unneutralise,
  unsignedDelivery,
} from "./helpers/hostile.ts";

/**
 * Hostile input against the in-process app (Hono's app.request, a real libSQL file), with
 * property-based tests: every answer is a clear 4xx, or a 200 that stored or quarantined the
 * event; never a 5xx. Raw bytes on the socket are tried against a real daemon in
 * hostile_daemon.test.ts.
 */
let tried = 0;
const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});
afterAll(() => {
  console.log(summaryLine("hostile", { ...emptyFigures(), hostile: tried }));
});

async function app(): Promise<TestApp> {
  const t = await makeApp();
  apps.push(t);
  return t;
}

const LIMIT = 256 * 1024;

describe("webhooks", () => {
  test(
    "property: an unsigned, badly signed or stale delivery gets 401 and changes nothing",
    async () => {
      const t = await app();
      const before = await t.counts();
      await fc.assert(
        fc.asyncProperty(unsignedDelivery(), async (a) => {
          tried++;
          const res = await t.app.request("/webhooks/resend", {
            method: "POST",
            body: a.body,
            headers: a.headers,
          });
          const json = (await res.json()) as Record<string, unknown>;
          expect(res.status, a.why).toBe(401);
          expect(json, a.why).toEqual({ error: "invalid_signature", message: expect.any(String) });
          expect(await t.counts(), a.why).toEqual(before);
        }),
        { numRuns: runs(300) },
      );
    },
    propertyTimeout(),
  );

  test(
    "property: a signed hostile body is stored or quarantined (200) or too large (413), never a 5xx",
    async () => {
      const t = await app();
      let n = 0;
      await fc.assert(
        fc.asyncProperty(hostileBody(), async ({ bytes, why }) => {
          tried++;
          const id = `msg_hostile_${++n}`;
          const before = (await t.counts()).webhook_events ?? 0;
          const res = await t.app.request("/webhooks/resend", {
            method: "POST",
            body: bytes,
            headers: signBytes(bytes, id),
          });
          const json = (await res.json()) as Record<string, unknown>;
          const after = (await t.counts()).webhook_events;
          if (bytes.length > LIMIT) {
            expect(res.status, why).toBe(413);
            expect(after, why).toBe(before);
            return;
          }
          expect(`${res.status} ${JSON.stringify(json).slice(0, 300)}`, why).toMatch(/^200 /);
          expect(["processed", "ignored", "quarantined"], why).toContain(json.status as string);
          // An ignored type is answered without a row (resend.recordIgnored false, the default).
          expect(after, why).toBe(json.status === "ignored" ? before : before + 1);
          if (!isUtf8(bytes)) expect(json.status, why).toBe("quarantined");
        }),
        { numRuns: runs(250) },
      );
      expect((await t.app.request("/readyz")).status).toBe(200);
    },
    propertyTimeout(),
  );

  test("a 'to' with 10,000 entries is quarantined whole, byte for byte; 100 is still an event", async () => {
    const t = await app();
    const many = (n: number) =>
      new TextEncoder().encode(
        JSON.stringify({
          type: "email.bounced",
          created_at: new Date().toISOString(),
          data: {
            to: Array.from({ length: n }, (_, i) => `m${i}@many.example`),
            bounce: { type: "Permanent" },
          },
        }),
      );
    tried += 2;
    const big = many(10_000);
    const res = await t.app.request("/webhooks/resend", {
      method: "POST",
      body: big,
      headers: signBytes(big, "msg_many"),
    });
    expect(await res.json()).toEqual({ status: "quarantined" });
    const q = await t.db.reader.execute("SELECT reason, body FROM quarantine WHERE svix_id = 'msg_many'");
    expect(String(q.rows[0]?.reason)).toContain("to");
    expect(new Uint8Array(q.rows[0]?.body as ArrayBuffer)).toEqual(big);
    expect((await t.counts()).suppressions).toBe(0);
    const hundred = many(100);
    const ok = await t.app.request("/webhooks/resend", {
      method: "POST",
      body: hundred,
      headers: signBytes(hundred, "msg_hundred"),
    });
    expect(await ok.json()).toEqual({ status: "processed" });
    expect((await t.counts()).suppressions).toBe(100);
  });

  test("object keys of the prototype are types and origins like any other, not handlers", async () => {
    const t = await app();
    const at = new Date().toISOString();
    const send = async (id: string, body: unknown) => {
      tried++;
      const bytes = new TextEncoder().encode(JSON.stringify(body));
      const res = await t.app.request("/webhooks/resend", {
        method: "POST",
        body: bytes,
        headers: signBytes(bytes, id),
      });
      return [res.status, ((await res.json()) as { status?: string }).status];
    };
    for (const key of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) {
      const email = `${key.replace(/_/g, "").toLowerCase()}@origin.example`;
      // An unknown type is acknowledged and ignored (a 4xx or 5xx would make Resend retry for a day).
      expect(await send(`msg_type_${key}`, { type: key, created_at: at, data: { to: ["p@x.com"] } })).toEqual(
        [200, "ignored"],
      );
      // An unknown origin suppresses as provider_suppressed, like any origin we do not know.
      expect(
        await send(`msg_origin_${key}`, {
          type: "suppression.added",
          created_at: at,
          data: { email, origin: key },
        }),
      ).toEqual([200, "processed"]);
      const row = await t.db.reader.execute({
        sql: "SELECT reason FROM suppressions WHERE email = ?",
        args: [email],
      });
      expect(row.rows[0]?.reason).toBe("provider_suppressed");
    }
  });
});

describe("injection, Unicode and IDN in addresses and notes", () => {
  test(
    "SQL-, CSV- and formula-injection is stored verbatim, leaves the tables intact, and is neutralised in both CSV exports",
    async () => {
      const t = await app();
      const stored = new Map<string, string>();
      const notes = fc.oneof(
        fc.constantFrom(...INJECTIONS),
        fc
          .tuple(
            fc.constantFrom("=", "+", "-", "@", "\t", "\r", "'", '"', ";"),
            fc.string({ unit: "grapheme", maxLength: 60 }),
          )
          .map(([a, b]) => a + b),
      );
      const local = fc.tuple(
        fc.constantFrom("=", "+", "-", "'", "%", "|", "{", "$", "@"),
        fc.stringMatching(/^[a-z0-9=+'|%{}$-]{0,20}$/),
      );
      // A fresh address each run: a second PUT of a suppressed address keeps its first note.
      let n = 0;
      const put = async (address: string, note: string) => {
        tried++;
        const res = await t.api("PUT", `/v1/suppressions/${encodeURIComponent(address)}`, {
          reason: "manual",
          note,
        });
        const body = (await res.json()) as { email: string; note: string; error?: string };
        const key = normalizeAddress(address);
        if (key === null) {
          expect(`${res.status} ${body.error}`, address).toBe("400 invalid_email");
          return;
        }
        if (note.includes("\0")) {
          // Refused: SQLite would keep it, but reads stop at the NUL and the note would come back cut.
          expect(`${res.status} ${body.error}`, address).toBe("400 invalid_request");
          return;
        }
        expect(res.status, address).toBe(200);
        expect(body.email).toBe(key);
        expect(body.note).toBe(note);
        stored.set(key, note);
      };
      for (const [i, address] of INJECTED_ADDRESSES.entries()) await put(address, INJECTIONS[i] as string);
      await fc.assert(
        fc.asyncProperty(local, notes, async ([a, b], note) => put(`${a}${b}.${++n}@inject.example`, note)),
        { numRuns: runs(150) },
      );
      // The same strings as recipients of signed webhooks, and as a note-like reason that is refused.
      for (const [i, raw] of [...INJECTIONS, ...INJECTED_ADDRESSES].entries()) {
        tried++;
        const bytes = new TextEncoder().encode(
          JSON.stringify({
            type: "email.complained",
            created_at: new Date().toISOString(),
            data: { to: [raw] },
          }),
        );
        const res = await t.app.request("/webhooks/resend", {
          method: "POST",
          body: bytes,
          headers: signBytes(bytes, `msg_inj_${i}`),
        });
        expect(res.status).toBe(200);
        const email = normalizeAddress(raw);
        if (email !== null && !stored.has(email)) stored.set(email, "");
      }
      tried++;
      const refused = await t.api("PUT", "/v1/suppressions/a%40inject.example", {
        reason: "'; DROP TABLE x; --",
      });
      expect(refused.status).toBe(400);

      const counts = await t.counts();
      expect(counts.suppressions).toBe(stored.size);

      const api = await t.api("GET", "/v1/suppressions?format=csv");
      expect(api.status).toBe(200);
      const fromApi = parseCsv(await api.text());
      const config = writeConfig(t.dir, join(t.dir, "test.db"));
      const cli = await runCli(["export", "--config", config]);
      expect(cli.code).toBe(0);
      const fromCli = parseCsv(cli.stdout);
      for (const rows of [fromApi, fromCli]) {
        expect(rows[0]).toEqual([
          "email",
          "reason",
          "first_suppressed_at",
          "suppressed_at",
          "updated_at",
          "note",
        ]);
        expect(rows.length - 1).toBe(stored.size);
        for (const row of rows) {
          expect(row).toHaveLength(6);
          for (const cell of row) expect(cell).not.toMatch(FORMULA_START);
        }
        // Read back the way `suppressd import` reads it: every address and note as it was stored.
        const back = new Map(
          rows.slice(1).map((r) => [unneutralise(r[0] as string), unneutralise(r[5] as string)]),
        );
        const differ = [...stored].filter(([email, note]) => back.get(email) !== note);
        expect(differ.map(([e, n]) => JSON.stringify([e, n, back.get(e)]))).toEqual([]);
      }
    },
    propertyTimeout(),
  );

  test("Unicode and IDN addresses: one key per address (NFC, lowercase), found however they are written", async () => {
    const t = await app();
    for (const [raw, key] of UNICODE_ADDRESSES) {
      tried++;
      const put = await t.api("PUT", `/v1/suppressions/${encodeURIComponent(raw)}`, { note: raw });
      expect(put.status, raw).toBe(200);
      expect(((await put.json()) as { email: string }).email).toBe(key);
      const got = await t.api("GET", `/v1/suppressions/${encodeURIComponent(key.normalize("NFD"))}`);
      expect(got.status, raw).toBe(200);
    }
    const keys = new Set(UNICODE_ADDRESSES.map(([, k]) => k));
    expect((await t.counts()).suppressions).toBe(keys.size);
    const check = await t.api("POST", "/v1/suppressions/check", {
      emails: UNICODE_ADDRESSES.map(([r]) => r),
    });
    const body = (await check.json()) as { suppressed: { email: string }[]; invalid: string[] };
    expect(body.invalid).toEqual([]);
    expect(new Set(body.suppressed.map((s) => s.email))).toEqual(keys);
  });

  test(
    "property: any address, however strange, is 200 (and then found again) or 400, never a 5xx",
    async () => {
      const t = await app();
      const address = fc.oneof(
        fc.emailAddress(),
        fc
          .tuple(fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }), fc.domain())
          .map(([l, d]) => `${l}@${d}`),
        fc.string({ unit: "grapheme", maxLength: 80 }),
        fc
          .tuple(
            fc.string({ unit: "grapheme-composite", minLength: 1, maxLength: 10 }),
            fc.constantFrom("x.com", "例子.广告", "bücher.de"),
          )
          .map(([l, d]) => `${l}@${d}`.normalize("NFD")),
      );
      await fc.assert(
        fc.asyncProperty(address, async (raw) => {
          tried++;
          const path = `/v1/suppressions/${encodeURIComponent(raw)}`;
          const res = await t.api("PUT", path, {});
          const body = (await res.json()) as { email?: string; error?: string };
          const key = normalizeAddress(raw);
          if (key === null) {
            // "", "." and ".." leave no path segment once the URL is resolved: no such route.
            const gone = ["", ".", ".."].includes(raw);
            expect(`${res.status} ${body.error}`, raw).toBe(gone ? "404 not_found" : "400 invalid_email");
            return;
          }
          expect(res.status, raw).toBe(200);
          expect(body.email).toBe(key);
          const again = await t.api("GET", path);
          expect(again.status, raw).toBe(200);
        }),
        { numRuns: runs(300) },
      );
    },
    propertyTimeout(),
  );
});

describe("the API with a valid token", () => {
  test(
    "property: arbitrary query strings and bodies on every /v1 route are 2xx or 4xx, never 5xx",
    async () => {
      const t = await app();
      await t.api("PUT", "/v1/suppressions/present@x.com", {});
      const text = fc.oneof(
        fc.string({ maxLength: 30 }),
        anyText(30),
        fc.constantFrom(...INJECTIONS),
        fc.constantFrom("-1", "0", "1e309", "NaN", "9".repeat(30)),
      );
      const query = fc
        .dictionary(fc.constantFrom("reason", "since", "limit", "cursor", "format", "status", "sink"), text, {
          maxKeys: 4,
        })
        .map((d) => new URLSearchParams(d as Record<string, string>).toString());
      const body = fc.oneof(
        fc.json({ maxDepth: 3 }),
        fc.string({ maxLength: 100 }),
        fc
          .record({
            emails: fc.array(fc.oneof(fc.emailAddress(), fc.string(), fc.jsonValue({ maxDepth: 1 })), {
              maxLength: 20,
            }),
          })
          .map((b) => JSON.stringify(b)),
        fc
          .record(
            { ids: fc.array(fc.oneof(fc.integer(), fc.string())), all: fc.jsonValue({ maxDepth: 1 }) },
            { requiredKeys: [] },
          )
          .map((b) => JSON.stringify(b)),
        fc
          .record({ reason: text, note: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: [] })
          .map((b) => JSON.stringify(b)),
      );
      const call = fc.oneof(
        query.map((q) => ["GET", `/v1/suppressions?${q}`, undefined] as const),
        query.map((q) => ["GET", `/v1/sync/jobs?${q}`, undefined] as const),
        body.map((b) => ["POST", "/v1/suppressions/check", b] as const),
        body.map((b) => ["POST", "/v1/sync/jobs/retry", b] as const),
        fc
          .tuple(fc.constantFrom("PUT", "DELETE", "GET"), fc.oneof(fc.emailAddress(), text), body)
          .map(([m, e, b]) => [m, `/v1/suppressions/${pathPart(e)}`, m === "PUT" ? b : undefined] as const),
      );
      await fc.assert(
        fc.asyncProperty(call, async ([method, path, b]) => {
          tried++;
          const res = await t.api(method, path, b);
          const why = `${method} ${path} ${String(b).slice(0, 100)}`;
          expect(res.status, why).toBeLessThan(500);
          if (res.status >= 400) {
            const json = (await res.json()) as Record<string, unknown>;
            // GET of an address that may be mailed answers 404 {email, suppressed: false, history}.
            const shape =
              json.suppressed === false ? ["email", "history", "suppressed"] : ["error", "message"];
            expect(Object.keys(json).sort(), why).toEqual(shape);
          } else await res.arrayBuffer();
        }),
        { numRuns: runs(400) },
      );
    },
    propertyTimeout(),
  );
});

function isUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
