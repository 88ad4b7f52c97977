import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import { jobsWithoutSink } from "../db/jobs.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { reportSyncBatch } from "../metrics/sync_report.ts";
import { SinkHealth } from "../status/sink_health.ts";
import { RETRY_DEFAULTS } from "./backoff.ts";
import { buildSinks, type SinkDeps } from "./sinks/index.ts";
import { SyncWorker } from "./worker.ts";

export interface SyncService {
  worker: SyncWorker;
  /** Each sink's state from its last calls (GET /v1/status, /metrics). */
  health: SinkHealth;
  /**
   * Takes the sink settings of a reloaded config (same sink names) and resumes stopped sinks.
   * Returns false when sinks were added, removed or renamed: that needs a restart.
   */
  reloadSinks(config: Config): boolean;
  /** Stops claiming and lets the claims in flight finish (see SyncWorker.stop). */
  stop(): Promise<void>;
}

/**
 * The sync side of the daemon: builds the configured sinks, starts the outbox worker, and probes
 * each Mailchimp account and audience once. A problem is logged as a warning, never fatal: an
 * unreachable service is retried with backoff, and a refusal of the whole sink (wrong key,
 * missing audience) stops that sink at its first call, its jobs waiting until a reload.
 */
export function startSync(o: {
  config: Config;
  db: Db;
  log: Logger;
  clock?: () => number;
  metrics?: Metrics;
  deps?: SinkDeps;
  /** Shared with the HTTP app's GET /v1/status; a fresh one if absent. */
  health?: SinkHealth;
}): SyncService {
  const { config, log } = o;
  const set = buildSinks(config.sinks, { clock: o.clock, log, ...o.deps });
  const s = config.sync;
  const health = o.health ?? new SinkHealth([], o.clock);
  health.configure(config.sinks.map((x) => x.name));
  o.metrics?.watchSinks(health);
  const worker = new SyncWorker({
    db: o.db,
    sinks: set.sinks,
    health,
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
  probeAndLog(set.probe, health, log);
  let current = config.sinks;
  return {
    worker,
    health,
    stop: () => worker.stop(),
    reloadSinks(next) {
      const names = (list: Config["sinks"]) => JSON.stringify(list.map((x) => x.name));
      if (names(next.sinks) !== names(current)) return false;
      const fresh = buildSinks(next.sinks, { clock: o.clock, log, ...o.deps });
      current = next.sinks;
      worker.setSinks(fresh.sinks);
      probeAndLog(fresh.probe, health, log);
      return true;
    },
  };
}

/** The start-up (and reload) check of every sink: its result is logged and seeds the sink's state. */
function probeAndLog(
  probe: () => ReturnType<ReturnType<typeof buildSinks>["probe"]>,
  health: SinkHealth,
  log: Logger,
) {
  if (health.names().length === 0) return Promise.resolve();
  return probe().then(
    (results) => {
      for (const r of results) {
        health.probed(r.sink, r.problems);
        if (r.problems.length > 0) {
          log.log("warn", `sink ${r.sink}: check failed: ${r.problems.join("; ")}`, {
            sink: r.sink,
            problems: r.problems,
            hint:
              "an unreachable service is retried with backoff; a refused key or a missing audience " +
              "stops this sink at its first call and its jobs wait. Fix the config, check it with " +
              "`config check`, then reload the daemon (SIGHUP); `status` shows each sink's state",
          });
        } else log.log("info", "sink ready", { sink: r.sink, checked: r.ok });
      }
    },
    (e) => log.log("warn", "sink check failed", { error: String((e as Error)?.message ?? e) }),
  );
}

/** Jobs of a sink that is no longer configured are never sent: say so at start, and what to do. */
function warnAboutOrphans(db: Db, configured: string[], log: Logger) {
  jobsWithoutSink(db.read, configured).then(
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
