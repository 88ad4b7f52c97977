import type { Transaction } from "@libsql/client";
import type { CompiledQuery } from "kysely";
import { AppError, unavailable } from "../errors.ts";
import { jsonLogger, type Logger } from "../log.ts";
import { type Intent, intentKey } from "../suppression/intents.ts";
import {
  type AddressState,
  applyIntent,
  emptyState,
  type HistoryEntry,
  isActive,
  reasonKey,
  type SoftBounceRule,
} from "../suppression/policy.ts";
import type { Source } from "../suppression/sources.ts";
import type { Reason } from "../suppression/types.ts";
import { chunk } from "../util.ts";
import type { Db } from "./client.ts";
import { isBusy } from "./connection.ts";
import { toStatement } from "./dialect.ts";
import { jsonParam } from "./json_param.ts";
import type { EventStatus, SuppressionTable } from "./schema.ts";
import * as SQL from "./writer_sql.ts";

/** One unit of work: a webhook delivery, an API change, or a batch of imported rows. */
export interface WriteItem {
  /**
   * How the item claims its idempotency key. `new`: insert the svix-id, a duplicate does nothing.
   * `reprocess`: take a quarantined event over. `none`: no key (API calls, imports).
   */
  claim: "new" | "reprocess" | "none";
  svixId: string | null;
  type: string;
  status: EventStatus;
  occurredAt: number | null;
  intents: Intent[];
  quarantine?: { reason: string; body: Uint8Array };
  /** Who asked, recorded with each history row: `token:NAME` for the API (see schema.ts). */
  actor?: string | null;
  /**
   * A smoke test (`send-test-event`): its changes are recorded and answered like any other, and
   * no sink hears of them, so a test can never unsubscribe a real person.
   */
  test?: boolean;
}

export type WriteStatus = EventStatus | "duplicate";

export interface WriteResult {
  status: WriteStatus;
  /** Addresses whose mailability changed. */
  changed: number;
}

export interface SinkTarget {
  name: string;
  /** Whether the sink wants to hear about lifted suppressions (Mailchimp removes its tag). */
  lifts: boolean;
}

export interface WriterOptions {
  softBounce: SoftBounceRule;
  sinks: readonly SinkTarget[];
  clock?: () => number;
  /** Items per transaction; more waiting items go in the next one. */
  maxBatch?: number;
  /** How long a batch keeps retrying a locked database before its callers get 503. */
  lockWaitMs?: number;
  /** Where a failed commit is logged; defaults to error lines on stderr (the CLI's writer). */
  log?: Logger;
}

/** What the HTTP layer writes through: all it needs of the Writer. */
export interface WriteQueue {
  submit(item: WriteItem): Promise<WriteResult>;
  /** Stops taking work and waits for everything queued to commit. */
  close(): Promise<void>;
}

interface Pending {
  item: WriteItem;
  resolve: (r: WriteResult) => void;
  reject: (e: unknown) => void;
}

const CHUNK = 500;

/**
 * The single writer. Requests queue here and are committed together: one transaction and one fsync
 * for everything that arrived while the previous commit ran (group commit). Every caller's promise
 * settles only after its transaction committed, so a 200 always means "durably stored".
 *
 * Crash safety: nothing is kept in memory across commits. A crash before COMMIT loses only
 * unanswered requests, which Resend retries; after COMMIT the outbox rows written in the same
 * transaction let the sync worker finish the job after restart.
 */
export class Writer implements WriteQueue {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly clock: () => number;
  private readonly log: Logger;
  readonly stats = { batches: 0, items: 0, retries: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: WriterOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
    this.log = opts.log ?? jsonLogger("error", (line) => process.stderr.write(line));
  }

  submit(item: WriteItem): Promise<WriteResult> {
    if (this.closed) return Promise.reject(unavailable("suppressd is shutting down; retry shortly."));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Stops taking work and waits for everything queued to commit. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.schedule();
      await (this.running ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule() {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // setImmediate, not a microtask: it lets the event loop read every request that is already
    // waiting on a socket before we commit, so a batch holds many requests, not one.
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.flush().finally(() => {
        this.running = null;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async flush() {
    const batch = this.queue.splice(0, this.opts.maxBatch ?? 1000);
    try {
      const results = await this.withLockRetry(() => this.commit(batch.map((p) => p.item)));
      for (const [i, p] of batch.entries()) p.resolve(results[i] as WriteResult);
    } catch (e) {
      if (batch.length > 1 && !isBusy(e)) {
        // One bad item must not fail its neighbours: commit each alone so only it fails.
        for (const p of batch) {
          await this.withLockRetry(() => this.commit([p.item])).then(
            (r) => p.resolve(r[0] as WriteResult),
            (e) => p.reject(this.asUnavailable(e)),
          );
        }
        return;
      }
      const error = this.asUnavailable(e);
      for (const p of batch) p.reject(error);
    }
  }

  /** SQLITE_BUSY (another process holds the write lock): wait and retry without blocking the loop. */
  private async withLockRetry<T>(run: () => Promise<T>): Promise<T> {
    const deadline = this.clock() + (this.opts.lockWaitMs ?? 10_000);
    for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
      try {
        return await run();
      } catch (e) {
        // The connection has already replaced itself (see Connection).
        if (!isBusy(e) || this.clock() + delay > deadline) throw e;
        this.stats.retries++;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private asUnavailable(e: unknown): AppError {
    if (e instanceof AppError) return e;
    const reason = isBusy(e) ? "the database is locked by another process" : "the database could not commit";
    this.log.log("error", "commit failed", { error: String((e as Error)?.message ?? e) });
    return unavailable(`${reason}; nothing was stored, retry later.`);
  }

  private commit(items: WriteItem[]): Promise<WriteResult[]> {
    return this.db.writer.exclusive(async (client) => {
      const tx = await client.transaction("write");
      try {
        const results = await this.apply(tx, items);
        await tx.commit();
        this.stats.batches++;
        this.stats.items += items.length;
        return results;
      } finally {
        tx.close();
      }
    });
  }

  private async apply(tx: Transaction, items: WriteItem[]): Promise<WriteResult[]> {
    const now = this.clock();
    const run = (q: CompiledQuery) => tx.execute(toStatement(q));
    const exec = (text: string, rows: unknown[], arg?: number) =>
      tx.execute({
        sql: text,
        args: arg === undefined ? [jsonParam(rows)] : [jsonParam(rows), arg],
      });
    const b = this.db.read; // only to compile: the statements run on `tx`

    // 1. Idempotency: the primary key on svix_id decides which deliveries are new, here and in any
    //    other process sharing the database. Within a batch the first delivery of an id wins.
    const claimed = new Set<string>();
    const fresh = items.filter((i) => i.claim === "new" && i.svixId !== null);
    if (fresh.length > 0) {
      const rows = uniqueBy(fresh, (i) => i.svixId as string).map((i) => [
        i.svixId,
        i.type,
        i.status,
        i.occurredAt,
      ]);
      for (const r of (await exec(SQL.CLAIM_EVENTS, rows, now)).rows) claimed.add(r.svix_id as string);
    }
    for (const i of items.filter((i) => i.claim === "reprocess")) {
      const q = b
        .updateTable("webhook_events")
        .set({ type: i.type, status: i.status, occurred_at: i.occurredAt })
        .where("svix_id", "=", i.svixId as string)
        .where("status", "=", "quarantined")
        .returning("svix_id")
        .compile();
      if ((await run(q)).rows.length > 0) {
        claimed.add(i.svixId as string);
        if (i.status !== "quarantined") {
          await run(
            b
              .updateTable("quarantine")
              .set({ reprocessed_at: now })
              .where("svix_id", "=", i.svixId as string)
              .compile(),
          );
        }
      }
    }
    const accepted: boolean[] = items.map((i) => {
      if (i.claim === "none") return true;
      if (!claimed.has(i.svixId as string)) return false;
      claimed.delete(i.svixId as string); // a second copy in the same batch is a duplicate
      return true;
    });
    const live = items.filter((_, n) => accepted[n]);

    // 2. Quarantine keeps the bytes as received, with the reason.
    const quarantined = live.filter((i) => i.quarantine && i.claim === "new");
    for (const part of chunk(quarantined, CHUNK)) {
      const rows = part.map((i) => ({
        svix_id: i.svixId as string,
        received_at: now,
        reason: i.quarantine?.reason ?? "",
        body: i.quarantine?.body ?? new Uint8Array(),
        reprocessed_at: null,
      }));
      await run(
        b
          .insertInto("quarantine")
          .values(rows)
          .onConflict((oc) => oc.doNothing())
          .compile(),
      );
    }

    // 3. Load the state the policy needs, for every address in the batch at once.
    const intents = live.flatMap((i) => i.intents);
    const states = await this.loadStates(exec, intents);
    const loaded = new Map(
      [...states].map(([email, st]) => [email, { row: st.row, reasons: reasonsKey(st) }]),
    );

    // 4. Decide, in arrival order, against state that includes the batch's earlier decisions.
    const history: (HistoryEntry & { svix_id: string | null; actor: string | null })[] = [];
    const changes = new Map<string, { action: "suppress" | "lift"; intent: Intent; test: boolean }>();
    const changedPerItem = live.map((item) => {
      let changed = 0;
      for (const intent of item.intents) {
        const state = states.get(intentKey(intent)) ?? emptyState();
        const result = applyIntent(state, intent, this.opts.softBounce, now);
        for (const h of result.history)
          history.push({ ...h, svix_id: item.svixId, actor: item.actor ?? null });
        if (result.change) {
          changes.set(intentKey(intent), { action: result.change, intent, test: item.test === true });
          changed++;
        }
      }
      return changed;
    });

    // 5. Write history, the new state of every touched address, and the outbox.
    if (history.length > 0) {
      const rows = history.map((h) => [
        h.email,
        h.decision,
        h.reason,
        h.source,
        h.event_type,
        h.svix_id,
        h.occurred_at,
        h.note,
        h.actor,
      ]);
      await exec(SQL.INSERT_HISTORY, rows, now);
    }
    // Only what the policy changed is written back: most deliveries change nothing.
    const rows = [...states.entries()]
      .filter(([email, s]) => s.row !== null && loaded.get(email)?.row !== s.row)
      .map(([, { row: r }]) => r as SuppressionTable)
      .map((r) => [
        r.email,
        r.suppressed,
        r.reason,
        r.first_suppressed_at,
        r.suppressed_at,
        r.last_event_at,
        r.updated_at,
        r.note,
      ]);
    if (rows.length > 0) await exec(SQL.UPSERT_SUPPRESSIONS, rows);
    const reasons = [...states.entries()]
      .filter(([email, s]) => loaded.get(email)?.reasons !== reasonsKey(s))
      .flatMap(([email, s]) =>
        [...s.reasons.values()].map((r) => [
          email,
          r.reason,
          r.source,
          isActive(s, r) ? 1 : 0,
          r.suppressedAt,
          r.liftedAt,
        ]),
      );
    if (reasons.length > 0) await exec(SQL.UPSERT_REASONS, reasons);
    await this.enqueueJobs(exec, changes, states, now);

    let n = 0;
    return items.map((item, idx) => {
      if (!accepted[idx]) return { status: "duplicate", changed: 0 };
      return { status: item.status, changed: changedPerItem[n++] ?? 0 };
    });
  }

  private async loadStates(exec: Exec, intents: Intent[]) {
    const states = new Map<string, AddressState>();
    const emails = [...new Set(intents.filter((i) => i.kind !== "invalid_address").map(intentKey))];
    if (emails.length === 0) return states;
    for (const email of emails) states.set(email, emptyState());
    for (const row of (await exec(SQL.SELECT_SUPPRESSIONS, emails)).rows) {
      const state = states.get(row.email as string);
      if (state) state.row = suppressionRow(row);
    }
    for (const r of (await exec(SQL.SELECT_REASONS, emails)).rows) {
      const reason = r.reason as Reason | "*";
      const source = r.source as Source;
      states.get(r.email as string)?.reasons.set(reasonKey(reason, source), {
        reason,
        source,
        suppressedAt: r.suppressed_at as number | null,
        liftedAt: r.lifted_at as number | null,
      });
    }
    // The soft-bounce limit is recomputed from the bounces since its last lift whenever a soft
    // bounce, a delivery or an API lift of everything arrives (see policy.ts).
    const soft = intents.filter(
      (i) => i.kind === "soft_bounce" || i.kind === "delivered" || (i.kind === "lift" && i.reasons === "*"),
    );
    if (soft.length > 0 && this.opts.softBounce.count > 0) {
      for (const r of (await exec(SQL.SELECT_SOFT_BOUNCES, [...new Set(soft.map(intentKey))])).rows)
        states.get(r.email as string)?.soft.push(r.occurred_at as number);
    }
    return states;
  }

  /**
   * One job per sink per changed address, in the same transaction as the change. Pending jobs for
   * the same address are superseded: only the latest state needs to reach the sink.
   */
  private async enqueueJobs(
    exec: Exec,
    changes: Map<string, { action: "suppress" | "lift"; intent: Intent; test: boolean }>,
    states: Map<string, AddressState>,
    now: number,
  ) {
    // A test's change neither queues jobs nor supersedes the real ones waiting for its address.
    const real = [...changes].filter(([, c]) => !c.test).map(([email]) => email);
    if (real.length === 0 || this.opts.sinks.length === 0) return;
    await exec(SQL.SUPERSEDE_JOBS, real, now);
    const jobs: unknown[] = [];
    for (const [email, { action, intent, test }] of changes) {
      if (test) continue;
      const reason = states.get(email)?.row?.reason ?? "manual";
      for (const sink of this.opts.sinks) {
        if (action === "lift" && !sink.lifts) continue;
        jobs.push([sink.name, email, action, reason, intent.eventType, intent.occurredAt]);
      }
    }
    if (jobs.length > 0) await exec(SQL.INSERT_JOBS, jobs, now);
  }
}

type Exec = (text: string, rows: unknown[], arg?: number) => Promise<{ rows: Record<string, unknown>[] }>;

/** Copies only the columns: a libsql Row also carries indexed keys and `length`. */
export function suppressionRow(r: Record<string, unknown>): SuppressionTable {
  return {
    email: r.email as string,
    suppressed: r.suppressed as 0 | 1,
    reason: r.reason as SuppressionTable["reason"],
    first_suppressed_at: r.first_suppressed_at as number,
    suppressed_at: r.suppressed_at as number,
    last_event_at: r.last_event_at as number,
    updated_at: r.updated_at as number,
    note: r.note as string | null,
  };
}

/** A snapshot of an address's reasons, to tell whether the policy changed them. */
function reasonsKey(state: AddressState): string {
  return JSON.stringify([...state.reasons.values()]);
}

function uniqueBy<T>(list: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return list.filter((t) => !seen.has(key(t)) && seen.add(key(t)));
}
