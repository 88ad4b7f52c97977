import { once } from "node:events";
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { finished } from "node:stream/promises";
import { listSuppressions } from "../db/queries.ts";
import { REASONS, type Reason, type SuppressionTable } from "../db/schema.ts";
import { csvLine, SUPPRESSION_CSV_HEADER, suppressionCsvRow } from "../http/csv.ts";
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
apostrophe ('import' removes it again). FILE is written owner-only and appears only when complete.`,
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
    const ctx = await openContext(values, { schema: "require" });
    // Personal data: the file is the owner's alone, and a partial file never takes the real name.
    const tmp = output === undefined ? null : `${output}.partial-${process.pid}`;
    const out = tmp === null ? process.stdout : createWriteStream(tmp, { mode: 0o600 });
    try {
      const write = async (text: string) => {
        if (!out.write(text)) await once(out, "drain");
      };
      await write(csvLine(HEADER));
      let count = 0;
      let after: { updatedAt: number; email: string } | undefined;
      for (;;) {
        const rows = await listSuppressions(ctx.db.kysely, {
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
      throw e;
    } finally {
      await ctx.close();
    }
  },
};
