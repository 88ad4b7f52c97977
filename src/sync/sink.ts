import type { SyncJob } from "../db/outbox.ts";

/** A claimed outbox row, as a sink sees it. */
export type { SyncJob };

/**
 * What became of one job. `done`: the audience no longer mails the address (or never did).
 * `retry`: worth trying again later (429, 5xx, timeouts). `fail`: trying again cannot help this
 * address (the audience refuses it): the job goes `dead` at once. A refusal of the whole sink
 * (wrong key, unknown audience) is not a per-job `fail`: throw a permanent SinkError instead.
 */
export type Outcome =
  | { kind: "done"; note?: string }
  | { kind: "retry"; error: string; retryAfterMs?: number }
  | { kind: "fail"; error: string };

/** One destination for suppressions (a Mailchimp account's audiences, an HTTP audience API). */
export interface Sink {
  readonly name: string;
  /**
   * Sends a group of jobs and says what became of each, by job id. A job missing from the answer
   * (because `signal` aborted the send) goes back to the queue untouched. Throwing is the same as
   * answering `retry` with the error for every job; a `SinkError` marked permanent stops the sink
   * (the worker's circuit breaker): the jobs wait, pending, until a reload resumes it.
   */
  send(jobs: readonly SyncJob[], signal: AbortSignal): Promise<Map<number, Outcome>>;
}

/**
 * An error a sink raises on purpose for a whole send. `permanent` ones (wrong key, missing
 * audience) stop the sink until the daemon is reloaded; its jobs wait instead of going dead.
 */
export class SinkError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "SinkError";
  }
}

export function outcomeOf(e: unknown): Outcome {
  if (e instanceof SinkError) {
    return e.permanent
      ? { kind: "fail", error: e.message }
      : { kind: "retry", error: e.message, retryAfterMs: e.retryAfterMs };
  }
  return { kind: "retry", error: `unexpected error: ${(e as Error)?.message ?? String(e)}` };
}

const RANK = { done: 0, fail: 1, retry: 2 } as const;

/**
 * Combines what happened to one job in several places (several audiences, or a member write and
 * its tag): the job is done only when done everywhere, and a transient failure anywhere means the
 * whole job is tried again (every call is idempotent, so repeating the parts that worked is safe).
 */
export function worse(a: Outcome | undefined, b: Outcome): Outcome {
  if (a === undefined) return b;
  return RANK[b.kind] > RANK[a.kind] ? b : a;
}
