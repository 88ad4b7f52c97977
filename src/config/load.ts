import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { z } from "zod";
import { configError } from "../errors.ts";
import { type Config, configSchema } from "./schema.ts";

export interface LoadedConfig {
  config: Config;
  /** Where it came from, for messages: a path, or "development mode". */
  source: string;
  /** Set when no config file exists and `serve` runs a local development instance. */
  development: DevelopmentCredentials | null;
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
}): LoadedConfig {
  const env = opts.env ?? process.env;
  const path = configPath(opts.flag, env);
  const explicit = opts.flag !== undefined || env.SUPPRESSD_CONFIG !== undefined;
  if (!existsSync(path)) {
    if (explicit || !opts.allowDevelopment) {
      throw configError(
        `No configuration file at ${path}. Copy config.example.json to config.json and edit it, ` +
          "or run `suppressd serve` without a config file for a local development instance.",
      );
    }
    return { ...developmentConfig(env, opts.allowDevelopment === "create"), source: "development mode" };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    // The parser's message can quote the file (Deno's does), and the file holds secrets: say
    // where to look instead.
    throw configError(`${path} is not valid JSON; \`jq . ${path}\` shows where it breaks.`);
  }
  return { config: parseConfig(raw, env, path), source: path, development: null };
}

/** Validates an already-parsed object; used by `loadConfig` and by tests. */
export function parseConfig(
  raw: unknown,
  env: Record<string, string | undefined> = {},
  source = "config",
): Config {
  const result = configSchema.safeParse(resolveEnv(raw, env, []));
  if (!result.success) throw configError(`${source} is invalid:\n${formatIssues(result.error)}`);
  return deepFreeze(result.data);
}

function resolveEnv(value: unknown, env: Record<string, string | undefined>, path: string[]): unknown {
  if (typeof value === "string" && value.startsWith("env:")) {
    const name = value.slice(4);
    const found = env[name];
    if (found === undefined || found === "") {
      throw configError(
        `${path.join(".") || "config"} reads the environment variable ${name}, which is not set.`,
      );
    }
    return found;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveEnv(v, env, [...path, String(i)]));
  if (value !== null && typeof value === "object") {
    // Keys starting with "//" are comments (config.example.json explains every key that way).
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !k.startsWith("//"))
        .map(([k, v]) => [k, resolveEnv(v, env, [...path, k])]),
    );
  }
  return value;
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `  - ${i.path.join(".") || "(top level)"}: ${i.message}`).join("\n");
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * A local instance for trying suppressd: loopback only, credentials generated on first start and
 * kept in `data/dev-credentials.json` (owner-only) so `send-test-event` and restarts find them.
 */
function developmentConfig(
  env: Record<string, string | undefined>,
  create: boolean,
): {
  config: Config;
  development: DevelopmentCredentials;
} {
  const databaseUrl = env.SUPPRESSD_DATABASE_URL ?? "file:./data/suppressd.db";
  const dir = databaseUrl.startsWith("file:") ? dirname(databaseUrl.slice(5)) : "data";
  const file = join(dir, "dev-credentials.json");
  let creds: Omit<DevelopmentCredentials, "file">;
  if (existsSync(file)) {
    creds = { ...JSON.parse(readFileSync(file, "utf8")), created: false };
  } else if (!create) {
    throw configError(
      "No config.json and no development instance yet: start one with `suppressd serve` (or `npm start`), " +
        "or copy config.example.json to config.json.",
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
    server: { host: "127.0.0.1", port: Number(env.SUPPRESSD_PORT ?? 8025) },
    database: { url: databaseUrl },
    resend: { webhookSecrets: [creds.webhookSecret] },
    api: { tokens: [creds.apiToken] },
  });
  return { config, development: { ...creds, file } };
}
