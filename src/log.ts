import { createHash } from "node:crypto";
import { writeSync } from "node:fs";

/**
 * One JSON object per line on stdout (journald keeps it as the message). Never pass secrets,
 * tokens or raw addresses here: use `logAddress` for addresses.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(min: Level = "info", write: (line: string) => void = bufferedStdout): Logger {
  return {
    log(level, msg, fields) {
      if (ORDER[level] < ORDER[min]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };

// Lines are written once per turn of the event loop: one write per request cost 5% of the
// daemon's CPU under load. What is pending when the process exits is written synchronously.
let pending = "";
function bufferedStdout(line: string) {
  if (pending === "") setImmediate(flushLog);
  pending += line;
}

/** Writes buffered log lines now. */
export function flushLog() {
  if (pending === "") return;
  const text = pending;
  pending = "";
  process.stdout.write(text);
}

process.on("exit", () => {
  if (pending !== "") writeSync(1, pending);
});

/**
 * An address as it may appear in a log line: the first 16 hex digits of the SHA-256 of the
 * trimmed, lowercased address (enough to find one address's lines, `suppressd` hashes the same
 * way everywhere), or the address itself when `log.hashAddresses` is false.
 */
export function logAddress(email: string, hash = true): string {
  const normal = email.trim().toLowerCase();
  if (!hash) return normal;
  return `sha256:${createHash("sha256").update(normal).digest("hex").slice(0, 16)}`;
}
