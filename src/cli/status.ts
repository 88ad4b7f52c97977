import { statSync } from "node:fs";
import type { Config } from "../config/schema.ts";
import {
  eventsKept,
  lastEventReceived,
  outboxByStatus,
  quarantineCounts,
  suppressedByReason,
} from "../db/stats.ts";
import { dialableHost } from "../http/serve.ts";
import type { ReconcileStatus } from "../reconcile/schedule.ts";
import type { SinkStatus } from "../status/report.ts";
import { type Command, EXIT } from "./command.ts";
import { withContext } from "./context.ts";

interface Daemon {
  url: string | null;
  up: boolean;
  detail: string;
  version?: string;
  started_at?: string;
  since_start?: { signature_failures: number; forbidden_ips: number; duplicates: number };
}

/** What GET /v1/status answers (src/http/status_routes.ts). */
interface DaemonStatus {
  ok: boolean;
  problems: string[];
  version: string;
  started_at: string;
  since_start: NonNullable<Daemon["since_start"]>;
  sinks: SinkStatus[];
  reconcile?: ReconcileStatus | null;
  last_webhook?: { type: string; received_at: string } | null;
}

export const status: Command = {
  name: "status",
  summary:
    "At a glance: is the daemon up, each sink's state, suppressions, outbox, last event, quarantine. Exit 1 if a sink fails or jobs are dead, 69 if the daemon does not answer.",
  usage: `status [--json] [--config FILE]

Reads the database and the running daemon's GET /v1/status. Usable as a monitoring check:
exit 0 all is well · 1 a sink is failing or stopped, jobs are dead, or jobs wait for a sink the
config does not name · 69 the daemon does not answer.`,
  options: { json: { type: "boolean", description: "print one JSON object instead of the table" } },
  async run({ values }) {
    const report = await withContext(values, { schema: "require" }, (ctx) =>
      gather(ctx.db.read, ctx.config, ctx.where, ctx.loaded.source),
    );
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
    if (!report.daemon.up) return EXIT.unavailable;
    return report.problems.length > 0 ? EXIT.attention : EXIT.ok;
  },
};

async function gather(
  db: Parameters<typeof suppressedByReason>[0],
  config: Config,
  where: string,
  source: string,
) {
  const [reasons, outbox, quarantine, last, kept, { daemon, sync }] = await Promise.all([
    suppressedByReason(db),
    outboxByStatus(db),
    quarantineCounts(db),
    lastEventReceived(db),
    eventsKept(db),
    probe(config),
  ]);
  const sinksNotConfigured = [...new Set(outbox.map((j) => j.sink))].filter(
    (sink) => !config.sinks.some((s) => s.name === sink),
  );
  // Without the daemon's report (down, or TLS), the database still shows dead and orphaned jobs.
  const problems = sync
    ? sync.problems
    : [
        ...outbox
          .filter((j) => j.status === "dead")
          .map((j) => `sink ${j.sink} has ${j.n.toLocaleString("en-US")} dead job(s)`),
        ...sinksNotConfigured.map((s) => `jobs of sink ${s}, which is not configured: never sent`),
      ];
  return {
    config: source,
    ok: daemon.up && problems.length === 0,
    problems,
    daemon,
    sinks: sync?.sinks ?? null,
    reconcile: sync?.reconcile ?? null,
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
    last_event: newerEvent(
      last ? { type: last.type, received_at: new Date(last.receivedAt).toISOString() } : null,
      sync?.last_webhook ?? null,
    ),
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
    sinks_not_configured: sinksNotConfigured,
  };
}

/**
 * Asks the configured address for /readyz and, with the config's API token, GET /v1/status. Over
 * TLS the certificate is not checked (it names a host, we dial an address), so no token is sent.
 */
async function probe(config: Config): Promise<{ daemon: Daemon; sync: DaemonStatus | null }> {
  const { host, port, tls } = config.server;
  if (port === 0)
    return {
      daemon: { url: null, up: false, detail: "server.port is 0 (chosen at start): not checked" },
      sync: null,
    };
  const url = `${tls ? "https" : "http"}://${dialableHost(host)}:${port}`;
  const init = { signal: AbortSignal.timeout(3000), tls: { rejectUnauthorized: false } } as RequestInit;
  let ready: Response;
  try {
    ready = await fetch(`${url}/readyz`, init);
  } catch (e) {
    return { daemon: { url, up: false, detail: `does not answer (${(e as Error).message})` }, sync: null };
  }
  if (!ready.ok)
    return {
      daemon: { url, up: false, detail: `answers /readyz with ${ready.status}: database not ready` },
      sync: null,
    };
  const daemon: Daemon = { url, up: true, detail: "answers /readyz" };
  if (tls)
    return { daemon: { ...daemon, detail: "answers /readyz (TLS: sink states not read)" }, sync: null };
  try {
    const res = await fetch(`${url}/v1/status`, {
      ...init,
      headers: { authorization: `Bearer ${config.api.tokens[0]}` },
    });
    if (!res.ok)
      return { daemon: { ...daemon, detail: `answers /readyz; /v1/status said ${res.status}` }, sync: null };
    const sync = (await res.json()) as DaemonStatus;
    return {
      daemon: {
        ...daemon,
        version: sync.version,
        started_at: sync.started_at,
        since_start: sync.since_start,
      },
      sync,
    };
  } catch (e) {
    return {
      daemon: { ...daemon, detail: `answers /readyz; /v1/status failed (${(e as Error).message})` },
      sync: null,
    };
  }
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

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

function render(r: Awaited<ReturnType<typeof gather>>): string {
  const n = (v: number) => v.toLocaleString("en-US");
  const ago = (iso: string) => `${duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000))} ago (${iso})`;
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
    `${n(r.suppressed.total)} ${r.suppressed.total === 1 ? "address" : "addresses"}${reasons.length ? `: ${reasons.join(" · ")}` : ""}`,
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
  for (const [i, s] of (r.sinks ?? []).entries()) {
    const state =
      s.state === "stopped"
        ? `STOPPED since ${ago(s.stopped_since as string)}`
        : s.state === "failing"
          ? "FAILING"
          : s.state === "unknown"
            ? "not called yet"
            : "ok";
    const oldest =
      s.oldest_pending_age_seconds === null ? "" : `, oldest ${duration(s.oldest_pending_age_seconds)}`;
    const lines = [
      `${s.name} (${s.type}): ${state}; pending ${n(s.pending)}${oldest} · dead ${n(s.dead)} · last success ${s.last_success_at ? ago(s.last_success_at) : "none since start"}`,
    ];
    if (s.last_error && s.state !== "ok") lines.push(`  last error: ${s.last_error.message}`);
    if (s.fix) lines.push(`  fix: ${s.fix}`);
    rows.push([i === 0 ? "sinks" : "", lines.join(`\n${" ".repeat(13)}`)]);
  }
  const sinks = Object.entries(r.outbox);
  if (sinks.length === 0) rows.push(["outbox", "empty"]);
  for (const [i, [sink, counts]] of sinks.entries()) {
    const parts = Object.entries(counts).map(([s, v]) => `${s} ${n(v)}`);
    const orphan = r.sinks_not_configured.includes(sink) ? " (not in the config: never sent)" : "";
    rows.push([i === 0 ? "outbox" : "", `${sink}: ${parts.join(" · ")}${orphan}`]);
  }
  if (r.reconcile) {
    const c = r.reconcile;
    const drift = c.targets.map(
      (t) => `${t.target}: ${n(t.here_not_there)} here not there, ${n(t.there_not_here)} there not here`,
    );
    rows.push([
      "reconcile",
      `${c.ok ? "last run" : "last run FAILED"} ${ago(c.at)}${c.error ? `: ${c.error}` : ""}${drift.length ? `\n${" ".repeat(13)}${drift.join(`\n${" ".repeat(13)}`)}` : ""}`,
    ]);
  }
  if (d.since_start) {
    const s = d.since_start;
    rows.push([
      "since start",
      `signature failures ${n(s.signature_failures)} · forbidden IPs ${n(s.forbidden_ips)} · duplicates ${n(s.duplicates)}`,
    ]);
  }
  rows.push([
    "verdict",
    r.problems.length === 0 ? (d.up ? "ok" : "daemon down") : r.problems.join(`\n${" ".repeat(13)}`),
  ]);
  return `suppressd status (${r.config})\n\n${rows.map(([k, v]) => `${k.padEnd(13)}${v}`).join("\n")}\n`;
}

type EventSeen = { type: string; received_at: string } | null;

/**
 * The newest delivery: stored in the database, or only answered by the daemon (sends, opens and
 * clicks are not stored by default: resend.recordIgnored).
 */
function newerEvent(stored: EventSeen, answered: EventSeen): EventSeen {
  if (answered === null) return stored;
  return stored === null || Date.parse(answered.received_at) > Date.parse(stored.received_at)
    ? answered
    : stored;
}
