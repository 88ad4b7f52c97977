/**
 * One JSON object per line on stdout (journald keeps it as the message). Never pass secrets,
 * tokens or raw addresses here: use `hashAddress` for addresses.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

export function jsonLogger(
  min: Level = "info",
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  return {
    log(level, msg, fields) {
      if (ORDER[level] < ORDER[min]) return;
      write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
    },
  };
}

export const silentLogger: Logger = { log() {} };
