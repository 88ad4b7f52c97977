/**
 * What each sink's last calls said, kept in memory by the daemon: the `up` gauge, `GET /v1/status`
 * and `suppressd status` read it. The outbox in the database says how much waits; this says why.
 */

/** Why a job failed, coarse enough to be a metric label and to decide what an operator does. */
export const ERROR_CLASSES = [
  "auth",
  "not_found",
  "rejected",
  "throttled",
  "timeout",
  "network",
  "server",
  "other",
] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

/**
 * The class of an error text as sinks write it ("POST crm.example answered 401: …", "Mailchimp
 * rejected the API key (401 …)", "could not reach Mailchimp (ENOTFOUND …)"). Reading the text
 * keeps one classification for every sink, the ones that report outcomes per job included.
 */
export function errorClass(text: string): ErrorClass {
  if (/could not reach|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|Unable to connect/i.test(text))
    return "network";
  if (/no answer\b.*\bwithin|timed? ?out/i.test(text)) return "timeout";
  const status = Number(/\b([45]\d\d)\b/.exec(text)?.[1] ?? 0);
  if (status === 401 || status === 403) return "auth";
  if (status === 404 || /does not exist/i.test(text)) return "not_found";
  if (status === 408) return "timeout";
  if (status === 429) return "throttled";
  if (status >= 500) return "server";
  if (status >= 400) return "rejected";
  return "other";
}

/** What became of the failed jobs a line counts. */
export type FailureOutcome = "dead" | "retry" | "waiting";

/** Failed jobs of one batch with one outcome and error class. */
export interface Failure {
  outcome: FailureOutcome;
  class: ErrorClass;
  n: number;
  /** The latest error text of the group, addresses removed. */
  error: string;
}

/** Classes that say the sink itself answered and works (it refused one address, not everyone). */
const ANSWERED: ReadonlySet<ErrorClass> = new Set(["rejected"]);

export type SinkStateName = "ok" | "failing" | "stopped" | "unknown";

export interface SinkState {
  name: string;
  state: SinkStateName;
  /** Whether the last call (or, before any, the start-up check) reached a working sink. */
  up: boolean | null;
  lastCallAt: number | null;
  lastSuccessAt: number | null;
  lastError: { message: string; class: ErrorClass; at: number } | null;
  /** Set while the circuit breaker holds the sink's jobs back. */
  stopped: { reason: string; class: ErrorClass; since: number } | null;
}

/** One batch's result as the health record needs it. */
export interface CallResult {
  done: number;
  failures: readonly { class: ErrorClass; n: number; error: string }[];
}

export class SinkHealth {
  private readonly states = new Map<string, SinkState>();

  constructor(
    names: readonly string[],
    private readonly clock: () => number = Date.now,
  ) {
    this.configure(names);
  }

  /** The sinks of the running config; a reload may have changed them. Known history is kept. */
  configure(names: readonly string[]): void {
    for (const name of [...this.states.keys()]) if (!names.includes(name)) this.states.delete(name);
    for (const name of names) {
      if (!this.states.has(name)) this.states.set(name, blank(name));
    }
  }

  names(): string[] {
    return [...this.states.keys()];
  }

  get(name: string): SinkState {
    const s = this.states.get(name) ?? blank(name);
    return { ...s, state: stateOf(s) };
  }

  all(): SinkState[] {
    return this.names().map((n) => this.get(n));
  }

  isStopped(name: string): boolean {
    return this.states.get(name)?.stopped != null;
  }

  /** After a batch: success time, the most frequent error, and whether the sink answered. */
  call(name: string, r: CallResult): void {
    const s = this.states.get(name);
    if (!s) return;
    const now = this.clock();
    s.lastCallAt = now;
    if (r.done > 0) s.lastSuccessAt = now;
    const worst = [...r.failures].sort((a, b) => b.n - a.n)[0];
    if (worst) s.lastError = { message: worst.error, class: worst.class, at: now };
    s.up = r.done > 0 || r.failures.every((f) => ANSWERED.has(f.class));
  }

  /** The start-up check: tells the state before the first call. */
  probed(name: string, problems: readonly string[]): void {
    const s = this.states.get(name);
    if (!s || s.lastCallAt !== null) return;
    s.up = problems.length === 0;
    const message = problems.join("; ");
    if (message) s.lastError = { message, class: errorClass(message), at: this.clock() };
  }

  /** Opens the circuit: false if it was open already. */
  stop(name: string, reason: string): boolean {
    const s = this.states.get(name);
    if (!s || s.stopped) return false;
    const now = this.clock();
    s.stopped = { reason, class: errorClass(reason), since: now };
    s.up = false;
    s.lastError = { message: reason, class: errorClass(reason), at: now };
    return true;
  }

  /** Closes every open circuit (a reload): the names of the sinks that were stopped. */
  resumeAll(): string[] {
    const resumed: string[] = [];
    for (const s of this.states.values()) {
      if (!s.stopped) continue;
      s.stopped = null;
      s.up = null;
      resumed.push(s.name);
    }
    return resumed;
  }
}

function blank(name: string): SinkState {
  return {
    name,
    state: "unknown",
    up: null,
    lastCallAt: null,
    lastSuccessAt: null,
    lastError: null,
    stopped: null,
  };
}

function stateOf(s: SinkState): SinkStateName {
  if (s.stopped) return "stopped";
  if (s.up === null) return "unknown";
  return s.up ? "ok" : "failing";
}
