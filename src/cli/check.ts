import { addressHash, findErased } from "../db/erased.ts";
import { findSuppression } from "../db/queries.ts";
import { normalizeAddress } from "../events/address.ts";
import { iso } from "../util.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

export const check: Command = {
  name: "check",
  summary:
    "May this address be mailed? Exit 0: yes; exit 1: it is suppressed (reason and since are printed).",
  usage: "check EMAIL... [--json] [--config FILE]",
  options: {
    json: { type: "boolean", description: "print one JSON object per address (as the HTTP API does)" },
  },
  async run({ positionals, values }) {
    if (positionals.length === 0) throw usageError("name the address to check: suppressd check EMAIL");
    const emails = positionals.map((raw) => {
      const email = normalizeAddress(raw);
      if (email === null) throw usageError(`${JSON.stringify(raw)} is not an email address.`);
      return email;
    });
    return withContext(values, { schema: "require" }, async (ctx) => {
      let code: number = EXIT.ok;
      for (const email of emails) {
        const row = await findSuppression(ctx.db.read, email);
        const suppressed = row !== undefined && row.suppressed === 1;
        if (suppressed) code = EXIT.suppressed;
        // Erased with --keep-suppressed: only its keyed hash is left, and it still answers.
        const key = ctx.config.privacy.hashKey;
        const erased =
          !suppressed && key !== null ? await findErased(ctx.db, addressHash(key, email)) : undefined;
        if (erased) {
          code = EXIT.suppressed;
          process.stdout.write(
            values.json
              ? `${JSON.stringify({ email, suppressed: true, reason: erased.reason, erased: true })}\n`
              : `${email}: suppressed, reason ${erased.reason} (erased on ${iso(erased.erased_at)}: only a keyed hash is kept)\n`,
          );
          continue;
        }
        if (values.json) {
          const out =
            row && suppressed
              ? {
                  email,
                  suppressed: true,
                  reason: row.reason,
                  first_suppressed_at: iso(row.first_suppressed_at),
                  suppressed_at: iso(row.suppressed_at),
                  note: row.note,
                }
              : { email, suppressed: false };
          process.stdout.write(`${JSON.stringify(out)}\n`);
        } else if (row && suppressed) {
          const note = row.note ? ` (${row.note.replace(/\s+/g, " ")})` : "";
          process.stdout.write(
            `${email}: suppressed, reason ${row.reason}, since ${iso(row.suppressed_at)}${note}\n`,
          );
        } else if (row) {
          process.stdout.write(
            `${email}: may be mailed (its ${row.reason} suppression was lifted on ${iso(row.updated_at)})\n`,
          );
        } else {
          process.stdout.write(`${email}: may be mailed\n`);
        }
      }
      return code;
    });
  },
};
