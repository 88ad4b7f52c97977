import { createReadStream, statSync } from "node:fs";
import { suppressedAmong } from "../db/queries.ts";
import { REASONS, type Reason } from "../suppression/types.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";
import { importFrom } from "./import_from.ts";
import { reasonFromWord } from "./import_reasons.ts";
import { type ImportDeps, type ImportStats, importStream } from "./import_stream.ts";

export { parseIsoTime } from "./import_formats.ts";
export { type ImportStats, importStream } from "./import_stream.ts";

/** Mailchimp's audience export zip holds subscribed_*, unsubscribed_* and cleaned_* CSVs (and maybe nonsubscribed_*). */
const MAILCHIMP_WANTED = /(^|\/)(unsubscribed|cleaned)_[^/]*\.csv$/i;

export const importCsv: Command = {
  name: "import",
  summary: "Add the addresses of an existing suppression list to the database.",
  usage: `import FILE [--reason R] [--allow-invalid] [--config FILE]   (FILE '-' reads standard input)
       import --from resend|mailchimp [--full] [--config FILE]

--from resend reads Resend's suppression list (GET /suppressions: bounce → hard_bounce, complaint
→ complaint, manual → provider_suppressed, at its created_at) and its unsubscribed contacts
(unsubscribe), with resend.apiKey. --from mailchimp reads the unsubscribed (→ unsubscribe) and
cleaned (→ hard_bounce) members of every audience of every Mailchimp sink, at their last change.
Neither sends anything back to the service it read (no sync jobs for its sinks). Both respect
the services' rate limits, show progress, and can be stopped (Ctrl-C, exit 130) and run again
to go on where they stopped; a second run writes nothing new. After a complete run the next one
reads only what changed since (Resend's contacts are always read whole); --full reads Resend's
suppression list whole again.

Takes, without editing, and says which it found:
  - Mailchimp's audience export: the zip as downloaded, or its unsubscribed_*.csv (rows become
    unsubscribe, at UNSUB_TIME) and cleaned_*.csv (hard_bounce, at CLEAN_TIME); subscribed
    members are never imported;
  - Resend's suppression list (id,email,origin,source_id,created_at): origin bounce → hard_bounce,
    complaint → complaint, manual → provider_suppressed;
  - any CSV with an 'email' column ('reason', 'note', 'suppressed_at' or 'created_at' read when
    present; the output of 'suppressd export' imports as it is);
  - a plain list, one address per line, no header.
Reasons may be ${REASONS.join(", ")} or common words (bounce, Hard Bounce, spam, unsubscribed, …);
--reason R sets it for rows that have none (default imported). Times are ISO 8601; no zone means
UTC. Quoted fields, CRLF and a UTF-8 BOM are fine. Rows that cannot be imported are reported with
their line number; the exit code is then 65 unless --allow-invalid. Safe beside a running daemon:
rows are committed 1000 at a time through the same writer, and the configured sinks hear of new
suppressions. Importing the same file again changes nothing.`,
  options: {
    reason: { type: "string", description: "reason for rows that have none (default imported)" },
    "allow-invalid": { type: "boolean", description: "exit 0 even if some rows could not be imported" },
    from: { type: "string", description: "read a service's lists through its API: resend or mailchimp" },
    full: { type: "boolean", description: "with --from resend: read the whole suppression list again" },
  },
  async run({ positionals, values }) {
    if (typeof values.from === "string") {
      if (positionals.length > 0) throw usageError("--from reads a service: name no file with it");
      return importFrom(values.from, values);
    }
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) throw usageError("name one file: suppressd import FILE");
    let defaultReason: Reason = "imported";
    if (typeof values.reason === "string") {
      const r = reasonFromWord(values.reason);
      if (r === null) throw usageError(`--reason ${values.reason}: use one of ${REASONS.join(", ")}`);
      defaultReason = r;
    }
    if (file !== "-") {
      let isFile = false;
      try {
        isFile = statSync(file).isFile();
      } catch (e) {
        throw usageError(`cannot read ${file}: ${(e as Error).message}`);
      }
      if (!isFile) throw usageError(`${file} is not a file.`);
    }
    return withContext(values, { schema: "migrate" }, async (ctx) => {
      const deps: ImportDeps = {
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
        suppressed: async (emails) =>
          new Map((await suppressedAmong(ctx.db.read, emails)).map((r) => [r.email, r.reason])),
        report: (line) => process.stderr.write(`${line}\n`),
      };
      const input = await openInput(file === "-" ? process.stdin : createReadStream(file));
      const results: { label: string | undefined; stats: ImportStats }[] = [];
      if (input.zip) {
        const files = await zipEntries(input.zip, file);
        for (const [name, bytes] of files) {
          const stats = await importStream(
            [bytes],
            { ...deps, detected: (f) => say(`${name}: format: ${f}`) },
            { defaultReason, label: name },
          );
          say(`${name}: ${summary(stats)}`);
          results.push({ label: name, stats });
        }
      } else {
        const stats = await importStream(
          input.stream,
          { ...deps, detected: (f) => say(`format: ${f}`) },
          { defaultReason },
        );
        say(summary(stats));
        results.push({ label: undefined, stats });
      }
      if (results.length > 1) say(`total: ${summary(total(results.map((r) => r.stats)))}`);
      const notImported = results.reduce((n, r) => n + r.stats.invalid + r.stats.unknownReason, 0);
      if (notImported > 0 && values["allow-invalid"] !== true) {
        process.stderr.write(
          `${notImported} row${notImported === 1 ? " was" : "s were"} not imported (listed above): correct ${notImported === 1 ? "it" : "them"} and import the file again (rows already imported are not repeated), or pass --allow-invalid to accept the rest as it is.\n`,
        );
        return EXIT.data;
      }
      return EXIT.ok;
    });
  },
};

function say(line: string) {
  process.stdout.write(`${line}\n`);
}

/** One line that counts every row; the first lines not imported are named so they can be found. */
export function summary(s: ImportStats): string {
  const bad = s.invalid + s.unknownReason;
  const lifted = s.lifted > 0 ? `, ${s.lifted} not suppressed (lifted after the row's date)` : "";
  const shown = s.problemLines;
  const where =
    bad === 0 || shown.length === 0
      ? ""
      : `; not imported: line${shown.length === 1 ? "" : "s"} ${shown.join(", ")}${bad > shown.length ? ", …" : ""}`;
  return (
    `imported ${s.imported}, already suppressed ${s.already}, invalid ${s.invalid}, ` +
    `unknown reason ${s.unknownReason}${lifted} (${s.rows} rows)${where}`
  );
}

function total(all: ImportStats[]): ImportStats {
  return all.reduce((t, s) => ({
    format: "",
    rows: t.rows + s.rows,
    imported: t.imported + s.imported,
    already: t.already + s.already,
    invalid: t.invalid + s.invalid,
    unknownReason: t.unknownReason + s.unknownReason,
    lifted: t.lifted + s.lifted,
    problemLines: [],
  }));
}

/** Looks at the first bytes: a zip (PK\x03\x04) is read whole, anything else is streamed. */
async function openInput(
  source: AsyncIterable<Uint8Array | string>,
): Promise<{ zip?: Uint8Array; stream: AsyncIterable<Uint8Array | string> }> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? new Uint8Array() : toBytes(first.value);
  const rest: AsyncIterable<Uint8Array | string> = { [Symbol.asyncIterator]: () => it };
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) {
    const parts = [head];
    for await (const chunk of rest) parts.push(toBytes(chunk));
    return { zip: Buffer.concat(parts), stream: rest };
  }
  return {
    stream: (async function* () {
      if (!first.done) yield first.value;
      yield* rest;
    })(),
  };
}

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk;
}

/** The unsubscribed_* and cleaned_* CSVs of a Mailchimp export zip (fflate), in name order. */
async function zipEntries(zip: Uint8Array, file: string): Promise<[string, Uint8Array][]> {
  // Loaded here, not at start: the daemon (same binary) never reads a zip.
  const { unzipSync } = await import("fflate");
  let entries: Record<string, Uint8Array>;
  const others: string[] = [];
  try {
    entries = unzipSync(zip, {
      filter: (f) => {
        if (MAILCHIMP_WANTED.test(f.name)) return true;
        if (!f.name.endsWith("/")) others.push(f.name);
        return false;
      },
    });
  } catch (e) {
    throw usageError(`${file} looks like a zip but cannot be read: ${(e as Error).message}`);
  }
  const names = Object.keys(entries).sort();
  if (names.length === 0) {
    throw usageError(
      `${file} is a zip without unsubscribed_*.csv or cleaned_*.csv (it holds: ${others.join(", ").slice(0, 300) || "nothing"}); is it Mailchimp's audience export?`,
    );
  }
  for (const name of others)
    process.stderr.write(
      `${name}: not imported (only unsubscribed_* and cleaned_* members are suppressed)\n`,
    );
  return names.map((n) => [n, entries[n] as Uint8Array]);
}
