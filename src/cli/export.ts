import { once } from "node:events";
import { closeSync, createWriteStream, openSync, renameSync, rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { finished } from "node:stream/promises";
import { listSuppressions } from "../db/queries.ts";
import type { SuppressionTable } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { csvLine, SUPPRESSION_CSV_HEADER, suppressionCsvRow } from "../http/csv.ts";
import { REASONS, type Reason } from "../suppression/types.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { openContext } from "./context.ts";

const PAGE = 5000;
const PROGRESS_EVERY = 100_000;

/** The same columns as `GET /v1/suppressions?format=csv`, so either output imports back. */
const HEADER = SUPPRESSION_CSV_HEADER;

export const exportCsv: Command = {
  name: "export",
  summary: "Write the suppressed addresses as CSV (to standard output, or --output FILE).",
  usage: `export [--output FILE] [--reason REASON] [--config FILE]

Columns: ${HEADER.join(",")}. Cells a spreadsheet would run as a formula get a leading
apostrophe ('import' removes it again). FILE is written owner-only and appears only when complete.
Exit 73 when FILE cannot be created (a missing folder, no permission). A reader that stops early
(\`export | head\`) ends the export quietly.`,
  options: {
    output: { type: "string", short: "o", description: "write to FILE instead of standard output" },
    reason: { type: "string", description: `only this reason: ${REASONS.join(", ")}` },
  },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const reason = values.reason as string | undefined;
    if (reason !== undefined && !(REASONS as readonly string[]).includes(reason)) {
      throw usageError(`--reason must be one of ${REASONS.join(", ")}.`);
    }
    const output = values.output as string | undefined;
    // Personal data: the file is the owner's alone, and a partial file never takes the real name.
    const tmp = output === undefined ? null : `${output}.partial-${process.pid}`;
    // Opened before the database, synchronously, so a folder that is missing or not writable is
    // a message naming it, not a stream error about a `.partial` file later.
    const fd = tmp === null ? null : openOutput(tmp, output as string);
    const ctx = await openContext(values, { schema: "require" }).catch((e) => {
      if (fd !== null) {
        closeSync(fd);
        rmSync(tmp as string, { force: true });
      }
      throw e;
    });
    const out = fd === null ? process.stdout : createWriteStream(tmp as string, { fd });
    // A reader that stops early (`export | head`) closes the pipe: that ends the export quietly.
    let pipeError: Error | null = null;
    const onError = (e: Error) => {
      pipeError = e;
    };
    out.on("error", onError);
    try {
      const write = async (text: string) => {
        if (pipeError) throw pipeError;
        if (!out.write(text)) await once(out, "drain");
      };
      await write(csvLine(HEADER));
      let count = 0;
      let after: { updatedAt: number; email: string } | undefined;
      for (;;) {
        const rows = await listSuppressions(ctx.db.read, {
          reason: reason as Reason | undefined,
          after,
          limit: PAGE,
        });
        if (rows.length === 0) break;
        await write(rows.map(suppressionCsvRow).join(""));
        const last = rows[rows.length - 1] as SuppressionTable;
        after = { updatedAt: last.updated_at, email: last.email };
        const before = count;
        count += rows.length;
        if (Math.floor(count / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
          process.stderr.write(`export: ${count} addresses\n`);
        }
      }
      if (tmp !== null && output !== undefined) {
        out.end();
        await finished(out);
        renameSync(tmp, output);
      }
      process.stderr.write(
        `exported ${count} ${count === 1 ? "address" : "addresses"}${output === undefined ? "" : ` to ${output}`}\n`,
      );
      return EXIT.ok;
    } catch (e) {
      if (tmp !== null) {
        (out as ReturnType<typeof createWriteStream>).destroy();
        rmSync(tmp, { force: true });
      }
      if (tmp === null && (e as NodeJS.ErrnoException)?.code === "EPIPE") return EXIT.ok;
      throw e;
    } finally {
      if (tmp === null) out.off("error", onError);
      await ctx.close();
    }
  },
};

/**
 * Creates the temporary file owner-only, or says what to change: exit 73 (sysexits' CANTCREAT,
 * "cannot create the output file"), as for any output the command cannot create.
 */
function openOutput(tmp: string, output: string): number {
  try {
    return openSync(tmp, "wx", 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const dir = dirname(resolve(output));
    const why =
      code === "ENOENT"
        ? `the folder ${dir} does not exist (create it, or choose another --output)`
        : code === "ENOTDIR"
          ? `${dir} is not a folder`
          : code === "EACCES" || code === "EPERM" || code === "EROFS"
            ? `this user may not write in ${dir}`
            : `${code ?? (e as Error).message}`;
    throw new AppError("cannot_create", "cannot_create", `Cannot write ${output}: ${why}.`);
  }
}
