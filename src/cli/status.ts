import { statSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import {
  eventsKept,
  lastEventReceived,
  outboxByStatus,
  quarantineCounts,
  suppressedByReason,
} from "../metrics/db_stats.ts";
import { type Command, EXIT } from "./command.ts";
import { openContext } from "./context.ts";

/** The daemon's own counters worth a glance; they live in its memory, so only /metrics has them. */
const LIVE = {
  signature_failures: "suppressd_webhook_signature_failures_total",
  forbidden_ips: "suppressd_webhook_forbidden_ip_total",
  duplicates: "suppressd_webhook_duplicates_total",
  sync_errors: 'suppressd_sync_batches_total{result="error"}',
} as const;

interface Daemon {
  url: string | null;
  up: boolean;
  detail: string;
  version?: string;
  started_at?: string;
  since_start?: Record<keyof typeof LIVE, number>;
}

export const status: Command = {
  name: "status",
  summary:
    "At a glance, for someone on the box: is the daemon up, suppressions by reason, outbox, last event, quarantine. Exit 69 if the daemon does not answer.",
  usage: "status [--json] [--config FILE]",
  options: { json: { type: "boolean", description: "print one JSON object instead of the table" } },
  async run({ values }) {
    const ctx = await openContext(values, { schema: "require" });
    let report: Awaited<ReturnType<typeof gather>>;
    try {
      report = await gather(ctx.db.kysely, ctx.config, ctx.where, ctx.loaded.source);
    } finally {
      await ctx.close();
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
    return report.daemon.up ? EXIT.ok : EXIT.unavailable;
  },
};

async function gather(
  db: Parameters<typeof suppressedByReason>[0],
  config: Config,
  where: string,
  source: string,
) {
  const [reasons, outbox, quarantine, last, kept, daemon] = await Promise.all([
    suppressedByReason(db),
    outboxByStatus(db),
    quarantineCounts(db),
    lastEventReceived(db),
    eventsKept(db),
    probe(config),
  ]);
  return {
    config: source,
    daemon,
    database: { url: where, bytes: fileBytes(where) },
    suppressed: {
      total: reasons.reduce((a, r) => a + r.n, 0),
      by_reason: Object.fromEntries(
        reasons
          .filter((r) => r.n > 0)
          .sort((a, b) => b.n - a.n)
          .map((r) => [r.reason, r.n]),
      ),
    },
    last_event: last ? { type: last.type, received_at: new Date(last.receivedAt).toISOString() } : null,
    events_kept: {
      n: kept.n,
      oldest: kept.oldest === null ? null : new Date(kept.oldest).toISOString(),
      retention_days: config.retention.days,
    },
    quarantine,
    outbox: outbox.reduce<Record<string, Record<string, number>>>((acc, j) => {
      acc[j.sink] = { ...acc[j.sink], [j.status]: j.n };
      return acc;
    }, {}),
    // Sinks with jobs in the outbox that the config no longer names: no worker sends those.
    sinks_not_configured: [...new Set(outbox.map((j) => j.sink))].filter(
      (sink) => !config.sinks.some((s) => s.name === sink),
    ),
  };
}

/**
 * Asks the configured address for /readyz and, with a token from the config, /metrics. Over TLS
 * the certificate is not checked (it names a host, we dial an address), so no token is sent then.
 */
async function probe(config: Config): Promise<Daemon> {
  const { host, port, tls } = config.server;
  if (port === 0) return { url: null, up: false, detail: "server.port is 0 (chosen at start): not checked" };
  const local = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  const url = `${tls ? "https" : "http"}://${local.includes(":") ? `[${local}]` : local}:${port}`;
  const init = { signal: AbortSignal.timeout(3000), tls: { rejectUnauthorized: false } } as RequestInit;
  let ready: Response;
  try {
    ready = await fetch(`${url}/readyz`, init);
  } catch (e) {
    return { url, up: false, detail: `does not answer (${(e as Error).message})` };
  }
  if (!ready.ok)
    return { url, up: false, detail: `answers /readyz with ${ready.status}: database not ready` };
  const out: Daemon = { url, up: true, detail: "answers /readyz" };
  if (tls) return out;
  const token = config.metrics.tokens[0] ?? config.api.tokens[0];
  try {
    const res = await fetch(`${url}/metrics`, { ...init, headers: { authorization: `Bearer ${token}` } });
    if (res.ok) Object.assign(out, fromMetrics(await res.text()));
  } catch {}
  return out;
}

function fromMetrics(text: string): Partial<Daemon> {
  const value = (series: string) =>
    text
      .split("\n")
      .filter((l) => !l.startsWith("#") && matches(l, series))
      .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  const started = value("process_start_time_seconds");
  return {
    version: /suppressd_build_info\{version="([^"]*)"\}/.exec(text)?.[1],
    started_at: started > 0 ? new Date(started * 1000).toISOString() : undefined,
    since_start: Object.fromEntries(
      Object.entries(LIVE).map(([k, s]) => [k, value(s)]),
    ) as Daemon["since_start"],
  };
}

/** `name{a="b"}` matches every sample of `name` carrying a="b", whatever its other labels. */
function matches(line: string, series: string): boolean {
  const [name, labels] = series.split("{");
  const sampleName = line.split(/[{ ]/)[0];
  if (sampleName !== name) return false;
  return labels === undefined || line.includes(labels.replace(/\}$/, ""));
}

function fileBytes(where: string): number | null {
  if (!where.startsWith("file:")) return null;
  const path = where.slice(5);
  let total = 0;
  for (const f of [path, `${path}-wal`]) {
    try {
      total += statSync(f).size;
    } catch {}
  }
  return total;
}

function render(r: Awaited<ReturnType<typeof gather>>): string {
  const n = (v: number) => v.toLocaleString("en-US");
  const ago = (iso: string) => {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    const text =
      s < 120
        ? `${Math.round(s)} s`
        : s < 7200
          ? `${Math.round(s / 60)} min`
          : s < 172_800
            ? `${Math.round(s / 3600)} h`
            : `${Math.round(s / 86_400)} days`;
    return `${text} ago (${iso})`;
  };
  const rows: [string, string][] = [];
  const d = r.daemon;
  const version = d.version ? `, version ${d.version}` : "";
  const since = d.started_at ? `, started ${ago(d.started_at)}` : "";
  rows.push([
    "daemon",
    `${d.up ? "up" : "DOWN"}${d.url ? ` at ${d.url}` : ""}: ${d.detail}${version}${since}`,
  ]);
  const size = r.database.bytes === null ? "" : ` (${(r.database.bytes / 1048576).toFixed(1)} MiB)`;
  rows.push(["database", `${r.database.url}${size}`]);
  const reasons = Object.entries(r.suppressed.by_reason).map(([k, v]) => `${k} ${n(v)}`);
  rows.push([
    "suppressed",
    `${n(r.suppressed.total)} addresses${reasons.length ? `: ${reasons.join(" · ")}` : ""}`,
  ]);
  rows.push([
    "last event",
    r.last_event ? `${r.last_event.type}, ${ago(r.last_event.received_at)}` : "none yet",
  ]);
  const oldest = r.events_kept.oldest ? `, oldest ${ago(r.events_kept.oldest)}` : "";
  rows.push([
    "events kept",
    `${n(r.events_kept.n)}${oldest} (retention.days ${r.events_kept.retention_days})`,
  ]);
  rows.push([
    "quarantine",
    `${n(r.quarantine.waiting)} waiting for \`suppressd events reprocess\` (${n(r.quarantine.total)} in all)`,
  ]);
  const sinks = Object.entries(r.outbox);
  if (sinks.length === 0) rows.push(["outbox", "empty"]);
  for (const [i, [sink, counts]] of sinks.entries()) {
    const parts = Object.entries(counts).map(([s, v]) => `${s} ${n(v)}`);
    const orphan = r.sinks_not_configured.includes(sink) ? " (not in the config: never sent)" : "";
    rows.push([i === 0 ? "outbox" : "", `${sink}: ${parts.join(" · ")}${orphan}`]);
  }
  if (d.since_start) {
    const s = d.since_start;
    rows.push([
      "since start",
      `signature failures ${n(s.signature_failures)} · forbidden IPs ${n(s.forbidden_ips)} · duplicates ${n(s.duplicates)} · sync errors ${n(s.sync_errors)}`,
    ]);
  }
  return `suppressd status (${r.config})\n\n${rows.map(([k, v]) => `${k.padEnd(13)}${v}`).join("\n")}\n`;
}
