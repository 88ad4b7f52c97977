import { sql } from "kysely";

/**
 * `value` as the JSON text of a `json_each(?)` parameter, with every lone surrogate replaced by
 * U+FFFD. JSON.stringify writes a lone surrogate as an escape (`\ud800`) and SQLite's JSON reader
 * turns that escape into bytes that are not UTF-8 (ED A0 80); libsql then panics (the process
 * aborts) on every later read of the row. A bound string parameter cannot do that: libsql
 * converts it with U+FFFD already, so both ways into the database now store the same text.
 *
 * Cheap on the hot path: JSON.stringify never escapes a well-formed pair, so text without
 * `\ud` has no lone surrogate and is passed on as it is (one native scan).
 */
export function jsonParam(value: unknown): string {
  const text = JSON.stringify(value);
  if (!text.includes("\\ud")) return text;
  // Tokens from left to right: an escaped backslash is skipped whole, so `\\ud800` (a backslash
  // followed by the letters "ud800") stays as it was.
  return text.replace(/\\\\|\\ud[89a-f][0-9a-f]{2}/g, (m) => (m === "\\\\" ? m : "\\ufffd"));
}

/** `(SELECT value FROM json_each(?))`: an IN list of any length as one parameter, not one per value. */
export const idList = (list: readonly number[]) =>
  sql<number>`(SELECT value FROM json_each(${jsonParam(list)}))`;
export const textList = (list: readonly string[]) =>
  sql<string>`(SELECT value FROM json_each(${jsonParam(list)}))`;
