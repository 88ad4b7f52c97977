import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, event, newId, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir();
let daemon: RunningDaemon | undefined;
afterEach(async () => {
  if (daemon && daemon.proc.exitCode === null) await daemon.stop();
  daemon = undefined;
});

interface Sent {
  body: string;
  id: string;
  email: string;
}

async function deliver(d: RunningDaemon, sent: Sent): Promise<{ code: number; status: string }> {
  const res = await fetch(`${d.url}/webhooks/resend`, {
    method: "POST",
    body: sent.body,
    headers: signedHeaders(sent.body, { id: sent.id }),
  });
  return { code: res.status, status: ((await res.json()) as { status: string }).status };
}

function messages(prefix: string, n: number): Sent[] {
  return Array.from({ length: n }, (_, i) => {
    const email = `${prefix}${i}@restart.example`;
    const body = i % 2 === 0 ? bounce(email, "Permanent") : event("email.complained", { to: [email] });
    return { body, id: newId(), email };
  });
}

async function tableCounts(dbFile: string): Promise<Record<string, number>> {
  const db = createClient({ url: `file:${dbFile}` });
  try {
    const out: Record<string, number> = {};
    for (const t of ["webhook_events", "quarantine", "suppressions", "suppression_events", "sync_jobs"]) {
      out[t] = Number((await db.execute(`SELECT count(*) AS n FROM ${t}`)).rows[0]?.n);
    }
    return out;
  } finally {
    db.close();
  }
}

async function suppressed(d: RunningDaemon, emails: string[]): Promise<number> {
  const res = await fetch(`${d.url}/v1/suppressions/check`, {
    method: "POST",
    headers: authHeaders(),
    body: JSON.stringify({ emails }),
  });
  return ((await res.json()) as { suppressed: unknown[] }).suppressed.length;
}

test("SIGTERM and a new start on the same file keep everything; a redelivery is then a duplicate", async () => {
  const dbFile = join(tmp.dir, "sigterm.db");
  const config = writeConfig(tmp.dir, dbFile);
  daemon = await startDaemon({ config });
  const sent = messages("t", 12);
  const first = await Promise.all(sent.map((s) => deliver(daemon as RunningDaemon, s)));
  expect(first).toEqual(Array(12).fill({ code: 200, status: "processed" }));
  const put = await fetch(`${daemon.url}/v1/suppressions/manual@restart.example`, {
    method: "PUT",
    headers: authHeaders(),
    body: JSON.stringify({ note: "kept" }),
  });
  expect(put.status).toBe(200);
  expect(await daemon.stop()).toBe(0);
  const before = await tableCounts(dbFile);

  daemon = await startDaemon({ config });
  expect(await tableCounts(dbFile)).toEqual(before);
  expect(
    await suppressed(
      daemon,
      sent.map((s) => s.email),
    ),
  ).toBe(12);
  const manual = await fetch(`${daemon.url}/v1/suppressions/manual@restart.example`, {
    headers: authHeaders(),
  });
  expect(((await manual.json()) as { note: string }).note).toBe("kept");

  const again = await Promise.all(sent.map((s) => deliver(daemon as RunningDaemon, s)));
  expect(again).toEqual(Array(12).fill({ code: 200, status: "duplicate" }));
  expect(await tableCounts(dbFile)).toEqual(before);
});

test("SIGTERM lets requests in flight finish: every delivery answered 200 is stored", async () => {
  const dbFile = join(tmp.dir, "inflight.db");
  const config = writeConfig(tmp.dir, dbFile);
  daemon = await startDaemon({ config });
  const d = daemon;
  const sent = messages("f", 40);
  const pending = sent.map((s) =>
    deliver(d, s).then(
      (r) => r.code,
      () => 0, // refused once the listener closed: Resend would retry
    ),
  );
  const exit = d.stop();
  const codes = await Promise.all(pending);
  expect(await exit).toBe(0);
  const answered = sent.filter((_, i) => codes[i] === 200).map((s) => s.id);
  expect(codes.every((c) => c === 200 || c === 0 || c === 503)).toBe(true);

  const db = createClient({ url: `file:${dbFile}` });
  try {
    const rows = await db.execute({
      sql: "SELECT count(*) AS n FROM webhook_events WHERE svix_id IN (SELECT value FROM json_each(?))",
      args: [JSON.stringify(answered)],
    });
    expect(Number(rows.rows[0]?.n)).toBe(answered.length);
  } finally {
    db.close();
  }
});

test("SIGKILL right after the answers: everything acknowledged survives the crash", async () => {
  const dbFile = join(tmp.dir, "sigkill.db");
  const config = writeConfig(tmp.dir, dbFile);
  daemon = await startDaemon({ config });
  const sent = messages("k", 30);
  const first = await Promise.all(sent.map((s) => deliver(daemon as RunningDaemon, s)));
  expect(first.every((r) => r.code === 200 && r.status === "processed")).toBe(true);
  await daemon.kill();

  daemon = await startDaemon({ config });
  expect(
    await suppressed(
      daemon,
      sent.map((s) => s.email),
    ),
  ).toBe(30);
  const again = await deliver(daemon, sent[0] as Sent);
  expect(again).toEqual({ code: 200, status: "duplicate" });
});
