import type { Kysely } from "kysely";
import type { Config } from "../config/schema.ts";
import { type Database, LIVE_STATUSES } from "../db/schema.ts";
import { oldestPending, outboxByStatus } from "../db/stats.ts";
import { iso } from "../util.ts";
import type { ErrorClass, SinkHealth, SinkState } from "./sink_health.ts";

export interface SinkStatus {
  name: string;
  type: string;
  /** ok · failing (its last call failed; retried with backoff) · stopped (held until a reload) · unknown (no call yet). */
  state: SinkState["state"];
  up: boolean | null;
  pending: number;
  running: number;
  dead: number;
  oldest_pending_age_seconds: number | null;
  last_error: { message: string; class: ErrorClass; at: string } | null;
  last_success_at: string | null;
  stopped_since: string | null;
  /** What to do about it, in words; null when nothing needs doing. */
  fix: string | null;
}

export interface SyncStatus {
  /** False when a sink is failing or stopped, or jobs are dead or wait for a sink not configured. */
  ok: boolean;
  /** One sentence per reason `ok` is false. */
  problems: string[];
  sinks: SinkStatus[];
  sinks_not_configured: { name: string; pending: number; running: number; dead: number }[];
}

/** Each sink's state (from the worker's memory) beside its backlog (from the database). */
export async function syncStatus(
  db: Kysely<Database>,
  config: Config,
  health: SinkHealth,
  now: number,
): Promise<SyncStatus> {
  const counts = await outboxByStatus(db, LIVE_STATUSES);
  const oldest = new Map((await oldestPending(db)).map((o) => [o.sink, o.createdAt]));
  const backlog = (sink: string) => {
    const n = (status: string) => counts.find((c) => c.sink === sink && c.status === status)?.n ?? 0;
    return { pending: n("pending"), running: n("running"), dead: n("dead") };
  };
  const sinks = config.sinks.map((c): SinkStatus => {
    const h = health.get(c.name);
    const b = backlog(c.name);
    const first = oldest.get(c.name);
    return {
      name: c.name,
      type: c.type,
      state: h.state,
      up: h.up,
      ...b,
      oldest_pending_age_seconds: first === undefined ? null : Math.max(0, Math.round((now - first) / 1000)),
      last_error: h.lastError && { ...h.lastError, at: new Date(h.lastError.at).toISOString() },
      last_success_at: iso(h.lastSuccessAt),
      stopped_since: iso(h.stopped?.since ?? null),
      fix: fixFor(c.name, h, b.dead),
    };
  });
  const configured = new Set(config.sinks.map((c) => c.name));
  const orphans = [...new Set(counts.map((c) => c.sink))]
    .filter((s) => !configured.has(s))
    .map((name) => ({ name, ...backlog(name) }));
  const problems: string[] = [];
  for (const s of sinks) {
    const why = WHY[s.last_error?.class ?? "other"];
    if (s.state === "stopped") problems.push(`sink ${s.name} is stopped: ${why}`);
    else if (s.state === "failing") problems.push(`sink ${s.name} is failing: ${why}`);
    if (s.dead > 0) problems.push(`sink ${s.name} has ${s.dead.toLocaleString("en-US")} dead job(s)`);
  }
  for (const o of orphans) {
    problems.push(
      `${(o.pending + o.running + o.dead).toLocaleString("en-US")} job(s) of sink ${o.name}, which is not configured: never sent`,
    );
  }
  return { ok: problems.length === 0, problems, sinks, sinks_not_configured: orphans };
}

/** A class of error in a few words, for the one-line problems. */
const WHY: Record<ErrorClass, string> = {
  auth: "its key or credential is refused (401/403)",
  not_found: "an audience or resource it names does not exist (404)",
  rejected: "it refuses the requests (4xx)",
  throttled: "it is throttling (429)",
  timeout: "it does not answer in time",
  network: "it cannot be reached",
  server: "it answers with server errors (5xx)",
  other: "its calls fail",
};

/** The operator's next step for a sink, by its state and the class of its last error. */
function fixFor(name: string, h: SinkState, dead: number): string | null {
  const retryDead = dead > 0 ? ` Then send the dead jobs again: jobs retry --all --sink ${name}.` : "";
  const cls = h.lastError?.class;
  const refused = cls === "auth" || cls === "not_found";
  if (h.state === "stopped" || (h.state === "failing" && refused)) {
    const what =
      cls === "auth"
        ? "its credential was refused: fix the sink's apiKey (Mailchimp) or headers/url (HTTP)"
        : cls === "not_found"
          ? "something it names does not exist: fix the sink's listIds (Mailchimp) or url (HTTP)"
          : "it refused every job";
    const now =
      h.state === "stopped"
        ? "Sending is stopped and its jobs wait"
        : "Its check failed, and its first send will stop it (jobs wait)";
    return `${now}: ${what} in the config, check it with config check, then reload the daemon (SIGHUP).${retryDead}`;
  }
  if (h.state === "failing") {
    const what =
      cls === "network"
        ? "the service cannot be reached (DNS, network, firewall, baseUrl/url)"
        : cls === "timeout" || cls === "server" || cls === "throttled"
          ? "the service is slow, failing or throttling"
          : "its last call failed";
    return `${what[0]?.toUpperCase()}${what.slice(1)}: jobs are retried with backoff and sent once it answers.${retryDead}`;
  }
  if (dead > 0) {
    return `Dead jobs were refused for good; see why with jobs list --status dead --sink ${name}, fix the cause, then: jobs retry --all --sink ${name}.`;
  }
  return null;
}
