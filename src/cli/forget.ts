import { type AddressRows, countAddressRows, forgetAddress, quarantinedMentions } from "../db/forget.ts";
import { normalizeAddress } from "../events/address.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

const describe = (r: AddressRows) =>
  `${r.suppressions} suppression(s), ${r.reasons} reason row(s), ${r.history} history row(s), ${r.jobs} sync job(s)`;

export const forget: Command = {
  name: "forget",
  summary: "Erase every record of an address (an erasure request). Shows what it would erase unless --yes.",
  usage: `forget EMAIL [--yes] [--config FILE]

Deletes the address's suppression, its per-reason state, its history and its sync jobs. Afterwards
the address MAY BE MAILED AGAIN, until an event suppresses it anew: keep it suppressed instead if
the request allows. Members in Mailchimp or other audiences are not touched; erase them there too.
Without --yes nothing is erased: it prints what would be.`,
  options: {
    yes: { type: "boolean", description: "erase (without it, only show what would be erased)" },
  },
  async run({ positionals, values }) {
    if (positionals.length !== 1) throw usageError("name one address: suppressd forget EMAIL [--yes]");
    const raw = positionals[0] as string;
    const email = normalizeAddress(raw);
    if (email === null) throw usageError(`${JSON.stringify(raw)} is not an email address.`);
    return withContext(values, { schema: "require" }, async (ctx) => {
      const found = await countAddressRows(ctx.db, email);
      const mentions = await quarantinedMentions(ctx.db, email);
      const lines: string[] = [];
      if (Object.values(found).every((n) => n === 0)) {
        lines.push(`${email}: no records name this address; nothing to erase`);
      } else if (!values.yes) {
        lines.push(`${email}: ${describe(found)}`);
        lines.push(
          "nothing erased: run again with --yes to erase them (the address may then be mailed again)",
        );
      } else {
        const erased = await forgetAddress(ctx.db, email);
        lines.push(
          `${email}: erased ${describe(erased)}; it may be mailed again until an event suppresses it anew`,
        );
      }
      if (mentions.length > 0) {
        lines.push(
          `${mentions.length} quarantined webhook(s) mention it and are kept (raw events, possibly about others too): ${mentions.join(", ")}`,
        );
      }
      process.stdout.write(`${lines.join("\n")}\n`);
      return EXIT.ok;
    });
  },
};
