import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";

export const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
export const OTHER_SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
export const TOKEN = "test-token-0123456789abcdef";

/** A valid configuration for tests; `overrides` are merged one level deep per section. */
export function testConfig(databaseUrl: string, overrides: Record<string, unknown> = {}): Config {
  const base: Record<string, Record<string, unknown> | unknown[]> = {
    server: { host: "127.0.0.1", port: 0 },
    database: { url: databaseUrl },
    resend: { webhookSecrets: [SECRET] },
    api: { tokens: [TOKEN] },
    log: { level: "error", requests: false },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    const b = base[k];
    merged[k] =
      b && !Array.isArray(b) && v && typeof v === "object" && !Array.isArray(v) ? { ...b, ...v } : v;
  }
  return parseConfig(merged);
}
