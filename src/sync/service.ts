import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { reportSyncBatch } from "../metrics/sync_report.ts";
import { RETRY_DEFAULTS } from "./backoff.ts";
import { jobsWithoutSink } from "./outbox.ts";
import { buildSinks, type SinkDeps } from "./sinks/index.ts";
import { SyncWorker } from "./worker.ts";

export interface SyncService {
  worker: SyncWorker;
  /** Stops claiming and lets the claims in flight finish (see SyncWorker.stop). */
  stop(): Promise<void>;
  /** Resolves when the start-up probe of every sink has been logged. */
  probed: Promise<void>;
}

/**
 * The sync side of the daemon: builds the configured sinks, starts the outbox worker, and probes
 * each Mailchimp account and audience once (a problem is logged as a warning, never fatal: the
 * jobs wait in the outbox until it is fixed).
 */
export function startSync(o: {
  config: Config;
  db: Db;
  log: Logger;
  clock?: () => number;
  metrics?: Metrics;
  deps?: SinkDeps;
}): SyncService {
  const { config, log } = o;
  const set = buildSinks(config.sinks, { clock: o.clock, log, ...o.deps });
  const s = config.sync;
  const worker = new SyncWorker({
    db: o.db,
    sinks: set.sinks,
    clock: o.clock,
    log,
    claimLimit: s.claimSize,
    maxInFlight: s.claimsInFlight,
    leaseMs: s.leaseSeconds * 1000,
    pollMs: s.pollMs,
    retry: { ...RETRY_DEFAULTS, giveUpMs: s.giveUpHours * 3_600_000 },
    retentionMs: config.retention.days * 86_400_000,
    report: (r) => reportSyncBatch(log, o.metrics, r),
  });
  worker.start();
  warnAboutOrphans(
    o.db,
    set.sinks.map((x) => x.name),
    log,
  );
  const probed =
    set.sinks.length === 0
      ? Promise.resolve()
      : set.probe().then(
          (results) => {
            for (const r of results) {
              if (r.problems.length > 0) {
                log.log("warn", "sink check failed: its jobs wait in the outbox until this is fixed", {
                  sink: r.sink,
                  problems: r.problems,
                  hint: "run `suppressd config check` after fixing the config",
                });
              } else log.log("info", "sink ready", { sink: r.sink, checked: r.ok });
            }
          },
          (e) => log.log("warn", "sink check failed", { error: String((e as Error)?.message ?? e) }),
        );
  return { worker, probed, stop: () => worker.stop() };
}

/** Jobs of a sink that is no longer configured are never sent: say so at start, and what to do. */
function warnAboutOrphans(db: Db, configured: string[], log: Logger) {
  jobsWithoutSink(db.kysely, configured).then(
    (orphans) => {
      for (const { sink, jobs } of orphans) {
        log.log("warn", "jobs wait for a sink that is not configured: they are not sent", {
          sink,
          jobs,
          hint:
            "configure the sink under that name again; if it was renamed, run " +
            "`suppressd jobs backfill --sink NEW_NAME` so the new one gets every suppressed address",
        });
      }
    },
    (e) => log.log("warn", "could not count jobs of unconfigured sinks", { error: String(e?.message ?? e) }),
  );
}
