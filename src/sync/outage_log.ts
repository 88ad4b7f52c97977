import type { Logger } from "../log.ts";
import type { ErrorClass, FailureOutcome } from "../status/sink_health.ts";

const WORDS: Record<FailureOutcome, string> = {
  dead: "dead",
  retry: "failed, to be retried",
  waiting: "waiting",
};

interface Window {
  start: number;
  count: number;
  error: string;
}

/**
 * Sink failures as log lines an operator can read during an outage: one line per sink, error
 * class and outcome per interval, with a count, never one per job (a wrong key once wrote 88,519
 * lines in 10 s). The first failure of a kind is logged at once, so trouble shows within one sync
 * cycle; what follows in the same interval is counted and logged when the interval ends.
 */
export class OutageLog {
  private readonly windows = new Map<
    string,
    Window & { sink: string; cls: ErrorClass; outcome: FailureOutcome }
  >();

  constructor(
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
    readonly intervalMs = 60_000,
  ) {}

  add(sink: string, outcome: FailureOutcome, cls: ErrorClass, n: number, error: string): void {
    if (n <= 0) return;
    this.flush();
    const key = `${sink}\u0000${outcome}\u0000${cls}`;
    const w = this.windows.get(key);
    if (w) {
      w.count += n;
      w.error = error;
      return;
    }
    this.windows.set(key, { sink, cls, outcome, start: this.clock(), count: 0, error });
    this.line(sink, outcome, cls, n, error, "");
  }

  /** Logs the counts of intervals that ended; a quiet interval closes its window. */
  flush(all = false): void {
    const now = this.clock();
    for (const [key, w] of this.windows) {
      const elapsed = now - w.start;
      if (!all && elapsed < this.intervalMs) continue;
      if (w.count === 0) {
        this.windows.delete(key);
        continue;
      }
      this.line(
        w.sink,
        w.outcome,
        w.cls,
        w.count,
        w.error,
        ` in the last ${span(all ? elapsed : this.intervalMs)}`,
      );
      if (all) this.windows.delete(key);
      else Object.assign(w, { start: now, count: 0 });
    }
  }

  private line(
    sink: string,
    outcome: FailureOutcome,
    cls: ErrorClass,
    n: number,
    error: string,
    when: string,
  ) {
    const jobs = `${n.toLocaleString("en-US")} job${n === 1 ? "" : "s"} ${WORDS[outcome]}${when}`;
    this.log.log("warn", `sink ${sink}: ${error} (${jobs})`, {
      sink,
      error_class: cls,
      outcome,
      jobs: n,
    });
  }
}

function span(ms: number): string {
  if (ms === 60_000) return "minute";
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}
