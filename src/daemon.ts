import { accessSync, constants } from "node:fs";
import type { Config } from "./config/schema.ts";
import { type Db, migrate, openDatabase } from "./db/client.ts";
import { Retention } from "./db/retention.ts";
import { type SinkTarget, type WriteQueue, Writer, type WriterOptions } from "./db/writer.ts";
import { ThreadedWriter } from "./db/writer_thread.ts";
import { type AppError, configError } from "./errors.ts";
import { createApp } from "./http/app.ts";
import { type Listener, listen } from "./http/serve.ts";
import { jsonLogger, type Logger } from "./log.ts";
import { Metrics } from "./metrics/metrics.ts";
import { ReconcileSchedule } from "./reconcile/schedule.ts";
import { SinkHealth } from "./status/sink_health.ts";
import { type SyncService, startSync } from "./sync/service.ts";
import { UiStats } from "./ui/stats.ts";

export interface Daemon {
  url: string;
  db: Db;
  writer: WriteQueue;
  /** The outbox worker and the sinks it sends to. */
  sync: SyncService;
  /**
   * Stops accepting, finishes in-flight requests and queued commits and the sync batches being
   * sent, closes the database.
   */
  stop(): Promise<void>;
  /**
   * Takes the webhook secrets, the API and metrics tokens and the sink settings of `next` (SIGHUP),
   * resuming stopped sinks, and returns the other settings that differ from the running ones:
   * those need a restart.
   */
  reload(next: Config): string[];
}

/** Opens and migrates the database, then serves the app. What `suppressd serve` runs. */
export async function startDaemon(
  config: Config,
  clock: () => number = Date.now,
  /** Where server.host and server.port were set, for the message when they cannot be used. */
  listenSettings = { host: "server.host", port: "server.port" },
): Promise<Daemon> {
  checkTlsFiles(config);
  const db = await openDatabase(config.database, { nativeReads: true });
  await migrate(db);
  const log = jsonLogger(config.log.level, undefined, config.log.hashAddresses);
  const writerOptions = {
    softBounce: config.policy.softBounce,
    sinks: sinkTargets(config),
    hashKey: config.privacy.hashKey,
    lockWaitMs: config.database.lockWaitMs,
  };
  const writer: WriteQueue = await startWriter(config, db, writerOptions, clock, log);
  // One registry for the daemon's lifetime: the app (rebuilt on reload), retention and sync share it.
  const metrics = new Metrics({ db: db.read, clock });
  // Filled by the sync worker, read by GET /v1/status and /metrics.
  const sinkHealth = new SinkHealth(
    config.sinks.map((s) => s.name),
    clock,
  );
  // The status page's figures outlive a reload's new app, and are refreshed in the background.
  const uiStats = new UiStats({ db, config, clock, sinkHealth, metrics });
  if (config.ui.enabled) uiStats.start();
  // reconcile.everyHours: compares with Mailchimp and Resend on a timer, reports only.
  const reconcile = new ReconcileSchedule({ config, db, writer, log, registry: metrics.registry });
  const deps = { config, db, writer, clock, metrics, log, sinkHealth, uiStats, reconcile };
  // A reload builds a new app on the same database and writer and swaps it in: each request runs
  // wholly on the app it started on, so none sees half-applied credentials or is dropped.
  let app = createApp(deps);
  let current = config;
  let listener: Listener;
  try {
    listener = await listen((req, info) => app.fetch(req, info), {
      host: config.server.host,
      port: config.server.port,
      maxBodyBytes: config.server.bodyLimitBytes,
      tls: config.server.tls,
    });
  } catch (e) {
    await uiStats.stop();
    await writer.close();
    db.close();
    throw bindError(e, config.server, listenSettings) ?? e;
  }
  const retention = new Retention(db, {
    days: config.retention.days,
    clock,
    log,
    onPruned: (n) => metrics.pruned.inc(undefined, n),
  });
  retention.start();
  reconcile.start();
  const sync = startSync({ config, db, clock, log, metrics, health: sinkHealth });
  return {
    url: listener.url,
    db,
    writer,
    sync,
    async stop() {
      const http = async () => {
        await listener.stop();
        await uiStats.stop();
        await retention.stop();
        await reconcile.stop();
      };
      await Promise.all([http(), sync.stop()]);
      // Last: the sync worker's final statements run on the writer's thread too.
      await writer.close();
      db.close();
    },
    reload(next) {
      // Sink settings (keys, audiences, URLs) apply at once and resume stopped sinks; sinks added,
      // removed or renamed, or a change in which sinks take lifts, change what the writer queues
      // and wait for a restart.
      const sameTargets = JSON.stringify(sinkTargets(current)) === JSON.stringify(sinkTargets(next));
      const sinksApplied = sameTargets && sync.reloadSinks(next);
      const merged = withCredentialsOf(current, next, sinksApplied);
      app = createApp({ ...deps, config: merged });
      const changed = changedSettings(current, next).filter((p) => !(sinksApplied && p === "sinks"));
      current = merged;
      return changed;
    },
  };
}

/**
 * What a reload changes: the webhook secrets, the API, scrape and status page tokens, and sink
 * settings. The status page's sessions end with the old app (a token may have been revoked).
 */
function withCredentialsOf(current: Config, next: Config, sinks: boolean): Config {
  return Object.freeze({
    ...current,
    sinks: sinks ? next.sinks : current.sinks,
    resend: Object.freeze({ ...current.resend, webhookSecrets: next.resend.webhookSecrets }),
    api: next.api,
    metrics: Object.freeze({ ...current.metrics, tokens: next.metrics.tokens }),
    ui: Object.freeze({ ...current.ui, tokens: next.ui.tokens }),
  });
}

/** Paths (never values: they may be secrets) of settings that differ, other than the reloadable. */
function changedSettings(current: Config, next: Config): string[] {
  const a = flatten(current);
  const b = flatten(next);
  return [...new Set([...a.keys(), ...b.keys()])].filter(
    (path) => !RELOADABLE.has(path) && a.get(path) !== b.get(path),
  );
}

const RELOADABLE = new Set([
  "resend.webhookSecrets",
  "api.tokens",
  "api.named",
  "metrics.tokens",
  "ui.tokens",
]);

/** `section.key` → JSON of the value, one level deep (`sinks` is compared whole). */
function flatten(config: Config): Map<string, string> {
  const out = new Map<string, string>();
  for (const [section, value] of Object.entries(config)) {
    const isSection = value !== null && typeof value === "object" && !Array.isArray(value);
    const entries = isSection
      ? Object.entries(value).map(([k, v]) => [`${section}.${k}`, v] as const)
      : [[section, value] as const];
    for (const [path, v] of entries) out.set(path, JSON.stringify(v));
  }
  return out;
}

/**
 * A local file's commits run on a thread of their own (db/writer_thread.ts), and so do the other
 * writes (the outbox, retention): one connection writes, so none of this process's waits for
 * another's lock on the event loop. A test clock cannot cross to a thread, so a daemon given one
 * commits on the main thread; so does a remote database, whose commits wait on the network
 * without holding the loop, and `database.writerThread: false` (the smallest machines).
 */
async function startWriter(
  config: Config,
  db: Db,
  options: Omit<WriterOptions, "clock" | "log">,
  clock: () => number,
  log: Logger,
): Promise<WriteQueue> {
  if (!config.database.writerThread || !config.database.url.startsWith("file:") || clock !== Date.now) {
    return new Writer(db, { ...options, clock, log });
  }
  return ThreadedWriter.start(config.database, options, log, db);
}

export function sinkTargets(config: Config): SinkTarget[] {
  return config.sinks.map((s) => ({
    name: s.name,
    lifts: s.type === "mailchimp" ? s.tag !== undefined : s.sendLifts,
    reasons: s.reasons ?? null,
  }));
}

/**
 * Why the listening socket could not be opened, as a configuration error naming the setting to
 * change (exit 78: systemd's RestartPreventExitStatus=78 stops a restart loop that cannot help).
 * Bun reports errno codes (EADDRINUSE, EADDRNOTAVAIL, ENOTFOUND from getaddrinfo); Deno its own
 * error classes (AddrInUse, AddrNotAvailable, NotFound, PermissionDenied).
 */
export function bindError(
  e: unknown,
  server: { host: string; port: number },
  names: { host: string; port: string },
): AppError | null {
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof err?.code === "string" ? err.code : "";
  const kind = typeof err?.name === "string" ? err.name : "";
  const at = `${server.host}:${server.port}`;
  if (code === "EADDRINUSE" || kind === "AddrInUse") {
    return configError(
      `Cannot listen on ${at}: port ${server.port} is in use by another process (another suppressd?). ` +
        `Stop it, or choose another port with ${names.port}.`,
    );
  }
  if (code === "EADDRNOTAVAIL" || kind === "AddrNotAvailable") {
    return configError(
      `Cannot listen on ${at}: ${JSON.stringify(server.host)} is not an address of this machine. ` +
        `Set ${names.host} to one of its addresses (\`ip -br addr\`), 127.0.0.1 behind a local proxy, or 0.0.0.0 for all.`,
    );
  }
  if (
    code === "ENOTFOUND" ||
    code.startsWith("EAI_") ||
    (kind === "NotFound" && /lookup|resolve/i.test(String(err.message)))
  ) {
    return configError(
      `Cannot listen on ${at}: ${JSON.stringify(server.host)} is neither an IP address nor a name this machine resolves. ` +
        `Set ${names.host} to an address such as 127.0.0.1 or 0.0.0.0.`,
    );
  }
  if (code === "EACCES" || kind === "PermissionDenied") {
    return configError(
      `Cannot listen on ${at}: not allowed (ports below 1024 need privileges). Choose a port above 1023 with ${names.port}, behind a proxy.`,
    );
  }
  return null;
}

/** A missing or unreadable certificate stops the start with the key to fix, not a stack trace. */
function checkTlsFiles(config: Config) {
  const tls = config.server.tls;
  if (!tls) return;
  for (const [key, path] of [
    ["server.tls.cert", tls.cert],
    ["server.tls.key", tls.key],
  ] as const) {
    try {
      accessSync(path, constants.R_OK);
    } catch (e) {
      throw configError(`${key}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? e}).`);
    }
  }
}
