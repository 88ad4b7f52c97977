import type { Config } from "../config/schema.ts";

/**
 * The sinks that write to Resend: HTTP sinks whose URL is on Resend's API host (the
 * `resend-contacts` preset, and any other call to api.resend.com). Rows read from Resend are not
 * sent back to them: Resend already has them (no echo).
 */
export function resendSinks(config: Config): string[] {
  const hosts = new Set(["api.resend.com", hostOf(config.resend.apiBaseUrl)]);
  return config.sinks.filter((s) => s.type === "http" && hosts.has(hostOf(s.url))).map((s) => s.name);
}

function hostOf(url: string): string {
  try {
    return new URL(url.replace(/\{\{[^}]*\}\}/g, "x")).host;
  } catch {
    return "";
  }
}
