import { addressHash, erasedAmong, eraseKeepingSuppressed } from "../db/erased.ts";
import { conflict } from "../errors.ts";
import type { Reason } from "../suppression/types.ts";
import type { AppDeps } from "./app.ts";

/**
 * Which of `emails` (normalised) were erased with keep-suppressed: each is hashed with
 * `privacy.hashKey` and looked up by primary key. Without a key nothing can have been erased so.
 */
export async function erasedOf(
  deps: AppDeps,
  emails: readonly string[],
): Promise<Map<string, { reason: Reason; erased_at: number }>> {
  const key = deps.config.privacy.hashKey;
  const out = new Map<string, { reason: Reason; erased_at: number }>();
  if (key === null || emails.length === 0) return out;
  const byHash = new Map(emails.map((e) => [addressHash(key, e), e]));
  for (const [hash, hit] of await erasedAmong(deps.db, [...byHash.keys()]))
    out.set(byHash.get(hash) as string, hit);
  return out;
}

/**
 * DELETE /v1/suppressions/{email}?erase=keep-suppressed: an erasure request from someone who must
 * never be mailed again. Every row naming the address goes; its keyed hash keeps it suppressed.
 */
export async function eraseRoute(deps: AppDeps, email: string) {
  const key = deps.config.privacy.hashKey;
  if (key === null)
    throw conflict(
      "hash_key_missing",
      "erase=keep-suppressed needs privacy.hashKey in the server's configuration (at least 32 characters); nothing was erased.",
    );
  const r = await eraseKeepingSuppressed(deps.db, email, addressHash(key, email), deps.clock());
  return {
    email,
    suppressed: true,
    erased: true,
    reason: r.reason,
    was_suppressed: r.wasSuppressed,
    erased_rows: { suppressions: r.suppressions, reasons: r.reasons, history: r.history, jobs: r.jobs },
    // Sinks that had not been told yet never will be (the address is gone): act on them by hand.
    unsent_jobs: r.unsentJobs,
  };
}
