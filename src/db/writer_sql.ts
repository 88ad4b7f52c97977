/**
 * The writer's statements, as fixed SQL texts that take their rows as one JSON array parameter
 * (`json_each`). Building each batch's statements with Kysely was about a tenth of the daemon's
 * CPU under ingest; one parameter also has no variable limit, whatever the batch size. Column
 * lists follow schema.ts; each row is a JSON array in the order the SELECT reads it. The parameter
 * is always built by `jsonParam`: a lone surrogate in plain JSON text would be stored as bytes
 * that are not UTF-8.
 *
 * (Keeping prepared statements per connection was tried too and removed: a statement left
 * un-reset by an error kept a connection, and its write lock, alive after a long external lock.)
 */

/** [svix_id, type, status, occurred_at]; ?2 received_at. Returns the ids that were new. */
export const CLAIM_EVENTS = `INSERT INTO webhook_events (svix_id, type, status, occurred_at, received_at)
SELECT value->>0, value->>1, value->>2, value->>3, ?2 FROM json_each(?1) WHERE true
ON CONFLICT (svix_id) DO NOTHING RETURNING svix_id`;

const IN_LIST = "(SELECT value FROM json_each(?1))";

export const SELECT_SUPPRESSIONS = `SELECT email, suppressed, reason, first_suppressed_at, suppressed_at,
last_event_at, updated_at, note FROM suppressions WHERE email IN ${IN_LIST}`;

export const SELECT_REASONS = `SELECT email, reason, source, suppressed_at, lifted_at
FROM suppression_reasons WHERE email IN ${IN_LIST}`;

/**
 * Soft bounces at or after the soft-bounce limit's last lift (a delivery, or an API lift of
 * everything): the only ones that can still count (see policy.ts).
 */
export const SELECT_SOFT_BOUNCES = `SELECT DISTINCT e.email, e.occurred_at FROM suppression_events e
WHERE e.email IN ${IN_LIST} AND e.decision = 'soft_bounce'
AND e.occurred_at >= coalesce((SELECT max(r.lifted_at) FROM suppression_reasons r WHERE r.email = e.email
  AND ((r.reason = 'soft_bounce_limit' AND r.source = 'resend') OR r.reason = '*')), -9007199254740991)`;

/** [email, decision, reason, source, event_type, svix_id, occurred_at, note, actor]; ?2 recorded_at. */
export const INSERT_HISTORY = `INSERT INTO suppression_events
(email, decision, reason, source, event_type, svix_id, occurred_at, recorded_at, note, actor)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, ?2, value->>7, value->>8
FROM json_each(?1)`;

/** [email, suppressed, reason, first_suppressed_at, suppressed_at, last_event_at, updated_at, note]. */
export const UPSERT_SUPPRESSIONS = `INSERT INTO suppressions
(email, suppressed, reason, first_suppressed_at, suppressed_at, last_event_at, updated_at, note)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, value->>7
FROM json_each(?1) WHERE true
ON CONFLICT (email) DO UPDATE SET suppressed = excluded.suppressed, reason = excluded.reason,
first_suppressed_at = excluded.first_suppressed_at, suppressed_at = excluded.suppressed_at,
last_event_at = excluded.last_event_at, updated_at = excluded.updated_at, note = excluded.note`;

/** [email, reason, source, active, suppressed_at, lifted_at]. */
export const UPSERT_REASONS = `INSERT INTO suppression_reasons (email, reason, source, active, suppressed_at, lifted_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5 FROM json_each(?1) WHERE true
ON CONFLICT (email, reason, source) DO UPDATE SET active = excluded.active,
suppressed_at = excluded.suppressed_at, lifted_at = excluded.lifted_at`;

/** Pending jobs of these addresses (?1) are replaced by the new ones; ?2 now. */
export const SUPERSEDE_JOBS = `UPDATE sync_jobs SET status = 'superseded', updated_at = ?2
WHERE status = 'pending' AND email IN ${IN_LIST}`;

/** Pending jobs of these [sink, email] pairs (?1) are replaced by the new ones; ?2 now. */
export const SUPERSEDE_SINK_JOBS = `UPDATE sync_jobs SET status = 'superseded', updated_at = ?2
WHERE status = 'pending' AND (sink, email) IN (SELECT value->>0, value->>1 FROM json_each(?1))`;

/** Which of these address hashes (?1) were erased with --keep-suppressed. */
export const SELECT_ERASED = `SELECT hash FROM erased_suppressions WHERE hash IN ${IN_LIST}`;

/** [sink, email, action, reason, event_type, occurred_at]; ?2 now (due at once). */
export const INSERT_JOBS = `INSERT INTO sync_jobs
(sink, email, action, reason, event_type, occurred_at, status, attempts, next_attempt_at, created_at, updated_at)
SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, 'pending', 0, ?2, ?2, ?2
FROM json_each(?1)`;
