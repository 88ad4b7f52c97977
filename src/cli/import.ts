import { createReadStream, statSync } from "node:fs";
import { type Kysely, sql } from "kysely";
import { jsonParam } from "../db/json_param.ts";
import { type Database, REASONS, type Reason } from "../db/schema.ts";
import { normalizeAddress } from "../events/address.ts";
import type { Intent } from "../events/intents.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { openContext } from "./context.ts";

/** Intents per write: one commit each, small enough that the daemon's webhooks never wait long. */
const CHUNK_ROWS = 1000;
const PROGRESS_EVERY = 10_000;
/** Invalid rows listed on stderr; the rest are only counted, so a broken file cannot flood a terminal. */
const MAX_LISTED = 1000;
const MAX_NOTE = 2000;
/** Clock skew tolerated on `suppressed_at`; a date further ahead would block later lifts. */
const FUTURE_SKEW_MS = 5 * 60_000;

export const importCsv: Command = {
  name: "import",
  summary: "Add the addresses of an existing suppression list (CSV) to the database.",
  usage: `import FILE.csv [--config FILE]   (FILE '-' reads standard input)

The first row names the columns: 'email' (required), 'reason' (${REASONS.join(", ")};
default imported), 'note', 'suppressed_at' or 'created_at' (ISO 8601; no zone means UTC; default
now). Other columns are ignored, so the output of 'suppressd export' imports as it is. Quoted
fields, CRLF and a UTF-8 BOM are fine. Invalid rows are reported with their line number and skipped.
Safe beside a running daemon: rows are committed ${CHUNK_ROWS} at a time through the same writer,
and the configured sinks hear of new suppressions. Importing the same file again changes nothing.`,
  async run({ positionals, values }) {
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0)
      throw usageError("name one CSV file: suppressd import FILE.csv");
    if (file !== "-") {
      let isFile = false;
      try {
        isFile = statSync(file).isFile();
      } catch (e) {
        throw usageError(`cannot read ${file}: ${(e as Error).message}`);
      }
      if (!isFile) throw usageError(`${file} is not a file.`);
    }
    const ctx = await openContext(values, { schema: "migrate" });
    try {
      const stats = await importStream(file === "-" ? process.stdin : createReadStream(file), {
        submit: async (intents) => {
          const result = await ctx.writer().submit({
            claim: "none",
            svixId: null,
            type: "import",
            status: "processed",
            occurredAt: Date.now(),
            intents,
          });
          return result.changed;
        },
        suppressed: (emails) => suppressedReasons(ctx.db.kysely, emails),
        report: (line) => process.stderr.write(`${line}\n`),
      });
      const lifted = stats.lifted > 0 ? `, ${stats.lifted} not suppressed (lifted after the row's date)` : "";
      process.stdout.write(
        `imported ${stats.imported}, already suppressed ${stats.already}, invalid ${stats.invalid}${lifted} ` +
          `(${stats.rows} rows)\n`,
      );
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};

/**
 * The current reason of each of `emails` that is suppressed. Filtering on `suppressed` in SQL would
 * let SQLite pick the listing index and scan every suppressed row; looking up by primary key and
 * filtering here keeps it one index probe per address.
 */
async function suppressedReasons(db: Kysely<Database>, emails: string[]): Promise<Map<string, Reason>> {
  const rows = await db
    .selectFrom("suppressions")
    .select(["email", "reason", "suppressed"])
    .where("email", "in", sql<string>`(SELECT value FROM json_each(${jsonParam(emails)}))`)
    .execute();
  return new Map(rows.filter((r) => r.suppressed === 1).map((r) => [r.email, r.reason]));
}

export interface ImportStats {
  rows: number;
  imported: number;
  already: number;
  invalid: number;
  lifted: number;
}

interface Row {
  email: string;
  reason: Reason;
  at: number;
  note: string | null;
}

/**
 * Reads CSV text from `input` and writes valid rows through `deps.submit` in chunks. Rows whose
 * address is already suppressed for the same reason are not written again (so a second import is
 * a no-op); a different reason goes to the policy, which keeps the stronger one.
 */
export async function importStream(
  input: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  deps: {
    submit(intents: Intent[]): Promise<number>;
    suppressed(emails: string[]): Promise<Map<string, Reason>>;
    report(line: string): void;
    now?: () => number;
  },
): Promise<ImportStats> {
  const now = deps.now ?? Date.now;
  const stats: ImportStats = { rows: 0, imported: 0, already: 0, invalid: 0, lifted: 0 };
  const csv = new CsvReader();
  const decoder = new TextDecoder(); // drops a leading BOM
  let columns: Columns | null = null;
  const pending: Row[] = [];
  let written = 0;

  const invalid = (line: number, why: string) => {
    stats.invalid++;
    if (stats.invalid <= MAX_LISTED) deps.report(`line ${line}: ${why}; skipped`);
    if (stats.invalid === MAX_LISTED) deps.report("(further invalid rows are counted, not listed)");
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
        `import: ${written} rows written (${stats.imported} new, ${stats.already} already suppressed), ${stats.invalid} invalid so far`,
      );
    }
  };

  const take = (records: CsvRecord[]) => {
    for (const rec of records) {
      if (columns === null) {
        columns = headerColumns(rec.cells);
        continue;
      }
      if (rec.cells.length === 1 && rec.cells[0] === "" && !rec.unterminated) continue; // blank line
      stats.rows++;
      const row = rec.unterminated
        ? `a quoted field starting on this line is never closed`
        : parseRow(rec.cells, columns, now());
      if (typeof row === "string") invalid(rec.line, row);
      else pending.push(row);
    }
  };

  for await (const chunk of input) {
    take(csv.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true })));
    while (pending.length >= CHUNK_ROWS) await flush(pending.splice(0, CHUNK_ROWS));
  }
  take(csv.push(decoder.decode()));
  take(csv.end());
  if (columns === null)
    throw usageError("the file is empty: expected a header row naming an 'email' column.");
  while (pending.length > 0) await flush(pending.splice(0, CHUNK_ROWS));
  return stats;
}

interface Columns {
  email: number;
  reason: number;
  note: number;
  at: number;
}

function headerColumns(cells: string[]): Columns {
  const names = cells.map((c) =>
    c
      .replace(/^\uFEFF/, "")
      .trim()
      .toLowerCase(),
  );
  const col = (...want: string[]) => {
    for (const w of want) if (names.includes(w)) return names.indexOf(w);
    return -1;
  };
  const columns = {
    email: col("email", "email_address"),
    reason: col("reason"),
    note: col("note"),
    at: col("suppressed_at", "created_at"),
  };
  if (columns.email < 0) {
    throw usageError(
      `the first row must be a header naming an 'email' column; found: ${cells.join(",").slice(0, 200)}`,
    );
  }
  return columns;
}

function parseRow(cells: string[], c: Columns, now: number): Row | string {
  const cell = (i: number) => (i < 0 ? "" : unneutralize(cells[i] ?? "").trim());
  const raw = cell(c.email);
  if (raw === "") return "no email";
  const email = normalizeAddress(raw);
  if (email === null) return `${JSON.stringify(raw.slice(0, 100))} is not an email address`;
  const reasonText = cell(c.reason).toLowerCase() || "imported";
  if (!(REASONS as readonly string[]).includes(reasonText)) {
    return `reason ${JSON.stringify(reasonText.slice(0, 50))} is not one of ${REASONS.join(", ")}`;
  }
  const note = cell(c.note);
  if (note.length > MAX_NOTE) return `note is longer than ${MAX_NOTE} characters`;
  let at = now;
  const when = cell(c.at);
  if (when !== "") {
    const parsed = parseIsoTime(when);
    if (parsed === null) return `${JSON.stringify(when.slice(0, 50))} is not an ISO 8601 date or time`;
    if (parsed > now + FUTURE_SKEW_MS) return `${when} is in the future`;
    at = parsed;
  }
  return { email, reason: reasonText as Reason, at, note: note === "" ? null : note };
}

/**
 * Undoes the apostrophe `export` (and spreadsheets) put before a cell that would run as a formula,
 * so an exported list imports back to the same addresses and notes. Export adds one before any
 * run of apostrophes that ends in such a character; one is removed here.
 */
function unneutralize(value: string): string {
  return /^'+[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** ISO 8601 date or date-time (also Postgres' `2023-02-22 23:41:11.89+00`); no zone means UTC. */
export function parseIsoTime(value: string): number | null {
  const m = ISO_TIME.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return null;
  if (h === undefined) return day.getTime();
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return null;
  let offset = "Z";
  if (zone && zone.toUpperCase() !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    offset = `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || "00"}`;
  }
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${(frac ?? "").slice(0, 4)}${offset}`);
  return Number.isNaN(ms) ? null : ms;
}

export interface CsvRecord {
  /** Line of the file on which the record starts (the header is line 1). */
  line: number;
  cells: string[];
  /** A quoted field was still open at the end of the file. */
  unterminated?: boolean;
}

/**
 * An incremental RFC 4180 reader: feed it text as it arrives, get the complete records back.
 * Accepts CRLF, LF or CR line ends and newlines inside quoted fields; a stray quote inside an
 * unquoted field is kept as text rather than failing the row.
 */
export class CsvReader {
  private cells: string[] = [];
  private cell = "";
  private quoted = false;
  private afterQuote = false;
  private fieldStart = true;
  private skipLf = false;
  private line = 1;
  private recordLine = 1;
  private lastCr = false;

  push(text: string): CsvRecord[] {
    const out: CsvRecord[] = [];
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const ch = text[i] as string;
      if (this.skipLf) {
        this.skipLf = false;
        if (ch === "\n") continue;
      }
      if (this.quoted) {
        const close = text.indexOf('"', i);
        const end = close < 0 ? n : close;
        const part = text.slice(i, end);
        this.cell += part;
        this.countLines(part);
        if (close >= 0) {
          this.quoted = false;
          this.afterQuote = true;
          this.lastCr = false;
        }
        i = end;
        continue;
      }
      if (this.afterQuote) {
        this.afterQuote = false;
        if (ch === '"') {
          this.cell += '"'; // "" inside a quoted field is one quote
          this.quoted = true;
          continue;
        }
      }
      if (ch === '"' && this.fieldStart) {
        this.quoted = true;
        this.fieldStart = false;
      } else if (ch === ",") {
        this.cells.push(this.cell);
        this.cell = "";
        this.fieldStart = true;
      } else if (ch === "\n" || ch === "\r") {
        out.push(this.finish());
        this.line++;
        this.recordLine = this.line;
        this.skipLf = ch === "\r";
      } else {
        let j = i + 1;
        while (j < n && !SPECIAL.has(text[j] as string)) j++;
        this.cell += text.slice(i, j);
        this.fieldStart = false;
        i = j - 1;
      }
    }
    return out;
  }

  /** Whatever is left after the last line end: the final record, if the file has no trailing newline. */
  end(): CsvRecord[] {
    if (this.quoted) return [{ ...this.finish(), unterminated: true }];
    if (this.cells.length === 0 && this.cell === "" && this.fieldStart) return [];
    return [this.finish()];
  }

  /** Line ends inside a quoted field; a CRLF split across two chunks is still one. */
  private countLines(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c === "\r" || (c === "\n" && !this.lastCr)) this.line++;
      this.lastCr = c === "\r";
    }
  }

  private finish(): CsvRecord {
    this.cells.push(this.cell);
    const record = { line: this.recordLine, cells: this.cells };
    this.cells = [];
    this.cell = "";
    this.quoted = false;
    this.afterQuote = false;
    this.fieldStart = true;
    return record;
  }
}

const SPECIAL = new Set([",", "\n", "\r", '"']);
