/** How long a job waits before its next attempt, and when the queue stops trying. */
export interface RetryPolicy {
  /** Upper bound of the first wait: the first retry happens within this. */
  firstMs: number;
  /** No wait is longer than this. */
  capMs: number;
  /** A job still failing this long after it was queued goes `dead`. */
  giveUpMs: number;
}

export const RETRY_DEFAULTS: RetryPolicy = {
  firstMs: 15_000,
  capMs: 60 * 60_000,
  giveUpMs: 3 * 24 * 60 * 60_000,
};

/**
 * Exponential backoff with "equal jitter": the n-th wait is between half and all of
 * firstMs·2^(n-1), capped. The random half spreads retries of a burst that failed together (an
 * outage) so they do not all return in the same second; the fixed half keeps the growth.
 */
export function backoffMs(
  attempt: number,
  policy: RetryPolicy = RETRY_DEFAULTS,
  random = Math.random,
): number {
  const exp = Math.min(policy.capMs, policy.firstMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}
