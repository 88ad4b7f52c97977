import type { Logger } from "../log.ts";
import type { Metrics, SyncBatchReport } from "./metrics.ts";

/**
 * What the sync worker calls after each batch: one info line of counts and the sync metrics.
 * Failures are told apart by the worker's outage log (one warn line per sink, class and interval,
 * with the error in words), so this line stays at info and repeats no error text.
 */
export function reportSyncBatch(log: Logger, metrics: Metrics | undefined, r: SyncBatchReport): void {
  metrics?.syncBatch(r);
  log.log("info", "sync batch", {
    sink: r.sink,
    jobs: r.jobs,
    done: r.done,
    retry: r.retry ?? 0,
    dead: r.dead ?? 0,
    ...(r.waiting ? { waiting: r.waiting } : {}),
    duration_ms: Math.round(r.durationMs),
    ...(r.failures?.length ? { error_classes: [...new Set(r.failures.map((f) => f.class))] } : {}),
  });
}
