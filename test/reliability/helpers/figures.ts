/**
 * The figures the reliability suite reports: one line per test file (and per soak phase), in a
 * form that is easy to grep from CI output: `reliability <name>: key=value …`.
 */
export interface Figures {
  /** Distinct messages acknowledged with 200 (retries and redeliveries not counted). */
  events: number;
  /** HTTP attempts, retries and redeliveries included. */
  attempts: number;
  crashes: number;
  /** Acknowledged messages missing from the database or missing an effect. Must be 0. */
  lost: number;
  /** Effects applied twice (history, suppression, outbox job, audience write). Must be 0. */
  duplicates: number;
  /** Hostile requests tried (property runs and hand-written cases). */
  hostile: number;
  /** Anything else worth a number: failures by cause, restarts, outage retries, … */
  extra: Record<string, number>;
}

export function emptyFigures(): Figures {
  return { events: 0, attempts: 0, crashes: 0, lost: 0, duplicates: 0, hostile: 0, extra: {} };
}

export function add(into: Figures, more: Partial<Figures>): Figures {
  into.events += more.events ?? 0;
  into.attempts += more.attempts ?? 0;
  into.crashes += more.crashes ?? 0;
  into.lost += more.lost ?? 0;
  into.duplicates += more.duplicates ?? 0;
  into.hostile += more.hostile ?? 0;
  // Counts add up; a "slowest_" figure is the largest of those seen.
  for (const [k, v] of Object.entries(more.extra ?? {}))
    into.extra[k] = k.startsWith("slowest_") ? Math.max(into.extra[k] ?? 0, v) : (into.extra[k] ?? 0) + v;
  return into;
}

export function summaryLine(name: string, f: Figures): string {
  const extra = Object.entries(f.extra)
    .filter(([, v]) => v !== 0)
    .map(([k, v]) => `${k}=${v}`);
  return [
    `reliability ${name}:`,
    `events_delivered=${f.events}`,
    `attempts=${f.attempts}`,
    `crashes_survived=${f.crashes}`,
    `events_lost=${f.lost}`,
    `duplicate_effects=${f.duplicates}`,
    `hostile_inputs=${f.hostile}`,
    ...extra,
  ].join(" ");
}
