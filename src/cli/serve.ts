import { loadConfig } from "../config/load.ts";
import { startDaemon } from "../daemon.ts";
import { jsonLogger } from "../log.ts";
import { VERSION } from "../version.ts";
import { type Command, EXIT, selfCommand } from "./command.ts";

/** How long SIGTERM may take before we give up waiting (systemd's default stop timeout is 90 s). */
const STOP_DEADLINE_MS = 10_000;

export const serve: Command = {
  name: "serve",
  summary: "Run the daemon: receive Resend webhooks and answer suppression queries (the default command).",
  usage: "serve [--config FILE]",
  async run({ values }) {
    const loaded = loadConfig({ flag: values.config as string | undefined, allowDevelopment: "create" });
    const { config } = loaded;
    const log = jsonLogger(config.log.level);
    const daemon = await startDaemon(config);
    // Loading, migrating and the first queries leave garbage; collect it now so an idle daemon
    // holds only what it uses (issue 4 asks for ≤ 80 MB idle).
    if (typeof Bun !== "undefined") Bun.gc(true);
    log.log("info", "suppressd started", { version: VERSION, url: daemon.url, config: loaded.source });
    const dev = loaded.development;
    if (dev) {
      const lines = [
        "",
        "  suppressd is running in DEVELOPMENT MODE (no config file): loopback only.",
        dev.created
          ? `  Generated credentials (shown once; kept in ${dev.file}):\n    webhook secret: ${dev.webhookSecret}\n    API token:      ${dev.apiToken}`
          : `  Credentials are in ${dev.file}.`,
        `  Try it:   ${selfCommand()} send-test-event email.bounced someone@example.com`,
        `            curl -H "Authorization: Bearer <API token>" ${daemon.url}/v1/suppressions/someone@example.com`,
        "  Production: copy config.example.json to config.json and edit it (see README).",
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
          const next = loadConfig({ flag: values.config as string | undefined }).config;
          const needsRestart = daemon.reload(next);
          log.log("info", "reloaded webhook secrets, API tokens and sink settings", {
            config: loaded.source,
            webhook_secrets: next.resend.webhookSecrets.length,
            api_tokens: next.api.tokens.length,
            ...(needsRestart.length > 0 ? { ignored_until_restart: needsRestart } : {}),
          });
        } catch (e) {
          log.log("error", "reload failed; still running with the previous secrets and tokens", {
            error: (e as Error).message,
          });
        }
      });
    });
    return EXIT.ok;
  },
};
