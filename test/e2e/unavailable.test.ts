import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { type Client, createClient } from "@libsql/client";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, newId, signedHeaders } from "../helpers/sign.ts";

/**
 * A database that cannot commit, for real: another process (this test) holds the write lock with
 * BEGIN IMMEDIATE for longer than the daemon's writer waits for it (`database.lockWaitMs`, set to
 * 1 s here instead of the default 10 s), as a long import or a second tool on the same file would.
 * The daemon must answer 503 so Resend retries, never 200.
 */
const tmp = tempDir();
const dbFile = join(tmp.dir, "locked.db");
let daemon: RunningDaemon;
let other: Client;

beforeAll(async () => {
  daemon = await startDaemon({
    config: writeConfig(tmp.dir, dbFile, { database: { url: `file:${dbFile}`, lockWaitMs: 1000 } }),
  });
  other = createClient({ url: `file:${dbFile}` });
});
afterAll(async () => {
  other?.close();
  await daemon?.stop();
  tmp.cleanup();
});

async function count(table: string): Promise<number> {
  return Number((await other.execute(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);
}

test("a webhook that cannot be committed gets 503, not 200, nothing is stored, and the retry goes through", async () => {
  const body = bounce("locked@x.com");
  const id = newId();
  const send = () =>
    fetch(`${daemon.url}/webhooks/resend`, { method: "POST", body, headers: signedHeaders(body, { id }) });
  const lock = await other.transaction("write");
  try {
    const pending = send();
    // Reads do not wait for the writer: the list stays queryable while ingest is blocked.
    const read = await fetch(`${daemon.url}/v1/suppressions/someone@x.com`, { headers: authHeaders() });
    expect(read.status).toBe(404);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);

    const res = await pending;
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "unavailable", message: expect.stringMatching(/retry/) });
  } finally {
    lock.close();
  }
  for (const table of ["webhook_events", "suppressions", "suppression_events"])
    expect(await count(table)).toBe(0);

  // Resend retries the same message once the lock is gone. (The BEGIN that failed with SQLITE_BUSY
  // stays un-reset in @libsql/client 0.18; the writer replaces its connection so COMMIT works again.)
  const retry = await send();
  expect(retry.status).toBe(200);
  expect(await retry.json()).toEqual({ status: "processed" });
  expect(await count("suppressions")).toBe(1);
}, 40_000);
