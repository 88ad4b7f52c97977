/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
 * Kept rather than prom-client (15.1.3), whose `new Registry()` and opt-in default collectors
 * would fit: measured as compiled binaries that build one registry and render it, prom-client
 * took 33.0 ms to run against 7.4 ms for this file (medians of 40 interleaved runs) and added
 * 143 KB, where the whole daemon starts in 65-100 ms here. Its reads are async
 * (`await metric.get()`) where `status` and tests read ours directly, and it brings two
 * dependencies (tdigest, @opentelemetry/api) for features we do not use. The format is a few
 * lines per family; test/observability pins what we render.
 */

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

type Labels<K extends string> = Record<K, string>;

/** One metric family: a name, its help line, and the rendered sample lines. */
interface Family {
  name: string;
  render(): string[];
}

/** Upper bounds in seconds for latency histograms: 1 ms (a cached read) to 10 s (a slow sink). */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Registry {
  private readonly families: Family[] = [];
  private readonly collectors: (() => Promise<void>)[] = [];

  counter<K extends string = never>(name: string, help: string, labelNames: readonly K[] = []) {
    const c = new Counter<K>(name, help, labelNames);
    this.add(c);
    return c;
  }

  gauge<K extends string = never>(name: string, help: string, labelNames: readonly K[] = []) {
    const g = new Gauge<K>(name, help, labelNames);
    this.add(g);
    return g;
  }

  histogram<K extends string = never>(
    name: string,
    help: string,
    labelNames: readonly K[] = [],
    buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    const h = new Histogram<K>(name, help, labelNames, buckets);
    this.add(h);
    return h;
  }

  /** Runs before every render: the place to refresh gauges that are read from elsewhere. */
  onCollect(collect: () => Promise<void>): void {
    this.collectors.push(collect);
  }

  async render(): Promise<string> {
    await Promise.all(this.collectors.map((c) => c()));
    return `${this.families.flatMap((f) => f.render()).join("\n")}\n`;
  }

  private add(f: Family) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
    if (this.families.some((x) => x.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
  }
}

abstract class Metric<K extends string> implements Family {
  protected readonly series = new Map<string, { labels: string; value: number }>();
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly K[],
    private readonly type: "counter" | "gauge",
  ) {}

  protected entry(labels?: Labels<K>) {
    const key = seriesKey(this.labelNames, labels);
    let e = this.series.get(key);
    if (!e) {
      e = { labels: formatLabels(this.labelNames, labels), value: 0 };
      this.series.set(key, e);
    }
    return e;
  }

  /** The current value of one series (0 if never touched); for tests and `status`. */
  get(labels?: Labels<K>): number {
    return this.series.get(seriesKey(this.labelNames, labels))?.value ?? 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values()) lines.push(`${this.name}${labels} ${num(value)}`);
    return lines;
  }
}

export class Counter<K extends string> extends Metric<K> {
  constructor(name: string, help: string, labelNames: readonly K[]) {
    super(name, help, labelNames, "counter");
  }
  inc(labels?: Labels<K>, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.entry(labels).value += by;
  }
  /** `inc` of one series, its key worked out once (for a caller that counts it per request). */
  bind(labels?: Labels<K>): () => void {
    const e = this.entry(labels);
    return () => {
      e.value++;
    };
  }
}

export class Gauge<K extends string> extends Metric<K> {
  constructor(name: string, help: string, labelNames: readonly K[]) {
    super(name, help, labelNames, "gauge");
  }
  set(labels: Labels<K> | undefined, value: number): void {
    this.entry(labels).value = value;
  }
  /** Forgets every series: a gauge read from a table drops the label sets that disappeared. */
  clear(): void {
    this.series.clear();
  }
}

export class Histogram<K extends string> implements Family {
  private readonly series = new Map<
    string,
    { labels: Labels<K> | undefined; counts: number[]; sum: number }
  >();
  private readonly bounds: number[];
  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly labelNames: readonly K[],
    buckets: readonly number[],
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  observe(labels: Labels<K> | undefined, value: number): void {
    this.record(this.entry(labels), value);
  }

  /** `observe` of one series, its key worked out once. */
  bind(labels: Labels<K> | undefined): (value: number) => void {
    const s = this.entry(labels);
    return (value) => this.record(s, value);
  }

  private entry(labels: Labels<K> | undefined) {
    const key = seriesKey(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.bounds.length + 1).fill(0), sum: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  private record(s: { counts: number[]; sum: number }, value: number) {
    let i = 0;
    while (i < this.bounds.length && value > (this.bounds[i] as number)) i++;
    (s.counts[i] as number)++;
    s.sum += value;
  }

  /** How many observations one series holds; for tests. */
  count(labels?: Labels<K>): number {
    const s = this.series.get(seriesKey(this.labelNames, labels));
    return s ? s.counts.reduce((a, b) => a + b, 0) : 0;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      // Buckets are cumulative and end with le="+Inf", which equals _count.
      let cumulative = 0;
      const les = [...this.bounds.map(num), "+Inf"];
      for (const [i, le] of les.entries()) {
        cumulative += s.counts[i] as number;
        const labels = formatLabels([...this.labelNames, "le"], { ...s.labels, le } as Labels<K | "le">);
        lines.push(`${this.name}_bucket${labels} ${cumulative}`);
      }
      const labels = formatLabels(this.labelNames, s.labels);
      lines.push(`${this.name}_sum${labels} ${num(s.sum)}`, `${this.name}_count${labels} ${cumulative}`);
    }
    return lines;
  }
}

/**
 * A series' map key: each value with its length, so no two label sets share one. Formatting
 * (escaping, quoting) happens once, when a series is created: it was ~5% of the daemon's CPU
 * under ingest when done for every observation.
 */
function seriesKey<K extends string>(names: readonly K[], labels: Labels<K> | undefined): string {
  let key = "";
  for (const n of names) {
    const v = String(labels?.[n] ?? "");
    key += `${v.length}:${v}`;
  }
  return key;
}

function formatLabels<K extends string>(names: readonly K[], labels: Labels<K> | undefined): string {
  if (names.length === 0) return "";
  const parts = names.map((n) => `${n}="${escapeLabel(String(labels?.[n] ?? ""))}"`);
  return `{${parts.join(",")}}`;
}

/** Label values escape backslash, double quote and line feed; HELP text escapes the other two. */
// Most values need no escaping: one scan for them, not three replaceAll copies a request.
const NEEDS_ESCAPE = /[\\"\n]/;
const escapeLabel = (v: string) =>
  NEEDS_ESCAPE.test(v) ? v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n") : v;
const escapeHelp = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}
