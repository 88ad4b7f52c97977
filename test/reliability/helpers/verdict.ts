import { createClient } from "@libsql/client";
import type { FakeMailchimp } from "../../fakes/mailchimp.ts";
import type { Message } from "./messages.ts";

/**
 * Judges a run from the database (and the fake audiences) alone. `lost` and `duplicates` are
 * descriptions of what broke a promise; both must be empty.
 *
 * - lost: an acknowledged message missing from webhook_events, or missing its effect (a history
 *   row per recipient; a suppression; an outbox job per sink; the address unsubscribed in every
 *   audience).
 * - duplicates: a history row twice for one (svix-id, address); an address suppressed twice (two
 *   "suppressed" decisions while nothing lifts); two live outbox jobs for one address and sink.
 */
export interface Verdict {
  lost: string[];
  duplicates: string[];
  /** Acknowledged messages checked. */
  events: number;
  /** Addresses that had to end suppressed. */
  addresses: number;
}

export interface Expectations {
  dbFile: string;
  messages: readonly Message[];
  acked: ReadonlyMap<string, string>;
  /** Sink names that must each have one finished job per suppressed address. */
  sinks?: readonly string[];
  /** Audiences that must each hold every suppressed address as unsubscribed. */
  audiences?: { fake: FakeMailchimp; lists: readonly string[] };
}

/** The first few entries of a long list of problems, for an assertion message. */
export function sample(list: readonly string[], n = 20): string[] {
  return list.length <= n ? [...list] : [...list.slice(0, n), `… ${list.length} in all`];
}

export async function judge(x: Expectations): Promise<Verdict> {
  const db = createClient({ url: `file:${x.dbFile}`, intMode: "number" });
  const lost: string[] = [];
  const duplicates: string[] = [];
  try {
    const acked = x.messages.filter((m) => x.acked.has(m.id));
    const ours = new Map(x.messages.map((m) => [m.id, m]));

    const events = new Map<string, string>();
    for (const row of (await db.execute("SELECT svix_id, status FROM webhook_events")).rows)
      events.set(row.svix_id as string, row.status as string);
    for (const m of acked) {
      const status = events.get(m.id);
      if (m.stored === null) {
        if (status !== undefined) lost.push(`${m.id}: stored as ${status}, expected no row (recordIgnored)`);
      } else if (status === undefined)
        lost.push(`${m.id}: acknowledged (${x.acked.get(m.id)}) but not in webhook_events`);
      else if (status !== m.stored) lost.push(`${m.id}: stored as ${status}, expected ${m.stored}`);
    }

    const history = new Map<string, number>();
    const rows = await db.execute(
      "SELECT svix_id, email, count(*) AS n FROM suppression_events WHERE svix_id IS NOT NULL GROUP BY svix_id, email",
    );
    for (const row of rows.rows) {
      const key = `${row.svix_id}\u0000${row.email}`;
      history.set(key, row.n as number);
      if ((row.n as number) > 1) duplicates.push(`${row.svix_id} → ${row.email}: ${row.n} history rows`);
      if (!ours.has(row.svix_id as string))
        duplicates.push(`${row.svix_id}: history for a message never sent`);
    }
    for (const m of acked) {
      for (const email of m.emails) {
        if (!history.has(`${m.id}\u0000${email}`)) lost.push(`${m.id} → ${email}: no history row`);
      }
    }

    const must = [...new Set(acked.filter((m) => m.suppresses).flatMap((m) => m.emails))];
    const suppressed = new Set(
      (await db.execute("SELECT email FROM suppressions WHERE suppressed = 1")).rows.map(
        (r) => r.email as string,
      ),
    );
    for (const email of must) if (!suppressed.has(email)) lost.push(`${email}: not suppressed`);
    const twice = await db.execute(
      "SELECT email, count(*) AS n FROM suppression_events WHERE decision = 'suppressed' GROUP BY email HAVING n > 1",
    );
    for (const row of twice.rows) duplicates.push(`${row.email}: suppressed ${row.n} times`);

    for (const sink of x.sinks ?? []) {
      const jobs = new Map<string, { live: number; done: number }>();
      const q = await db.execute({
        sql: "SELECT email, status, count(*) AS n FROM sync_jobs WHERE sink = ? AND action = 'suppress' GROUP BY email, status",
        args: [sink],
      });
      for (const row of q.rows) {
        const j = jobs.get(row.email as string) ?? { live: 0, done: 0 };
        if (row.status !== "superseded") j.live += row.n as number;
        if (row.status === "done") j.done += row.n as number;
        jobs.set(row.email as string, j);
      }
      for (const email of must) {
        const j = jobs.get(email);
        if (!j || j.done === 0) lost.push(`${email}: no finished ${sink} job (${JSON.stringify(j ?? {})})`);
      }
      for (const [email, j] of jobs) if (j.live > 1) duplicates.push(`${email}: ${j.live} ${sink} jobs`);
    }

    if (x.audiences) {
      for (const list of x.audiences.lists) {
        for (const email of must) {
          const member = x.audiences.fake.member(list, email);
          if (member?.status !== "unsubscribed")
            lost.push(`${email}: ${member?.status ?? "absent"} in audience ${list}`);
        }
      }
    }
    return { lost, duplicates, events: acked.length, addresses: must.length };
  } finally {
    db.close();
  }
}

/** Row counts of every table of a database file (for "nothing changed" comparisons). */
export async function fileCounts(dbFile: string): Promise<Record<string, number>> {
  const db = createClient({ url: `file:${dbFile}`, intMode: "number" });
  try {
    const out: Record<string, number> = {};
    for (const t of ["webhook_events", "quarantine", "suppressions", "suppression_events", "sync_jobs"])
      out[t] = (await db.execute(`SELECT count(*) AS n FROM ${t}`)).rows[0]?.n as number;
    return out;
  } finally {
    db.close();
  }
}

/** A verdict's problems, each list cut short, prefixed for a report. */
export function verdictProblems(v: Verdict): string[] {
  return [...sample(v.lost).map((l) => `lost: ${l}`), ...sample(v.duplicates).map((d) => `twice: ${d}`)];
}
