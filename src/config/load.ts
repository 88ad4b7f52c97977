import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { configError, usageError } from "../errors.ts";
import { selfCommand } from "../self_command.ts";
import { type Config, configSchema } from "./schema.ts";

export interface LoadedConfig {
  config: Config;
  /** Where it came from, for messages: a path, or "development mode". */
  source: string;
  /** Set when no config file exists and `serve` runs a local development instance. */
  development: DevelopmentCredentials | null;
  /** Where server.host and server.port were set, so a bind error names what to change. */
  listenSettings: { host: string; port: string };
}

/** Command-line values that win over SUPPRESSD_PORT and the file (`serve --host/--port`). */
export interface ListenOverrides {
  host?: string;
  port?: string;
}

export interface DevelopmentCredentials {
  webhookSecret: string;
  apiToken: string;
  /** True on the first start, when they were generated: `serve` prints them once. */
  created: boolean;
  file: string;
}

/** `--config`, else `SUPPRESSD_CONFIG`, else `./config.json`. */
export function configPath(flag: string | undefined, env: Record<string, string | undefined>): string {
  return resolve(flag ?? env.SUPPRESSD_CONFIG ?? "config.json");
}

/**
 * Reads, resolves `"env:NAME"` strings, validates and freezes the configuration. With no file at
 * all (and no explicit path) it returns a development configuration whose credentials are generated
 * once and kept beside the database.
 */
export function loadConfig(opts: {
  flag?: string;
  env?: Record<string, string | undefined>;
  /**
   * Without a config file: "create" (serve) starts a development instance, generating its
   * credentials on first start; "existing" (other commands) uses one that `serve` created.
   */
  allowDevelopment?: "create" | "existing";
  listen?: ListenOverrides;
}): LoadedConfig {
  const env = opts.env ?? process.env;
  const path = configPath(opts.flag, env);
  const explicit = opts.flag !== undefined || env.SUPPRESSD_CONFIG !== undefined;
  const listen = listenOverrides(opts.listen ?? {}, env);
  if (!existsSync(path)) {
    if (explicit || !opts.allowDevelopment) {
      throw configError(
        `No configuration file at ${path}. Start one with \`${selfCommand()} config example > config.json\` and edit it, ` +
          `or run \`${selfCommand()} serve\` without a config file for a local development instance.`,
      );
    }
    if (listen.values.host !== undefined) {
      throw usageError(
        "--host needs a config file: a development instance listens on 127.0.0.1 only (its credentials are printed in the clear).",
      );
    }
    const dev = developmentConfig(env, opts.allowDevelopment === "create", listen.values);
    return { ...dev, source: "development mode", listenSettings: listen.names("development mode") };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    // The parser's message can quote the file (Deno's does), and the file holds secrets: say
    // where to look instead.
    throw configError(`${path} is not valid JSON; \`jq . ${path}\` shows where it breaks.`);
  }
  if (Object.keys(listen.values).length > 0 && raw !== null && typeof raw === "object") {
    const server = (raw as { server?: unknown }).server;
    raw = { ...raw, server: { ...(typeof server === "object" ? server : {}), ...listen.values } };
  }
  return {
    config: parseConfig(raw, env, path),
    source: path,
    development: null,
    listenSettings: listen.names(path),
  };
}

/**
 * `--host`/`--port`, then SUPPRESSD_PORT, then the file: the values to put over server.host and
 * server.port, and for each the name of the setting that decided it.
 */
function listenOverrides(flags: ListenOverrides, env: Record<string, string | undefined>) {
  const values: { host?: string; port?: number } = {};
  const from: { host?: string; port?: string } = {};
  const port = flags.port ?? env.SUPPRESSD_PORT;
  if (port !== undefined) {
    const name = flags.port !== undefined ? "--port" : "SUPPRESSD_PORT";
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
      const message = `${name} must be a TCP port, 0 to 65535 (0 picks a free one), not ${JSON.stringify(port)}.`;
      // A mistyped flag is a usage error (2); a bad environment variable is configuration (78).
      throw flags.port !== undefined ? usageError(message) : configError(message);
    }
    values.port = Number(port);
    from.port = name;
  }
  if (flags.host !== undefined) {
    if (flags.host.trim() === "") throw usageError("--host must not be empty.");
    values.host = flags.host;
    from.host = "--host";
  }
  return {
    values,
    names: (source: string) => ({
      host: from.host ?? `server.host in ${source}`,
      port: from.port ?? `server.port in ${source}`,
    }),
  };
}

/**
 * Validates an already-parsed object; used by `loadConfig` and by tests. Every problem is reported
 * at once, unset environment variables and schema errors together, so one edit fixes them all.
 */
export function parseConfig(
  raw: unknown,
  env: Record<string, string | undefined> = {},
  source = "config",
): Config {
  const missing: { path: string; name: string }[] = [];
  const result = configSchema.safeParse(resolveEnv(raw, env, [], missing));
  // A value whose variable is unset is reported as such, not also as "expected string".
  const unset = (path: string) => missing.some((m) => path === m.path || path.startsWith(`${m.path}.`));
  const problems = [
    ...missing.map((m) => `  - ${m.path}: reads the environment variable ${m.name}, which is not set`),
    ...(result.success
      ? []
      : result.error.issues
          .map((i) => ({ path: i.path.join(".") || "(top level)", message: i.message }))
          .filter((i) => !unset(i.path))
          .map((i) => `  - ${i.path}: ${i.message}`)),
  ];
  if (problems.length > 0 || !result.success) {
    throw configError(`${source} is invalid:\n${problems.join("\n")}`);
  }
  return deepFreeze(result.data);
}

/** `"env:NAME"` strings replaced by the variable; unset or empty ones become undefined and are listed. */
function resolveEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  path: string[],
  missing: { path: string; name: string }[],
): unknown {
  if (typeof value === "string" && value.startsWith("env:")) {
    const name = value.slice(4);
    const found = env[name];
    if (found === undefined || found === "") {
      missing.push({ path: path.join(".") || "config", name });
      return undefined;
    }
    return found;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, env, [...path, String(i)], missing));
  if (value !== null && typeof value === "object") {
    // Keys starting with "//" are comments (config.example.json explains every key that way).
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !k.startsWith("//"))
        .map(([k, v]) => [k, resolveEnv(v, env, [...path, k], missing)]),
    );
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Where a development instance keeps its database and credentials: apart from the production
 * default (`file:./data/suppressd.db`), so a production start in the same folder never inherits
 * what was tried here, nor queues it for a sink.
 */
export const DEVELOPMENT_DATABASE_URL = "file:./data/dev/suppressd.db";

/**
 * A local instance for trying suppressd: loopback only, credentials generated on first start and
 * kept in `data/dev/credentials.json` (owner-only) so `send-test-event` and restarts find them.
 */
function developmentConfig(
  env: Record<string, string | undefined>,
  create: boolean,
  listen: { host?: string; port?: number },
): {
  config: Config;
  development: DevelopmentCredentials;
} {
  const databaseUrl = env.SUPPRESSD_DATABASE_URL ?? DEVELOPMENT_DATABASE_URL;
  const dir = databaseUrl.startsWith("file:") ? dirname(databaseUrl.slice(5)) : "data/dev";
  const file = join(dir, "credentials.json");
  let creds: Omit<DevelopmentCredentials, "file">;
  if (existsSync(file)) {
    creds = { ...JSON.parse(readFileSync(file, "utf8")), created: false };
  } else if (!create) {
    throw configError(
      `No config.json and no development instance yet: start one with \`${selfCommand()} serve\`, ` +
        `or write a config with \`${selfCommand()} config example > config.json\`.`,
    );
  } else {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    creds = {
      webhookSecret: `whsec_${randomBytes(24).toString("base64")}`,
      apiToken: `dev_${randomBytes(24).toString("hex")}`,
      created: true,
    };
    writeFileSync(
      file,
      JSON.stringify({ webhookSecret: creds.webhookSecret, apiToken: creds.apiToken }, null, 2),
      {
        mode: 0o600,
      },
    );
    chmodSync(file, 0o600);
  }
  const config = parseConfig({
    server: { host: listen.host ?? "127.0.0.1", port: listen.port ?? 8025 },
    database: { url: databaseUrl },
    resend: { webhookSecrets: [creds.webhookSecret] },
    api: { tokens: [creds.apiToken] },
  });
  return { config, development: { ...creds, file } };
}
