import type { Kysely } from "kysely";
import type { Config } from "../config/schema.ts";
import type { Database } from "../db/schema.ts";
import { oldestPendingJobs } from "../db/ui_queries.ts";
import { outboxByStatus } from "../metrics/db_stats.ts";

/** One sink as the page shows it. */
export interface SinkView {
  name: string;
  type: string;
  /** ok · failing · stopped · unknown (no call yet, or not configured any more). */
  state: string;
  pending: number;
  dead: number;
  oldestPendingAgeSeconds: number | null;
  /** The last error in plain words, and when. */
  lastError: { message: string; at: number | null } | null;
  lastSuccessAt: number | null;
  /** What to do about it; null when nothing needs doing. */
  fix: string | null;
}

/** Each configured sink's backlog, from the outbox. */
export async function sinkViews(db: Kysely<Database>, config: Config, now: number): Promise<SinkView[]> {
  const counts = await outboxByStatus(db, ["pending", "running", "dead"]);
  const oldest = new Map((await oldestPendingJobs(db)).map((o) => [o.sink, o.createdAt]));
  const n = (sink: string, status: string) =>
    counts.find((c) => c.sink === sink && c.status === status)?.n ?? 0;
  return config.sinks.map((s) => {
    const first = oldest.get(s.name);
    return {
      name: s.name,
      type: s.type,
      state: "unknown",
      pending: n(s.name, "pending") + n(s.name, "running"),
      dead: n(s.name, "dead"),
      oldestPendingAgeSeconds: first === undefined ? null : Math.max(0, Math.round((now - first) / 1000)),
      lastError: null,
      lastSuccessAt: null,
      fix: null,
    };
  });
}
