import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, event, newId, signedHeaders } from "../helpers/sign.ts";

/**
 * One real `suppressd serve` process on a real libSQL file, over real HTTP, with requests signed
 * the way Resend signs them. The database is read from this process through its own connection.
 */
const tmp = tempDir();
const dbFile = join(tmp.dir, "ingest.db");
let daemon: RunningDaemon;
let db: Client;

beforeAll(async () => {
  daemon = await startDaemon({ config: writeConfig(tmp.dir, dbFile) });
  db = createClient({ url: `file:${dbFile}` });
});
afterAll(async () => {
  db?.close();
  expect(await daemon?.stop()).toBe(0);
  tmp.cleanup();
});

function post(body: string | ReadableStream<Uint8Array>, headers: Record<string, string>) {
  return fetch(`${daemon.url}/webhooks/resend`, { method: "POST", body, headers });
}

async function count(sql: string, ...args: string[]): Promise<number> {
  return Number((await db.execute({ sql, args })).rows[0]?.n);
}

describe("concurrency over real HTTP", () => {
  test("one message delivered 20 times at once: one processed, 19 duplicates, one history entry", async () => {
    const body = bounce("twenty@x.com", "Permanent");
    const id = newId();
    const headers = signedHeaders(body, { id });
    const responses = await Promise.all(Array.from({ length: 20 }, () => post(body, headers)));
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    const statuses = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { status: string }).status),
    );
    expect(statuses.filter((s) => s === "processed")).toHaveLength(1);
    expect(statuses.filter((s) => s === "duplicate")).toHaveLength(19);

    expect(await count("SELECT count(*) AS n FROM webhook_events WHERE svix_id = ?", id)).toBe(1);
    expect(await count("SELECT count(*) AS n FROM suppression_events WHERE svix_id = ?", id)).toBe(1);
    const got = await fetch(`${daemon.url}/v1/suppressions/twenty@x.com`, { headers: authHeaders() });
    expect(((await got.json()) as { history: unknown[] }).history).toHaveLength(1);
  });

  test("64 distinct deliveries at once all get 200 on the first try and are all stored", async () => {
    const deliveries = Array.from({ length: 64 }, (_, i) => {
      const body = bounce(`c${i}@concurrent.example`, "Permanent");
      return { body, headers: signedHeaders(body) };
    });
    const responses = await Promise.all(deliveries.map((d) => post(d.body, d.headers)));
    expect(responses.map((r) => r.status)).toEqual(Array(64).fill(200));
    const statuses = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { status: string }).status),
    );
    expect(new Set(statuses)).toEqual(new Set(["processed"]));

    const ids = deliveries.map((d) => d.headers["svix-id"]);
    const stored = await db.execute({
      sql: "SELECT count(*) AS n FROM webhook_events WHERE svix_id IN (SELECT value FROM json_each(?))",
      args: [JSON.stringify(ids)],
    });
    expect(Number(stored.rows[0]?.n)).toBe(64);
    expect(
      await count(
        "SELECT count(*) AS n FROM suppressions WHERE email LIKE '%@concurrent.example' AND suppressed = 1",
      ),
    ).toBe(64);
    const check = await fetch(`${daemon.url}/v1/suppressions/check`, {
      method: "POST",
      headers: authHeaders(),
      body: JSON.stringify({ emails: deliveries.map((_, i) => `c${i}@concurrent.example`) }),
    });
    expect(((await check.json()) as { suppressed: unknown[] }).suppressed).toHaveLength(64);
  });

  test("a delivery sent chunked (no Content-Length), in pieces that split characters, is stored whole", async () => {
    // The limit is counted as the pieces arrive (src/http/json.ts); under it, the bytes are joined.
    const body = bounce("chunked.é✓@x.com", "Permanent");
    const bytes = new TextEncoder().encode(body);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7));
        controller.close();
      },
    });
    const res = await post(stream, signedHeaders(body));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "processed" });
    const got = await fetch(`${daemon.url}/v1/suppressions/${encodeURIComponent("chunked.é✓@x.com")}`, {
      headers: authHeaders(),
    });
    expect(((await got.json()) as { suppressed: boolean }).suppressed).toBe(true);
  });

  test("a client that hangs up before its declared body arrived: a 400 in the log, nothing stored, the next delivery fine", async () => {
    const body = bounce("hung-up@x.com", "Permanent");
    const id = newId();
    const headers = { ...signedHeaders(body, { id }), "content-length": String(body.length) };
    const { port, hostname } = new URL(daemon.url);
    // Half the body after the headers, then the socket closes: what a proxy or client that dies
    // mid-request leaves (fetch cannot send a shorter body than it declares).
    await new Promise<void>((resolve, reject) => {
      Bun.connect({
        hostname,
        port: Number(port),
        socket: {
          open(socket) {
            const head = Object.entries(headers)
              .map(([k, v]) => `${k}: ${v}\r\n`)
              .join("");
            socket.write(`POST /webhooks/resend HTTP/1.1\r\nhost: ${hostname}\r\n${head}\r\n`);
            socket.write(body.slice(0, body.length / 2));
            setTimeout(() => socket.end(), 100);
          },
          close: () => resolve(),
          error: (_s, e) => reject(e),
          data() {},
        },
      }).catch(reject);
    });
    const line = async () =>
      daemon
        .stdout()
        .split("\n")
        .find((l) => l.includes(id));
    for (let i = 0; i < 100 && !(await line()); i++) await Bun.sleep(20);
    const logged = JSON.parse((await line()) as string) as Record<string, unknown>;
    expect(logged).toMatchObject({ path: "/webhooks/resend", status: 400, outcome: "body_incomplete" });
    expect(await count("SELECT count(*) AS n FROM webhook_events WHERE svix_id = ?", id)).toBe(0);
    expect(await count("SELECT count(*) AS n FROM suppressions WHERE email = ?", "hung-up@x.com")).toBe(0);
    // The id was not burnt: the whole delivery, retried, is processed.
    const retried = await post(body, signedHeaders(body, { id }));
    expect(await retried.json()).toEqual({ status: "processed" });
  });

  test("64 concurrent copies of 8 messages: 8 processed, 56 duplicates", async () => {
    const messages = Array.from({ length: 8 }, (_, i) => {
      const body = event("email.complained", { to: [`m${i}@mixed.example`] });
      return { body, id: newId() };
    });
    const responses = await Promise.all(
      Array.from({ length: 64 }, (_, i) => {
        const m = messages[i % 8] as { body: string; id: string };
        return post(m.body, signedHeaders(m.body, { id: m.id }));
      }),
    );
    const statuses = await Promise.all(
      responses.map(async (r) => ((await r.json()) as { status: string }).status),
    );
    expect(statuses.filter((s) => s === "processed")).toHaveLength(8);
    expect(statuses.filter((s) => s === "duplicate")).toHaveLength(56);
    expect(
      await count("SELECT count(*) AS n FROM suppression_events WHERE email LIKE '%@mixed.example'"),
    ).toBe(8);
  });
});

describe("bad input over real HTTP: status, error body, database unchanged", () => {
  async function snapshot() {
    const out: number[] = [];
    for (const t of ["webhook_events", "quarantine", "suppressions", "suppression_events", "sync_jobs"]) {
      out.push(await count(`SELECT count(*) AS n FROM ${t}`));
    }
    return out;
  }
  const body = bounce("bad-input@x.com");
  const oversized = (() => {
    const base = event("email.bounced", { to: ["big@x.com"], bounce: { type: "Permanent" }, pad: "" });
    return base.replace('"pad":""', `"pad":"${"x".repeat(256 * 1024 + 1 - base.length)}"`);
  })();
  const cases: [string, () => Promise<Response>, number, string][] = [
    ["unsigned", () => post(body, { "content-type": "application/json" }), 401, "invalid_signature"],
    [
      "tampered",
      () => post(body.replace("bad-input", "other"), signedHeaders(body)),
      401,
      "invalid_signature",
    ],
    [
      "stale",
      () => post(body, signedHeaders(body, { at: new Date(Date.now() - 6 * 60_000) })),
      401,
      "invalid_signature",
    ],
    [
      "over the limit, with a Content-Length",
      () => post(oversized, signedHeaders(oversized)),
      413,
      "payload_too_large",
    ],
    [
      "over the limit, chunked (no Content-Length)",
      () => {
        const bytes = new TextEncoder().encode(oversized);
        const stream = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 16_384) controller.enqueue(bytes.slice(i, i + 16_384));
            controller.close();
          },
        });
        return post(stream, signedHeaders(oversized));
      },
      413,
      "payload_too_large",
    ],
    [
      "no API token",
      () => fetch(`${daemon.url}/v1/suppressions/x@x.com`, { method: "DELETE" }),
      401,
      "unauthorized",
    ],
    [
      "an invalid email",
      () =>
        fetch(`${daemon.url}/v1/suppressions/nobody`, { method: "PUT", headers: authHeaders(), body: "{}" }),
      400,
      "invalid_email",
    ],
  ];
  for (const [name, send, status, error] of cases) {
    test(`${name} → ${status}`, async () => {
      const before = await snapshot();
      const res = await send();
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ error, message: expect.any(String) });
      expect(await snapshot()).toEqual(before);
    });
  }

  test("a signed body that is not JSON is acknowledged and kept byte for byte", async () => {
    const raw = "definitely { not json";
    const id = newId();
    const res = await post(raw, signedHeaders(raw, { id }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "quarantined" });
    const row = (await db.execute({ sql: "SELECT body FROM quarantine WHERE svix_id = ?", args: [id] }))
      .rows[0];
    expect(Buffer.from(row?.body as ArrayBuffer).toString("utf8")).toBe(raw);
  });
});
