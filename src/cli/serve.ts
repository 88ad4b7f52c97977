import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { loadConfig } from "../config/load.ts";
import { startDaemon } from "../daemon.ts";
import { jsonLogger } from "../log.ts";
import { selfCommand } from "../self_command.ts";
import { VERSION } from "../version.ts";
import { type Command, EXIT } from "./command.ts";

/** How long SIGTERM may take before we give up waiting (systemd's default stop timeout is 90 s). */
const STOP_DEADLINE_MS = 10_000;

export const serve: Command = {
  name: "serve",
  summary: "Run the daemon: receive Resend webhooks and answer suppression queries (the default command).",
  usage: `serve [--config FILE] [--host HOST] [--port PORT]

Where to listen: --host/--port, else SUPPRESSD_PORT (the port), else server.host and server.port
in the config. A development instance (no config file) listens on 127.0.0.1 only.`,
  options: {
    host: { type: "string", description: "listen on this address instead of server.host" },
    port: {
      type: "string",
      short: "p",
      description: "listen on this port instead of server.port (also $SUPPRESSD_PORT)",
    },
  },
  async run({ values }) {
    const listen = { host: values.host as string | undefined, port: values.port as string | undefined };
    const loaded = loadConfig({
      flag: values.config as string | undefined,
      allowDevelopment: "create",
      listen,
    });
    const { config } = loaded;
    const log = jsonLogger(config.log.level, undefined, config.log.hashAddresses);
    const daemon = await startDaemon(config, Date.now, loaded.listenSettings);
    // Loading, migrating and the first queries leave garbage; collect it now so an idle daemon
    // holds only what it uses (issue 4 asks for ≤ 80 MB idle).
    if (typeof Bun !== "undefined") Bun.gc(true);
    log.log("info", "suppressd started", { version: VERSION, url: daemon.url, config: loaded.source });
    const leftover = loaded.development ? null : developmentLeftover(config.database.url);
    if (leftover) {
      // Development instances used to share the production default path: its test
      // suppressions would now be served, and `jobs backfill` would queue them for sinks.
      log.log("warn", "this database was a development instance's", {
        found: leftover,
        fix: "start production on a fresh database.url, or lift (DELETE) the test suppressions; then delete the file",
      });
    }
    const dev = loaded.development;
    if (dev) {
      const lines = [
        "",
        "  suppressd is running in DEVELOPMENT MODE (no config file): loopback only.",
        dev.created
          ? `  Generated credentials (shown once; kept in ${dev.file}):\n    webhook secret: ${dev.webhookSecret}\n    API token:      ${dev.apiToken}`
          : `  Credentials are in ${dev.file}.`,
        `  Try it:   ${selfCommand()} send-test-event email.bounced`,
        `            curl -H "Authorization: Bearer <API token>" ${daemon.url}/v1/suppressions/bounced+suppressd-test@resend.dev`,
        `  Production: \`${selfCommand()} config example > config.json\`, edit it, and start with it (see README).`,
        "",
      ];
      process.stderr.write(`${lines.join("\n")}\n`);
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.log("info", "stopping", { signal });
        const timer = setTimeout(() => {
          log.log("error", "stop took too long; exiting", { deadline_ms: STOP_DEADLINE_MS });
          process.exit(EXIT.unavailable);
        }, STOP_DEADLINE_MS);
        daemon.stop().then(() => {
          clearTimeout(timer);
          log.log("info", "stopped", {});
          resolve();
        });
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      // SIGHUP re-reads the config file for new webhook secrets and API tokens (a rotation adds the
      // new secret, reloads, and removes the old one later) and sink settings (a fixed key resumes
      // a stopped sink). A broken file changes nothing.
      process.on("SIGHUP", () => {
        if (stopping) return;
        if (dev) {
          log.log("warn", "SIGHUP ignored: development mode has no config file to re-read", {});
          return;
        }
        try {
          const next = loadConfig({ flag: values.config as string | undefined, listen }).config;
          const needsRestart = daemon.reload(next);
          log.log("info", "reloaded webhook secrets, API tokens and sink settings", {
            config: loaded.source,
            webhook_secrets: next.resend.webhookSecrets.length,
            api_tokens: next.api.tokens.length,
            ...(needsRestart.length > 0 ? { ignored_until_restart: needsRestart } : {}),
          });
        } catch (e) {
          const message = (e as Error).message;
          log.log("error", "reload failed; still running with the previous secrets and tokens", {
            error: message,
            // A process's environment is fixed when it starts: SIGHUP cannot see a variable set since.
            ...(message.includes("environment variable")
              ? {
                  hint: "an env: value can only name a variable set when the daemon started: restart it, or write the value in the file",
                }
              : {}),
          });
        }
      });
    });
    return EXIT.ok;
  },
};

/** The credentials file an older development instance left beside a `file:` database. */
function developmentLeftover(url: string): string | null {
  if (!url.startsWith("file:")) return null;
  const file = join(dirname(url.slice(5).split("?")[0] ?? ""), "dev-credentials.json");
  return existsSync(file) ? file : null;
}
