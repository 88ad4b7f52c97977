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

/** With `hashAddresses` (config `log.hashAddresses`), any address left in a line is hashed too. */
export function jsonLogger(
  min: Level = "info",
  write: (line: string) => void = bufferedStdout,
  hashAddresses = false,
): Logger {
  return {
    log(level, msg, fields) {
      if (ORDER[level] < ORDER[min]) return;
      // The same text as JSON.stringify({ time, level, msg, ...fields }) without copying the
      // fields into a new object: one line a request under ingest.
      const head = `{"time":"${isoNow()}","level":"${level}","msg":${JSON.stringify(msg)}`;
      const rest = fields === undefined ? "{}" : JSON.stringify(fields);
      const line = rest === "{}" ? `${head}}` : `${head},${rest.slice(1)}`;
      write(`${hashAddresses ? hashAddressesIn(line) : line}\n`);
    },
  };
}

let lastMs = 0;
let lastIso = "";
/** The time as ISO 8601, formatted once a millisecond however many lines share it. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

// An address as a sink may quote it back: plain, or percent-encoded from a URL (`jane%40x.com`).
const ADDRESS =
  /(?:[\p{L}\p{N}._+'!#$&*^`{|}~-]|%[0-9a-f]{2})+(?:@|%40)(?:[\p{L}\p{N}-]+\.)+[\p{L}\p{N}-]+/giu;

/**
 * The last net under `logAddress`: sinks' error texts quote addresses back in forms the callers
 * cannot foresee. Two native scans keep lines without an address (nearly all) cheap.
 */
export function hashAddressesIn(text: string): string {
  if (!text.includes("@") && !text.includes("%40")) return text;
  return text.replace(ADDRESS, (m) => logAddress(decodeSafe(m)));
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
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

/**
 * Error text for the log: services quote the address back ("x@y.com looks fake"), and log lines
 * carry no addresses (the outbox row keeps the full text for `jobs list`).
 */
export function redactAddresses(text: string): string {
  return text.replace(/[^\s@"<>(),;:]+@[^\s@"<>(),;:]+/g, "<address>");
}

/** `text` with each of `secrets` (longest first, so no tail of one survives) replaced. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.replaceAll(s, "[redacted]");
  return out;
}
