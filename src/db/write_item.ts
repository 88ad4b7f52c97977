import type { CompiledQuery, Kysely } from "kysely";
import type { Intent } from "../suppression/intents.ts";
import type { SoftBounceRule } from "../suppression/policy.ts";
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
   * Sinks that must not hear of this item's changes: the ones its data came from (an import from
   * a Mailchimp audience, a Mailchimp webhook, Resend's own lists), so a change is never sent back
   * to the service that told us (no echo loop). Their pending jobs for these addresses are left as
   * they are; every other sink gets its job as usual.
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
}

/** What the policy and the outbox need to know while a batch is applied. */
export interface BatchRules {
  softBounce: SoftBounceRule;
  sinks: readonly SinkTarget[];
}

type Rows = Promise<{ rows: Record<string, unknown>[] }>;

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
