import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import type { WriteQueue } from "../db/writer.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import { reconcile, type TargetReport } from "./reconcile.ts";

/** The last scheduled run, as GET /v1/status shows it (counts only: no addresses). */
export interface ReconcileStatus {
  at: string;
  ok: boolean;
  error: string | null;
  targets: { target: string; here_not_there: number; there_not_here: number }[];
}

/**
 * `reconcile.everyHours`: the daemon compares its list with the services on a timer and reports
 * the drift (log, /metrics, status); it never repairs on its own, since a fix writes to the
 * operator's audiences. The first run is one period after start, not at start: a restart loop
 * must not read every audience each time.
 */
export class ReconcileSchedule {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private lastRun: ReconcileStatus | null = null;
  private readonly drift;
  private readonly lastTime;

  constructor(
    private readonly deps: {
      config: Config;
      db: Db;
      writer: WriteQueue;
      log: Logger;
      registry: Registry;
      /** Pauses between retries of a throttled or failing service (tests pass a quick one). */
      sleep?: (ms: number) => Promise<void>;
    },
  ) {
    this.drift = deps.registry.gauge(
      "suppressd_reconcile_drift",
      "Addresses out of step at the last scheduled reconcile, by target and direction (here_not_there: suppressed here, mailable there; there_not_here: the reverse).",
      ["target", "direction"],
    );
    this.lastTime = deps.registry.gauge(
      "suppressd_reconcile_last_run_timestamp_seconds",
      "When the last scheduled reconcile finished (0: none yet), and whether it worked (ok=0: it failed).",
      ["ok"],
    );
  }

  start() {
    const hours = this.deps.config.reconcile.everyHours;
    if (hours <= 0) return;
    const every = hours * 3600_000;
    const tick = () => {
      // A run still going (a huge audience, a throttled service) is not doubled.
      this.running ??= this.runOnce().finally(() => {
        this.running = null;
      });
      this.timer = setTimeout(tick, every);
      this.timer.unref?.();
    };
    this.timer = setTimeout(tick, every);
    this.timer.unref?.();
  }

  async stop() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  last(): ReconcileStatus | null {
    return this.lastRun;
  }

  /** One comparison, reported; exported for tests. */
  async runOnce(): Promise<void> {
    const at = new Date().toISOString();
    let reports: TargetReport[];
    try {
      reports = await reconcile(this.deps, { fix: false });
    } catch (e) {
      const error = String((e as Error)?.message ?? e);
      this.lastRun = { at, ok: false, error, targets: [] };
      this.lastTime.set({ ok: "0" }, Date.now() / 1000);
      this.deps.log.log("error", `reconcile failed: ${error}`);
      return;
    }
    this.drift.clear();
    const targets = reports.map((r) => ({
      target: r.target,
      here_not_there: r.hereNotThere.count,
      there_not_here: r.thereNotHere.count,
    }));
    for (const t of targets) {
      this.drift.set({ target: t.target, direction: "here_not_there" }, t.here_not_there);
      this.drift.set({ target: t.target, direction: "there_not_here" }, t.there_not_here);
      const level = t.here_not_there + t.there_not_here > 0 ? "warn" : "info";
      this.deps.log.log(
        level,
        `reconcile ${t.target}: ${t.here_not_there} suppressed here but mailable there, ${t.there_not_here} not mailable there but not suppressed here` +
          (level === "warn" ? " (run `suppressd reconcile --fix`)" : ""),
      );
    }
    this.lastRun = { at, ok: true, error: null, targets };
    this.lastTime.set({ ok: "1" }, Date.now() / 1000);
  }
}
