import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { sinkTargets } from "../../src/daemon.ts";
import { migrate, openDatabase } from "../../src/db/client.ts";
import { Writer } from "../../src/db/writer.ts";
import { createApp } from "../../src/http/app.ts";
import { appsClosedAfterEach, type TestApp, tableCounts, tempDir } from "../helpers/app.ts";
import { OTHER_SECRET, SECRET, testConfig } from "../helpers/config.ts";
import { bounce, event, fixtures, newId, signedHeaders } from "../helpers/sign.ts";

const app = appsClosedAfterEach();

function deliver(t: TestApp, body: string | Uint8Array, headers: Record<string, string>) {
  return Promise.resolve(t.app.request("/webhooks/resend", { method: "POST", body, headers }));
}

/** A signed delivery: what Resend sends. */
function signed(t: TestApp, body: string, opts: Parameters<typeof signedHeaders>[1] = {}) {
  return deliver(t, body, signedHeaders(body, opts));
}

async function rows(t: TestApp, sql: string, args: string[] = []): Promise<Record<string, unknown>[]> {
  const result = await t.db.reader.execute({ sql, args });
  return result.rows.map((r) => Object.fromEntries(result.columns.map((c) => [c, r[c]])));
}

const MIN = 60_000;

describe("signed deliveries of every fixture", () => {
  for (const [name, body] of Object.entries(fixtures())) {
    test(name, async () => {
      const t = await app();
      const id = newId();
      const res = await signed(t, body, { id });
      expect(res.status).toBe(200);
      const { status } = (await res.json()) as { status: string };
      expect(["processed", "ignored"]).toContain(status);
      const type = (JSON.parse(body) as { type: string }).type;
      // What can change the list is stored; an ignored type is not (resend.recordIgnored false).
      expect(await rows(t, "SELECT type, status FROM webhook_events WHERE svix_id = ?", [id])).toEqual(
        status === "processed" ? [{ type, status }] : [],
      );
    });
  }

  test("the answer comes after the commit: what was acknowledged is readable at once", async () => {
    const t = await app();
    const res = await signed(t, bounce("now@x.com"));
    expect(await res.json()).toEqual({ status: "processed" });
    expect(await rows(t, "SELECT email, reason FROM suppressions")).toEqual([
      { email: "now@x.com", reason: "hard_bounce" },
    ]);
  });

  test("the same message again is a duplicate with no second effect", async () => {
    const t = await app();
    const body = bounce("again@x.com");
    const id = newId();
    expect(await (await signed(t, body, { id })).json()).toEqual({ status: "processed" });
    const before = await t.counts();
    // A retry carries a new timestamp, hence a new signature, and the same id.
    const retry = await signed(t, body, { id, at: new Date(Date.now() + 5_000) });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual({ status: "duplicate" });
    expect(await t.counts()).toEqual(before);
  });
});

describe("unknown and informational types are acknowledged as ignored", () => {
  for (const type of ["email.sent", "email.opened", "email.clicked", "domain.created", "brand.new_thing"]) {
    test(type, async () => {
      const t = await app();
      const res = await signed(t, event(type, { to: ["someone@x.com"] }), { id: newId() });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "ignored" });
      // resend.recordIgnored is false by default: nothing is written.
      const counts = await t.counts();
      expect([
        counts.webhook_events,
        counts.suppressions,
        counts.suppression_events,
        counts.quarantine,
      ]).toEqual([0, 0, 0, 0]);
    });
    test(`${type}, with resend.recordIgnored true: stored as ignored`, async () => {
      const t = await app({ resend: { recordIgnored: true } });
      const res = await signed(t, event(type, { to: ["someone@x.com"] }), { id: newId() });
      expect(await res.json()).toEqual({ status: "ignored" });
      expect(await rows(t, "SELECT type, status FROM webhook_events")).toEqual([{ type, status: "ignored" }]);
      const counts = await t.counts();
      expect([counts.suppressions, counts.suppression_events, counts.quarantine]).toEqual([0, 0, 0]);
    });
  }
});

describe("signed bodies we cannot read are quarantined byte for byte and acknowledged", () => {
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["not JSON", () => utf8("this is not JSON {"), /not JSON/],
    ["JSON but not an event", () => utf8('["email.bounced"]'), /not a Resend event/],
    [
      "a bounce without recipients",
      () => utf8(event("email.bounced", { bounce: { type: "Permanent" } })),
      /data does not match email.bounced/,
    ],
    [
      "contact.updated with unsubscribed as a string",
      () => utf8(event("contact.updated", { email: "a@x.com", unsubscribed: "yes" })),
      /unsubscribed/,
    ],
    [
      "a bad created_at",
      () => utf8(event("email.complained", { to: ["a@x.com"] }, "last tuesday")),
      /created_at/,
    ],
    [
      "bytes that are not UTF-8",
      () => {
        const [head, tail] = bounce("a@x.com").split('"test"');
        return new Uint8Array([...utf8(`${head}"`), 0xff, 0xfe, 0xc3, ...utf8(`"${tail}`)]);
      },
      /UTF-8/,
    ],
    [
      "odd whitespace and key order",
      () => utf8('  {"data":{"to":5},\n"type":"email.bounced" , "created_at":"2026-01-01T00:00:00Z"}  '),
      /to/,
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    test(name, async () => {
      const t = await app();
      const body = bytes();
      const id = newId();
      // Svix signs text; a body that is not UTF-8 is signed as its lenient decoding, as svix verifies it.
      const res = await deliver(t, body, signedHeaders(new TextDecoder().decode(body), { id }));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "quarantined" });
      const [row] = await rows(t, "SELECT svix_id, reason, body, reprocessed_at FROM quarantine");
      expect(row?.svix_id).toBe(id);
      expect(row?.reason).toMatch(reason);
      expect(row?.reprocessed_at).toBeNull();
      expect(Buffer.from(row?.body as ArrayBuffer).equals(Buffer.from(body))).toBe(true);
      expect(await rows(t, "SELECT status FROM webhook_events")).toEqual([{ status: "quarantined" }]);
      expect((await t.counts()).suppressions).toBe(0);
    });
  }

  test("a redelivery of a quarantined message is a duplicate and is not stored twice", async () => {
    const t = await app();
    const body = "not json";
    const id = newId();
    await signed(t, body, { id });
    expect(await (await signed(t, body, { id })).json()).toEqual({ status: "duplicate" });
    expect((await t.counts()).quarantine).toBe(1);
  });
});

describe("secret rotation", () => {
  test("a delivery signed with either configured secret is accepted", async () => {
    const t = await app({ resend: { webhookSecrets: [SECRET, OTHER_SECRET] } });
    for (const secret of [SECRET, OTHER_SECRET]) {
      const res = await signed(t, bounce(`${secret.slice(6, 10)}@x.com`), { secret });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ status: "processed" });
    }
  });

  test("a signature header carrying the old and the new signature is accepted", async () => {
    const t = await app({ resend: { webhookSecrets: [OTHER_SECRET] } });
    const body = bounce("rotating@x.com");
    const id = newId();
    const at = new Date();
    const old = signedHeaders(body, { id, at, secret: SECRET });
    const current = signedHeaders(body, { id, at, secret: OTHER_SECRET });
    const headers = { ...old, "svix-signature": `${old["svix-signature"]} ${current["svix-signature"]}` };
    expect((await deliver(t, body, headers)).status).toBe(200);
  });
});

describe("rejected deliveries: status, error body, and nothing written", () => {
  const body = bounce("victim@x.com");
  type Case = {
    name: string;
    status: number;
    error: string;
    message?: RegExp;
    request: () => [string, Record<string, string>];
  };
  const without =
    (header: string): Case["request"] =>
    () => {
      const h: Record<string, string> = signedHeaders(body);
      delete h[header];
      return [body, h];
    };
  const cases: Case[] = [
    {
      name: "missing svix-id",
      status: 401,
      error: "invalid_signature",
      message: /svix-id/,
      request: without("svix-id"),
    },
    {
      name: "missing svix-timestamp",
      status: 401,
      error: "invalid_signature",
      request: without("svix-timestamp"),
    },
    {
      name: "missing svix-signature",
      status: 401,
      error: "invalid_signature",
      request: without("svix-signature"),
    },
    {
      name: "no svix headers at all",
      status: 401,
      error: "invalid_signature",
      request: () => [body, { "content-type": "application/json" }],
    },
    {
      name: "signed with a secret we do not have",
      status: 401,
      error: "invalid_signature",
      message: /webhookSecrets/,
      request: () => [body, signedHeaders(body, { secret: OTHER_SECRET })],
    },
    {
      name: "a stale timestamp (6 minutes old)",
      status: 401,
      error: "invalid_signature",
      message: /tolerance/,
      request: () => [body, signedHeaders(body, { at: new Date(Date.now() - 6 * MIN) })],
    },
    {
      name: "a future timestamp (6 minutes ahead)",
      status: 401,
      error: "invalid_signature",
      message: /tolerance/,
      request: () => [body, signedHeaders(body, { at: new Date(Date.now() + 6 * MIN) })],
    },
    {
      name: "a tampered body",
      status: 401,
      error: "invalid_signature",
      request: () => [body.replace("victim@", "other@"), signedHeaders(body)],
    },
    {
      name: "a body with one extra space",
      status: 401,
      error: "invalid_signature",
      request: () => [`${body} `, signedHeaders(body)],
    },
    {
      name: "an svix-id other than the one signed",
      status: 401,
      error: "invalid_signature",
      request: () => [body, { ...signedHeaders(body), "svix-id": newId() }],
    },
    {
      name: "a timestamp other than the one signed",
      status: 401,
      error: "invalid_signature",
      request: () => {
        const h = signedHeaders(body, { at: new Date(Date.now() - 10_000) });
        return [body, { ...h, "svix-timestamp": String(Math.floor(Date.now() / 1000)) }];
      },
    },
    {
      name: "a timestamp that is not a number",
      status: 401,
      error: "invalid_signature",
      request: () => [body, { ...signedHeaders(body), "svix-timestamp": "yesterday" }],
    },
    {
      name: "a malformed signature",
      status: 401,
      error: "invalid_signature",
      request: () => [body, { ...signedHeaders(body), "svix-signature": "v1,not-base64!!" }],
    },
    {
      name: "a signature of another scheme version",
      status: 401,
      error: "invalid_signature",
      request: () => {
        const h = signedHeaders(body);
        return [body, { ...h, "svix-signature": h["svix-signature"].replace("v1,", "v2,") }];
      },
    },
    {
      name: "an svix-id longer than 200 characters, correctly signed",
      status: 401,
      error: "invalid_signature",
      request: () => [body, signedHeaders(body, { id: `msg_${"x".repeat(200)}` })],
    },
    {
      name: "a correctly signed body one byte over the 256 KiB default limit",
      status: 413,
      error: "payload_too_large",
      message: /bodyLimitBytes/,
      request: () => {
        const big = padded(256 * 1024 + 1);
        return [big, signedHeaders(big)];
      },
    },
    {
      name: "an unsigned oversized body",
      status: 413,
      error: "payload_too_large",
      request: () => [padded(300 * 1024), { "content-type": "application/json" }],
    },
  ];

  for (const c of cases) {
    test(`${c.name} → ${c.status}`, async () => {
      const t = await app();
      await signed(t, bounce("existing@x.com"));
      const before = await t.counts();
      const [sent, headers] = c.request();
      const res = await deliver(t, sent, headers);
      expect(res.status).toBe(c.status);
      const json = (await res.json()) as { error: string; message: string };
      expect(Object.keys(json).sort()).toEqual(["error", "message"]);
      expect(json.error).toBe(c.error);
      expect(json.message).toMatch(c.message ?? /\w/);
      expect(await t.counts()).toEqual(before);
    });
  }

  test("a body exactly at the limit is accepted", async () => {
    const t = await app();
    const big = padded(256 * 1024);
    const res = await signed(t, big);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "processed" });
  });

  test("a configured smaller limit applies", async () => {
    const t = await app({ server: { bodyLimitBytes: 1024 } });
    const big = padded(1025);
    const res = await signed(t, big);
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: string }).error).toBe("payload_too_large");
    expect((await t.counts()).webhook_events).toBe(0);
  });

  test("the rejected delivery's id is not burnt: a correct delivery with it is processed", async () => {
    const t = await app();
    const body = bounce("later@x.com");
    const id = newId();
    expect((await deliver(t, `${body} `, signedHeaders(body, { id }))).status).toBe(401);
    expect(await (await signed(t, body, { id })).json()).toEqual({ status: "processed" });
  });
});

describe("a database that cannot commit", () => {
  /** An app whose writer gives up on a locked database after 300 ms, and a second connection. */
  async function lockable() {
    const tmp = tempDir();
    const config = testConfig(`file:${join(tmp.dir, "locked.db")}`);
    const db = await openDatabase(config.database);
    await migrate(db);
    const writer = new Writer(db, {
      softBounce: config.policy.softBounce,
      sinks: sinkTargets(config),
      lockWaitMs: 300,
    });
    const t = {
      app: createApp({ config, db, writer, clock: Date.now }),
      counts: () => tableCounts(db),
    } as TestApp;
    const other = createClient({ url: config.database.url });
    return {
      t,
      /** BEGIN IMMEDIATE on another connection: what a second process writing the file does. */
      lock: () => other.transaction("write"),
      async close() {
        other.close();
        await writer.close();
        db.close();
        tmp.cleanup();
      },
    };
  }

  test("answers 503 while another connection holds the write lock, and stores nothing", async () => {
    const env = await lockable();
    try {
      const before = await env.t.counts();
      const lock = await env.lock();
      const res = await signed(env.t, bounce("locked@x.com"));
      lock.close();
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: "unavailable", message: expect.stringMatching(/retry/) });
      expect(await env.t.counts()).toEqual(before);
    } finally {
      await env.close();
    }
  });

  test("several deliveries waiting on the lock all get 503, none 200", async () => {
    const env = await lockable();
    try {
      const lock = await env.lock();
      const statuses = await Promise.all(
        Array.from({ length: 8 }, (_, i) => signed(env.t, bounce(`w${i}@x.com`)).then((r) => r.status)),
      );
      lock.close();
      expect(statuses).toEqual(Array(8).fill(503));
    } finally {
      await env.close();
    }
  });

  // A BEGIN IMMEDIATE that failed with SQLITE_BUSY stays un-reset in @libsql/client 0.18 and would
  // make every later COMMIT fail; the writer replaces its connection after a busy error.
  test("Resend's retry after the lock is released is processed", async () => {
    const env = await lockable();
    try {
      const body = bounce("retry@x.com");
      const id = newId();
      const lock = await env.lock();
      expect((await signed(env.t, body, { id })).status).toBe(503);
      lock.close();
      const retry = await signed(env.t, body, { id });
      expect(await retry.json()).toEqual({ status: "processed" });
    } finally {
      await env.close();
    }
  });
});

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A hard-bounce event of exactly `bytes` bytes (padding in a field we ignore). */
function padded(bytes: number): string {
  const base = event("email.bounced", { to: ["big@x.com"], bounce: { type: "Permanent" }, pad: "" });
  return base.replace('"pad":""', `"pad":"${"x".repeat(bytes - base.length)}"`);
}
