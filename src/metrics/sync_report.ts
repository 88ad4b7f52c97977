import type { Logger } from "../log.ts";
import type { Metrics, SyncBatchReport } from "./metrics.ts";

/**
 * What the sync worker calls after each batch: one JSON log line and the sync metrics. The
 * report carries counts, the sink's name and an error summary only; never addresses or keys.
 */
export function reportSyncBatch(log: Logger, metrics: Metrics | undefined, r: SyncBatchReport): void {
  metrics?.syncBatch(r);
  log.log(r.error === undefined ? "info" : "warn", "sync batch", {
    sink: r.sink,
    jobs: r.jobs,
    done: r.done,
    retry: r.retry ?? 0,
    dead: r.dead ?? 0,
    duration_ms: Math.round(r.durationMs),
    ...(r.error === undefined ? {} : { error: r.error }),
  });
}
