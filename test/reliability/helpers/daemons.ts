import { createClient } from "@libsql/client";
import { FAKE_KEY, type FakeMailchimp } from "../../fakes/mailchimp.ts";
import { writeConfig } from "../../helpers/daemon.ts";

export const SINK = "mc";

/**
 * A daemon config on `dbFile` with one Mailchimp sink on the fake, short polling and leases (the
 * shortest the schema allows), and no request log lines (the load would flood the pipe).
 */
export function reliabilityConfig(
  dir: string,
  dbFile: string,
  fake: FakeMailchimp,
  lists: readonly string[],
  o: { createMissing: boolean; concurrency?: number; claimSize?: number },
): string {
  return writeConfig(dir, dbFile, {
    log: { level: "info", requests: false },
    sinks: [
      {
        type: "mailchimp",
        name: SINK,
        apiKey: FAKE_KEY,
        listIds: lists,
        baseUrl: fake.url,
        createMissing: o.createMissing,
        timeoutMs: 5000,
        concurrency: o.concurrency ?? 10,
      },
    ],
    sync: { pollMs: 100, leaseSeconds: 10, claimSize: o.claimSize ?? 500 },
  });
}

/** Outbox rows by status. */
export async function outbox(dbFile: string): Promise<Record<string, number>> {
  const db = createClient({ url: `file:${dbFile}`, intMode: "number" });
  try {
    const rows = await db.execute(
      "SELECT status, count(*) AS n, max(attempts) AS a FROM sync_jobs GROUP BY status",
    );
    return Object.fromEntries(rows.rows.map((r) => [r.status as string, r.n as number]));
  } finally {
    db.close();
  }
}

/**
 * Waits (bounded) until no job is pending or running: everything reached its sink or died.
 * Returns whether it drained.
 */
export async function drained(dbFile: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const c = await outbox(dbFile);
    if ((c.pending ?? 0) === 0 && (c.running ?? 0) === 0) return true;
    if (Date.now() > deadline) return false;
    await Bun.sleep(200);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min));
}
