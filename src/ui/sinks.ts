import type { Kysely } from "kysely";
import type { Config } from "../config/schema.ts";
import type { Database } from "../db/schema.ts";
import { syncStatus } from "../status/report.ts";
import type { SinkHealth } from "../status/sink_health.ts";

/** One sink as the page shows it. */
export interface SinkView {
  name: string;
  type: string;
  /** ok · failing · stopped · unknown (no call yet). */
  state: string;
  /** Jobs waiting or being sent. */
  pending: number;
  dead: number;
  oldestPendingAgeSeconds: number | null;
  /** The last error in plain words, and when. */
  lastError: { message: string; at: number | null } | null;
  lastSuccessAt: number | null;
  /** What to do about it; null when nothing needs doing. */
  fix: string | null;
}

/** Each configured sink: the worker's view of it (GET /v1/status's), beside its backlog. */
export async function sinkViews(
  db: Kysely<Database>,
  config: Config,
  health: SinkHealth,
  now: number,
): Promise<SinkView[]> {
  const status = await syncStatus(db, config, health, now);
  return status.sinks.map((s) => ({
    name: s.name,
    type: s.type,
    state: s.state,
    pending: s.pending + s.running,
    dead: s.dead,
    oldestPendingAgeSeconds: s.oldest_pending_age_seconds,
    lastError: s.last_error && { message: s.last_error.message, at: Date.parse(s.last_error.at) },
    lastSuccessAt: s.last_success_at === null ? null : Date.parse(s.last_success_at),
    fix: s.fix,
  }));
}
