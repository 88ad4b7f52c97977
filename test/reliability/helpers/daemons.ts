import { readFileSync, statSync } from "node:fs";
import { createClient } from "@libsql/client";
import { FAKE_KEY, type FakeMailchimp } from "../../fakes/mailchimp.ts";
import { type RunningDaemon, writeConfig } from "../../helpers/daemon.ts";

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
  o: { createMissing: boolean; maxConnections?: number; claimSize?: number; lockWaitMs?: number },
): string {
  return writeConfig(dir, dbFile, {
    ...(o.lockWaitMs === undefined ? {} : { database: { url: `file:${dbFile}`, lockWaitMs: o.lockWaitMs } }),
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
        maxConnections: o.maxConnections ?? 10,
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
 * Gives up after `maxMs`, or after `stallMs` without the backlog shrinking. Returns whether it
 * drained.
 */
export async function drained(dbFile: string, maxMs: number, stallMs = maxMs): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  let best = Number.POSITIVE_INFINITY;
  let progressAt = Date.now();
  for (;;) {
    const c = await outbox(dbFile);
    const live = (c.pending ?? 0) + (c.running ?? 0);
    if (live === 0) return true;
    if (live < best) {
      best = live;
      progressAt = Date.now();
    }
    if (Date.now() > deadline || Date.now() - progressAt > stallMs) return false;
    await Bun.sleep(200);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min));
}

/**
 * Who holds SQLite's locks on `dbFile` right now, from /proc/locks (Linux): for a run whose outbox
 * did not drain, "pid 123 holds the WAL write lock" says which process to look at. In WAL mode the
 * write lock is byte 120 of the -shm file.
 */
export function lockHolders(dbFile: string): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/locks", "utf8");
  } catch {
    return ["(no /proc/locks here)"];
  }
  const inode = (f: string) => {
    try {
      return statSync(f).ino;
    } catch {
      return -1;
    }
  };
  const shm = inode(`${dbFile}-shm`);
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\d+: POSIX\s+ADVISORY\s+(READ|WRITE)\s+(\d+)\s+\S+:(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (m && Number(m[3]) === shm && m[1] === "WRITE" && m[4] === "120")
      out.push(`pid ${m[2]} holds the WAL write lock`);
  }
  return out;
}

/** What to look at when the outbox did not drain: lock holders, the daemons' pids and their last warnings. */
export function stallReport(dbFile: string, daemons: readonly (RunningDaemon | null)[]): string[] {
  const out = [...lockHolders(dbFile)];
  for (const d of daemons) {
    if (!d) continue;
    const warnings = d
      .stdout()
      .split("\n")
      .filter((l) => /"level":"(warn|error)"/.test(l));
    out.push(`daemon pid ${d.proc.pid}:`, ...warnings.slice(-5).map((l) => `  ${l.slice(0, 300)}`));
  }
  return out;
}
