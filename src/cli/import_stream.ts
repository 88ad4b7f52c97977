import type { Intent } from "../suppression/intents.ts";
import type { Reason } from "../suppression/types.ts";
import { usageError } from "./command.ts";
import { detectFormat, type Format } from "./import_formats.ts";

/** Intents per write: one commit each, small enough that the daemon's webhooks never wait long. */
const CHUNK_ROWS = 1000;
const PROGRESS_EVERY = 10_000;
/** Problem lines listed on stderr and line numbers kept for the summary; the rest are counted. */
export const MAX_LISTED = 20;
/** Clock skew tolerated on a row's time; a date further ahead would block later lifts. */
const FUTURE_SKEW_MS = 5 * 60_000;

export interface ImportStats {
  /** What the header said the file is. */
  format: string;
  rows: number;
  imported: number;
  already: number;
  invalid: number;
  unknownReason: number;
  lifted: number;
  /** Line numbers of the first rows not imported (invalid or unknown reason). */
  problemLines: number[];
}

export interface ImportDeps {
  submit(intents: Intent[]): Promise<number>;
  suppressed(emails: string[]): Promise<Map<string, Reason>>;
  report(line: string): void;
  /** Called once the header has been read, before any row is written. */
  detected?(format: string): void;
  now?: () => number;
}

interface Row {
  email: string;
  reason: Reason;
  at: number;
  note: string | null;
}

/**
 * Reads one CSV (or plain list) from `input`, recognises its format from the first row, and writes
 * the valid rows through `deps.submit` in chunks. Rows whose address is already suppressed for the
 * same reason are not written again (so a second import is a no-op); a different reason goes to the
 * policy, which keeps the stronger one. `label` prefixes line reports (the file's name in a zip).
 */
export async function importStream(
  input: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  deps: ImportDeps,
  opts: { defaultReason?: Reason; label?: string } = {},
): Promise<ImportStats> {
  const now = deps.now ?? Date.now;
  const defaultReason = opts.defaultReason ?? "imported";
  const where = (line: number) => (opts.label ? `${opts.label} line ${line}` : `line ${line}`);
  const stats: ImportStats = {
    format: "",
    rows: 0,
    imported: 0,
    already: 0,
    invalid: 0,
    unknownReason: 0,
    lifted: 0,
    problemLines: [],
  };
  let format: Format | null = null;
  const pending: Row[] = [];
  let written = 0;

  const problem = (line: number, kind: "invalid" | "unknown_reason", why: string) => {
    if (kind === "invalid") stats.invalid++;
    else stats.unknownReason++;
    const n = stats.invalid + stats.unknownReason;
    if (n <= MAX_LISTED) {
      stats.problemLines.push(line);
      deps.report(`${where(line)}: ${why}; skipped`);
    }
    if (n === MAX_LISTED) deps.report("(further rows that are not imported are counted, not listed)");
  };

  const flush = async (rows: Row[]) => {
    if (rows.length === 0) return;
    const before = await deps.suppressed([...new Set(rows.map((r) => r.email))]);
    const seen = new Set<string>();
    const intents: Intent[] = [];
    for (const r of rows) {
      const known = before.get(r.email);
      const dup = seen.has(r.email);
      seen.add(r.email);
      if (known !== undefined || dup) stats.already++;
      if (known === r.reason) continue;
      intents.push({
        kind: "suppress",
        email: r.email,
        reason: r.reason,
        eventType: "import",
        occurredAt: r.at,
        ...(r.note === null ? {} : { note: r.note }),
      });
    }
    const fresh = [...seen].filter((e) => !before.has(e)).length;
    const changed = intents.length > 0 ? await deps.submit(intents) : 0;
    stats.imported += changed;
    // A new address that did not become suppressed was lifted (by the API or an event) after
    // the row's date: an older suppression never overrides a newer lift.
    stats.lifted += Math.max(0, fresh - changed);
    const previously = written;
    written += rows.length;
    if (Math.floor(written / PROGRESS_EVERY) > Math.floor(previously / PROGRESS_EVERY)) {
      deps.report(
        `import: ${written} rows written (${stats.imported} new, ${stats.already} already suppressed), ${stats.invalid + stats.unknownReason} not imported so far`,
      );
    }
  };

  const take = (cells: string[], line: number) => {
    if (format === null) {
      format = detectFormat(cells, opts.label);
      stats.format = format.name;
      deps.detected?.(format.name);
      if (format.header) return;
    }
    if (cells.every((c) => c.trim() === "")) return; // blank line
    stats.rows++;
    const r = format.row(cells, defaultReason);
    if (!r.ok) return problem(line, r.kind, r.why);
    const t = now();
    if (r.at !== null && r.at > t + FUTURE_SKEW_MS) {
      return problem(line, "invalid", `${new Date(r.at).toISOString()} is in the future`);
    }
    pending.push({ email: r.email, reason: r.reason, at: r.at ?? t, note: r.note });
  };

  // csv-parse (a maintained RFC 4180 parser): BOM, quoted fields with commas, quotes and line
  // breaks, CRLF / LF / CR, rows of any length, a stray quote inside an unquoted field kept as text.
  // A record it cannot read (a quote never closed) is skipped with its error, reported below.
  // Loaded here, not at start: the daemon (same binary) never parses CSV.
  const { parse } = await import("csv-parse");
  const parser = parse({
    bom: true,
    relax_column_count: true,
    relax_quotes: true,
    record_delimiter: ["\r\n", "\n", "\r"],
    raw: true,
    skip_records_with_error: true,
  });
  // Line numbers are counted here from each record's raw text: csv-parse's own `info.lines`
  // counts a CRLF inside a quoted field as two lines. A skipped record is reported in its place
  // among the records (the parser runs ahead of this loop).
  let line = 1;
  let taken = 0;
  const breaks = (raw: string) => raw.match(/\r\n|\r|\n/g)?.length ?? 0;
  const skipped: { after: number; raw: string; why: string }[] = [];
  parser.on("skip", (e: Error & { raw?: string }) => {
    skipped.push({ after: parser.info.records, raw: e.raw ?? "", why: e.message.split(":")[0] ?? "" });
  });
  const reportSkipped = () => {
    while (skipped.length > 0 && (skipped[0]?.after ?? 0) <= taken) {
      const s = skipped.shift() as (typeof skipped)[number];
      stats.rows++;
      problem(line, "invalid", `the row cannot be read as CSV (${s.why})`);
      line += breaks(s.raw);
    }
  };
  const feed = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of input) {
      const text = typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
      if (!parser.write(text)) await new Promise((resolve) => parser.once("drain", resolve));
    }
    parser.end(decoder.decode());
  })();
  feed.catch((e) => parser.destroy(e as Error));
  for await (const { record, raw } of parser as AsyncIterable<{ record: string[]; raw: string }>) {
    reportSkipped();
    take(record, line);
    taken++;
    line += breaks(raw);
    while (pending.length >= CHUNK_ROWS) await flush(pending.splice(0, CHUNK_ROWS));
  }
  reportSkipped();
  await feed;
  if (format === null) throw usageError(`${opts.label ?? "the file"} is empty.`);
  while (pending.length > 0) await flush(pending.splice(0, CHUNK_ROWS));
  return stats;
}
