import type { Transaction } from "@libsql/client";
import type { CompiledQuery } from "kysely";
import { AppError, unavailable } from "../errors.ts";
import { type Intent, intentKey } from "../events/intents.ts";
import {
  type AddressState,
  activeReasons,
  applyIntent,
  emptyState,
  type HistoryEntry,
  isActive,
  reasonKey,
  type SoftBounceRule,
} from "../events/policy.ts";
import type { Source } from "../events/sources.ts";
import type { Db } from "./client.ts";
import { isBusy } from "./connection.ts";
import { toStatement } from "./dialect.ts";
import { addressHash } from "./erased.ts";
import { jsonParam } from "./json_param.ts";
import type { EventStatus, Reason, SuppressionTable } from "./schema.ts";
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
  /**
   * Sinks that must not hear of this item's changes because they are where it came from (a
   * Mailchimp webhook is not sent back to the sink of that audience: no echo). Their waiting jobs
   * are left as they are; every other sink gets its job as usual.
   */
  skipSinks?: readonly string[];
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
  /**
   * The reasons the sink hears of; null for all. With a filter, the sink's view of an address is
   * "suppressed while one of these is in force", and a job is queued when that view changes.
   */
  reasons?: readonly Reason[] | null;
}

export interface WriterOptions {
  softBounce: SoftBounceRule;
  sinks: readonly SinkTarget[];
  clock?: () => number;
  /** Items per transaction; more waiting items go in the next one. */
  maxBatch?: number;
  /** How long a batch keeps retrying a locked database before its callers get 503. */
  lockWaitMs?: number;
  /**
   * `privacy.hashKey`: with it, events about an address erased with `--keep-suppressed` are
   * dropped (acknowledged, nothing stored): it stays suppressed by its hash alone.
   */
  hashKey?: string | null;
}

/** What the HTTP layer and the CLI write through: the Writer itself, or the Writer on its own thread. */
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
  readonly stats = { batches: 0, items: 0, retries: 0 };

  constructor(
    private readonly db: Db,
    private readonly opts: WriterOptions,
  ) {
    this.clock = opts.clock ?? Date.now;
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
            (e) => p.reject(asUnavailable(e)),
          );
        }
        return;
      }
      const error = asUnavailable(e);
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
    const b = this.db.kysely; // only to compile: the statements run on `tx`

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
    for (const part of chunks(quarantined)) {
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

    // 3. Load the state the policy needs, for every address in the batch at once. An address
    //    erased with --keep-suppressed is left out: nothing about it is stored again.
    const erased = await this.erasedAmong(
      exec,
      live.flatMap((i) => i.intents),
    );
    const kept = (intent: Intent) => intent.kind === "invalid_address" || !erased.has(intent.email);
    const intents = live.flatMap((i) => i.intents).filter(kept);
    const states = await this.loadStates(exec, intents);
    const loaded = new Map(
      [...states].map(([email, st]) => [email, { row: st.row, reasons: reasonsKey(st) }]),
    );
    // What filtered sinks saw before this batch (the policy updates `states` in place).
    const before = new Map([...states].map(([email, st]) => [email, inForce(st)]));

    // 4. Decide, in arrival order, against state that includes the batch's earlier decisions.
    const history: (HistoryEntry & { svix_id: string | null; actor: string | null })[] = [];
    const changes = new Map<string, Change>();
    const touched = new Map<string, Change>();
    const changedPerItem = live.map((item) => {
      let changed = 0;
      for (const intent of item.intents.filter(kept)) {
        const state = states.get(intentKey(intent)) ?? emptyState();
        const result = applyIntent(state, intent, this.opts.softBounce, now);
        for (const h of result.history)
          history.push({ ...h, svix_id: item.svixId, actor: item.actor ?? null });
        const skip = item.skipSinks ?? [];
        if (intent.kind !== "invalid_address") {
          // A smoke test's touch counts as a test only if nothing real touched the address too.
          const test = item.test === true && (touched.get(intent.email)?.test ?? true);
          touched.set(intent.email, { action: null, intent, test, skip });
        }
        if (result.change) {
          changes.set(intentKey(intent), { action: result.change, intent, test: item.test === true, skip });
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
    await this.enqueueJobs(exec, { changes, touched, before, states }, now);

    let n = 0;
    return items.map((item, idx) => {
      if (!accepted[idx]) return { status: "duplicate", changed: 0 };
      return { status: item.status, changed: changedPerItem[n++] ?? 0 };
    });
  }

  /** The addresses among `intents` erased with --keep-suppressed (one lookup by hash per batch). */
  private async erasedAmong(exec: Exec, intents: Intent[]): Promise<Set<string>> {
    const key = this.opts.hashKey;
    if (!key) return new Set();
    const emails = [...new Set(intents.filter((i) => i.kind !== "invalid_address").map(intentKey))];
    if (emails.length === 0) return new Set();
    const byHash = new Map(emails.map((e) => [addressHash(key, e), e]));
    const rows = (await exec(SQL.SELECT_ERASED, [...byHash.keys()])).rows;
    return new Set(rows.map((r) => byHash.get(r.hash as string) as string));
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
   * the same address and sink are superseded: only the latest state needs to reach the sink. A
   * sink without a reason filter hears of every change of mailability; a filtered one when its
   * view changes (suppressed while one of its reasons is in force), with the strongest of its
   * reasons. A sink the item came from (`skipSinks`) is not sent its own change back, and its
   * waiting jobs are left as they are: they carry our earlier changes, which it has not heard of
   * (a lift removing our tag still applies after the member unsubscribed there).
   */
  private async enqueueJobs(
    exec: Exec,
    batch: {
      changes: Map<string, Change>;
      touched: Map<string, Change>;
      before: Map<string, Reason[]>;
      states: Map<string, AddressState>;
    },
    now: number,
  ) {
    if (this.opts.sinks.length === 0) return;
    const supersede: [string, string][] = [];
    const jobs: unknown[] = [];
    // A test's change neither queues jobs nor supersedes the real ones waiting for its address.
    for (const [email, touched] of batch.touched) {
      const after = inForceOf(batch.states.get(email));
      const was = batch.before.get(email) ?? [];
      for (const sink of this.opts.sinks) {
        // Unfiltered sinks follow the address's last change of mailability, filtered ones their
        // own view, from the last item that touched the address.
        const from = sink.reasons == null ? batch.changes.get(email) : touched;
        if (!from || from.test || from.skip.includes(sink.name)) continue;
        let action: "suppress" | "lift";
        let reason: Reason;
        if (sink.reasons == null) {
          action = from.action as "suppress" | "lift";
          reason = batch.states.get(email)?.row?.reason ?? "manual";
        } else {
          const wanted = sink.reasons;
          const now_ = after.find((r) => wanted.includes(r));
          const then = was.find((r) => wanted.includes(r));
          if (now_ !== undefined && then === undefined) action = "suppress";
          else if (now_ === undefined && then !== undefined) action = "lift";
          else continue;
          reason = (now_ ?? then) as Reason;
        }
        supersede.push([sink.name, email]);
        if (action === "lift" && !sink.lifts) continue;
        jobs.push([sink.name, email, action, reason, from.intent.eventType, from.intent.occurredAt]);
      }
    }
    if (supersede.length > 0) await exec(SQL.SUPERSEDE_SINK_JOBS, supersede, now);
    if (jobs.length > 0) await exec(SQL.INSERT_JOBS, jobs, now);
  }
}

/**
 * What an item did to an address (`action` null: it touched it without changing its
 * mailability), and where the resulting jobs come from.
 */
interface Change {
  action: "suppress" | "lift" | null;
  intent: Intent;
  test: boolean;
  skip: readonly string[];
}

/** The reasons in force, strongest first. */
function inForce(state: AddressState): Reason[] {
  return activeReasons(state).map((r) => r.reason as Reason);
}

const inForceOf = (state: AddressState | undefined): Reason[] => (state ? inForce(state) : []);

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

function chunks<T>(list: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += CHUNK) out.push(list.slice(i, i + CHUNK));
  return out;
}

function uniqueBy<T>(list: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return list.filter((t) => !seen.has(key(t)) && seen.add(key(t)));
}

function asUnavailable(e: unknown): AppError {
  if (e instanceof AppError) return e;
  const reason = isBusy(e) ? "the database is locked by another process" : "the database could not commit";
  console.error(
    JSON.stringify({ level: "error", msg: "commit failed", error: String((e as Error)?.message ?? e) }),
  );
  return unavailable(`${reason}; nothing was stored, retry later.`);
}
