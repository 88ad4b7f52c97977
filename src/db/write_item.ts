import type { CompiledQuery, Kysely } from "kysely";
import type { Intent } from "../suppression/intents.ts";
import type { SoftBounceRule } from "../suppression/policy.ts";
import type { Reason } from "../suppression/types.ts";
import type { Database, EventStatus } from "./schema.ts";

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

/** What the policy and the outbox need to know while a batch is applied. */
export interface BatchRules {
  softBounce: SoftBounceRule;
  sinks: readonly SinkTarget[];
  /** `privacy.hashKey`, to recognise addresses erased with --keep-suppressed (see write_erased.ts). */
  hashKey?: string | null;
}

type Rows = Promise<{ rows: Record<string, unknown>[] }>;

/** The statements of one open write transaction, on whichever connection runs it. */
export interface TxStatements {
  exec(text: string, args: unknown[]): Rows;
  run(query: CompiledQuery): Rows;
}

/**
 * Runs one write transaction (BEGIN IMMEDIATE, `fn`, COMMIT), rolled back if `fn` throws: the
 * Writer's connection. From a `Db` it is @libsql/client on the write connection
 * (writer.ts); on the Writer's thread the native binding with cached statements (native_tx.ts).
 */
export interface TxRunner {
  /**
   * Whether `transaction` itself waits up to `lockWaitMs` for another process's lock (the
   * Writer's thread, native_tx.ts); if not, the Writer retries a BUSY asynchronously.
   */
  readonly waitsForLocks: boolean;
  transaction<T>(fn: (tx: TxStatements) => Promise<T>, opts: { lockWaitMs: number }): Promise<T>;
}

/** One open write transaction, as the steps of a batch use it. */
export interface Tx {
  /** A fixed statement of writer_sql.ts with its rows as one JSON parameter (and `arg` as ?2). */
  exec(text: string, rows: unknown[], arg?: number): Rows;
  /** A statement compiled by `build`. */
  run(query: CompiledQuery): Rows;
  /** Only compiles queries: they run on the transaction through `run`. */
  build: Kysely<Database>;
  /** The batch's clock reading: every row it writes carries the same time. */
  now: number;
}
