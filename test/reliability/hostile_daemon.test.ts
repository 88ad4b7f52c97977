import { afterAll, beforeAll, expect, test } from "bun:test";
import { createConnection } from "node:net";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import fc from "fast-check";
import { Webhook } from "svix";
import { tempDir } from "../helpers/app.ts";
import { SECRET } from "../helpers/config.ts";
import { type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { emptyFigures, summaryLine } from "./helpers/figures.ts";
import { propertyTimeout, runs } from "./helpers/hostile.ts";
import { fileCounts } from "./helpers/verdict.ts";

/**
 * Hostile bytes on a real socket, where fetch would have tidied them up: duplicated and
 * non-ASCII headers, lying Content-Length, chunked bodies past the limit, half-sent requests,
 * garbage. The daemon must answer with a 4xx (or close the connection), keep running, store
 * nothing it was not correctly signed, and log no unhandled error.
 */
const tmp = tempDir("suppressd-hostile-daemon-");
const dbFile = join(tmp.dir, "h.db");
let daemon: RunningDaemon;
let port: number;
let tried = 0;

beforeAll(async () => {
  daemon = await startDaemon({
    config: writeConfig(tmp.dir, dbFile, { log: { level: "info", requests: false } }),
  });
  port = Number(new URL(daemon.url).port);
});
afterAll(async () => {
  if (daemon.proc.exitCode === null) await daemon.stop();
  console.log(summaryLine("hostile_daemon", { ...emptyFigures(), hostile: tried }));
  tmp.cleanup();
});

/**
 * Refused without reaching the app: closed, a 4xx, or 505 (Bun's parser for a request line that
 * names no HTTP version). Any other 5xx would come from the app.
 */
const refused = (status: number | null) =>
  status === null || (status >= 400 && status < 500) || status === 505;

/** Writes `bytes`, then reads until the server closes or `waitMs` passes; the status, if any. */
function raw(bytes: Uint8Array | string, waitMs = 1500): Promise<{ status: number | null; text: string }> {
  tried++;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: m ? Number(m[1]) : null, text });
    };
    const timer = setTimeout(done, waitMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("end", done);
    socket.on("error", done);
    socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
  });
}

/** An HTTP/1.1 POST to the webhook route with the given header lines and body bytes. */
function request(headerLines: string[], body: Uint8Array | string, contentLength?: number): Uint8Array {
  const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
  const head = [
    "POST /webhooks/resend HTTP/1.1",
    `Host: 127.0.0.1:${port}`,
    "Connection: close",
    "Content-Type: application/json",
    `Content-Length: ${contentLength ?? b.length}`,
    ...headerLines,
    "",
    "",
  ].join("\r\n");
  return new Uint8Array([...Buffer.from(head, "latin1"), ...b]);
}

function signed(id: string, text: string): string[] {
  const at = new Date();
  return [
    `svix-id: ${id}`,
    `svix-timestamp: ${Math.floor(at.getTime() / 1000)}`,
    `svix-signature: ${new Webhook(SECRET).sign(id, at, text)}`,
  ];
}

const bounce = (to: string) =>
  JSON.stringify({
    type: "email.bounced",
    created_at: new Date().toISOString(),
    data: { to: [to], bounce: { type: "Permanent" } },
  });

test("unsigned or mangled requests on the socket: a 4xx or a closed connection, and nothing stored", async () => {
  const before = await fileCounts(dbFile);
  const body = bounce("socket@x.com");
  const [id, ts, sig] = signed("msg_socket", body) as [string, string, string];
  const junk = "svix-signature: v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
  const cases: [string, Uint8Array | string, number][] = [
    ["two junk signature lines", request([id, ts, junk, junk.replace("AAAA", "BBBB")], body), 401],
    [
      "two svix-id lines (the signature is for the first)",
      request([id, "svix-id: msg_other", ts, sig], body),
      401,
    ],
    ["a Latin-1 byte in svix-id", request(["svix-id: msg_\xe9t\xe9", ts, sig], body), 401],
    [
      "a UTF-8 svix-id",
      request([Buffer.from("svix-id: msg_été", "utf8").toString("latin1"), ts, sig], body),
      401,
    ],
    ["the signed body with one byte more", request([id, ts, sig], `${body} `), 401],
    ["Content-Length one short of the signed body", request([id, ts, sig], body, body.length - 1), 401],
  ];
  for (const [name, bytes, want] of cases) {
    const r = await raw(bytes);
    expect(`${name}: ${r.status}`).toBe(`${name}: ${want}`);
  }
  const mayClose: [string, Uint8Array | string][] = [
    ["a NUL in a header", request([id, ts, `${sig}\0`], body)],
    ["a header line without a colon", request([id, ts, sig, "this is not a header"], body)],
    ["a 100 KB header", request([id, ts, sig, `x-pad: ${"a".repeat(100_000)}`], body)],
    ["Content-Length larger than the body, then silence", request([id, ts, sig], body, body.length + 500)],
    ["a negative Content-Length", request([id, ts, sig], body, -5)],
    ["two different Content-Length lines", request([id, ts, sig, "Content-Length: 3"], body)],
    ["a garbage request line", "GARBAGE\r\n\r\n"],
    ["an HTTP/0.9 request", "GET /\r\n"],
    ["a bare LF request", `POST /webhooks/resend HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}`],
  ];
  for (const [name, bytes] of mayClose) {
    const r = await raw(bytes, 800);
    // Bun's parser answers 400/431/505 or drops the connection.
    expect(`${name}: ${refused(r.status)}`).toBe(`${name}: true`);
  }
  expect(await fileCounts(dbFile)).toEqual(before);
});

test("duplicated headers that still carry a valid signature are authentic: processed once", async () => {
  const body = bounce("dup-headers@x.com");
  const [id, ts, sig] = signed("msg_dup_headers", body) as [string, string, string];
  // Bun joins repeated lines with ", ". svix reads the signatures as a space-separated list and
  // the timestamp as its leading number, so the good one still verifies.
  const first = await raw(request([id, ts, "svix-signature: v1,AAAA", sig], body));
  const again = await raw(request([id, ts, ts.replace(/\d$/, "0"), sig], body));
  expect([first.status, again.status]).toEqual([200, 200]);
  expect(first.text).toContain('{"status":"processed"}');
  expect(again.text).toContain('{"status":"duplicate"}');
});

test("a chunked body past the limit gets 413 without being read to the end; half-sent requests store nothing", async () => {
  const before = await fileCounts(dbFile);
  const chunk = "a".repeat(64 * 1024);
  const chunked =
    `POST /webhooks/resend HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n` +
    `svix-id: msg_chunked\r\nsvix-timestamp: 1\r\nsvix-signature: v1,x\r\n\r\n` +
    `${`${(chunk.length).toString(16)}\r\n${chunk}\r\n`.repeat(6)}0\r\n\r\n`;
  const r = await raw(chunked, 3000);
  expect(r.status).toBe(413);
  // 64 connections that send half a signed request and hang up: nothing is stored.
  const body = bounce("half@x.com");
  await Promise.all(
    Array.from({ length: 64 }, (_, i) => {
      const full = request(signed(`msg_half_${i}`, body), body);
      return raw(full.slice(0, full.length - 20), 200);
    }),
  );
  expect(await fileCounts(dbFile)).toEqual(before);
});

test("a signed body with invalid UTF-8 is quarantined byte for byte over real HTTP", async () => {
  const text = bounce("utf8@x.com");
  const cut = text.indexOf("utf8@");
  const bytes = new Uint8Array([
    ...new TextEncoder().encode(text.slice(0, cut)),
    0xc3,
    0x28,
    0xff,
    ...new TextEncoder().encode(text.slice(cut)),
  ]);
  const lenient = new TextDecoder().decode(bytes);
  const r = await raw(request(signed("msg_bad_utf8", lenient), bytes));
  expect(r.status).toBe(200);
  expect(r.text).toContain('{"status":"quarantined"}');
  const db = createClient({ url: `file:${dbFile}` });
  try {
    const row = await db.execute("SELECT body FROM quarantine WHERE svix_id = 'msg_bad_utf8'");
    expect(new Uint8Array(row.rows[0]?.body as ArrayBuffer)).toEqual(bytes);
  } finally {
    db.close();
  }
});

test(
  "property: random bytes on the socket never crash the daemon or store anything",
  async () => {
    const before = await fileCounts(dbFile);
    const prefix = fc.constantFrom(
      "",
      "POST /webhooks/resend HTTP/1.1\r\n",
      "POST /webhooks/resend HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
      "GET /v1/suppressions/a@x.com HTTP/1.1\r\nHost: x\r\n",
    );
    await fc.assert(
      fc.asyncProperty(prefix, fc.uint8Array({ maxLength: 600 }), async (p, junk) => {
        const r = await raw(new Uint8Array([...Buffer.from(p, "latin1"), ...junk]), 100);
        expect(refused(r.status)).toBe(true);
      }),
      { numRuns: runs(100) },
    );
    expect(await fileCounts(dbFile)).toEqual(before);
  },
  propertyTimeout(),
);

test("afterwards the daemon is alive, ready, and logged no unhandled error", async () => {
  expect(daemon.proc.exitCode).toBeNull();
  expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  expect(daemon.stderr()).not.toContain("unhandled error");
  expect(daemon.stdout()).not.toContain("unhandled error");
});
