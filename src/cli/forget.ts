import { addressHash, type ErasedRows, eraseKeepingSuppressed } from "../db/erased.ts";
import { type AddressRows, countAddressRows, forgetAddress, quarantinedMentions } from "../db/forget.ts";
import { configError } from "../errors.ts";
import { normalizeAddress } from "../events/address.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

const describe = (r: Omit<AddressRows, "erased">) =>
  `${r.suppressions} suppression(s), ${r.reasons} reason row(s), ${r.history} history row(s), ${r.jobs} sync job(s)`;

/** The key of `forget --keep-suppressed`, or a configuration error saying how to set one. */
export function hashKeyOf(key: string | null): string {
  if (key === null)
    throw configError(
      'forget --keep-suppressed needs privacy.hashKey in the configuration (at least 32 characters, e.g. "env:SUPPRESSD_HASH_KEY" holding `openssl rand -hex 32`); keep it for good: changing it makes erased addresses mailable again.',
    );
  return key;
}

/** The lines `forget --keep-suppressed` prints (and DELETE ?erase=keep-suppressed's note says). */
export function describeErasure(email: string, r: ErasedRows): string[] {
  const lines = [
    `${email}: erased ${describe(r)}; it stays suppressed (${r.reason}) by a keyed hash alone${r.wasSuppressed ? "" : " (it was not suppressed before: now it is, as manual)"}`,
  ];
  if (r.unsentJobs.length > 0) {
    const sinks = [...new Set(r.unsentJobs.map((j) => j.sink))].join(", ");
    lines.push(
      `${r.unsentJobs.length} unsent sync job(s) were erased with it: ${sinks} never heard of this suppression; suppress or erase the address there by hand`,
    );
  }
  return lines;
}

export const forget: Command = {
  name: "forget",
  summary: "Erase every record of an address (an erasure request). Shows what it would erase unless --yes.",
  usage: `forget EMAIL [--keep-suppressed] [--yes] [--config FILE]

Deletes the address's suppression, its per-reason state, its history and its sync jobs. Afterwards
the address MAY BE MAILED AGAIN, until an event suppresses it anew. With --keep-suppressed (for
"erase my data and never mail me again") only an HMAC of the address under privacy.hashKey is
kept: GET, check and the bulk check still answer suppressed, later events about it are dropped
unread, and no sink is told anything. Members in Mailchimp or other audiences are not touched;
erase them there too. Without --yes nothing is erased: it prints what would be.`,
  options: {
    yes: { type: "boolean", description: "erase (without it, only show what would be erased)" },
    "keep-suppressed": {
      type: "boolean",
      description: "keep the address suppressed by a keyed hash (needs privacy.hashKey)",
    },
  },
  async run({ positionals, values }) {
    if (positionals.length !== 1) throw usageError("name one address: suppressd forget EMAIL [--yes]");
    const raw = positionals[0] as string;
    const email = normalizeAddress(raw);
    if (email === null) throw usageError(`${JSON.stringify(raw)} is not an email address.`);
    return withContext(values, { schema: "require" }, async (ctx) => {
      const keep = values["keep-suppressed"] === true;
      const key = keep ? hashKeyOf(ctx.config.privacy.hashKey) : ctx.config.privacy.hashKey;
      const hash = key === null ? undefined : addressHash(key, email);
      const found = await countAddressRows(ctx.db, email, hash);
      const mentions = await quarantinedMentions(ctx.db, email);
      const lines: string[] = [];
      if (keep) {
        if (!values.yes) {
          lines.push(
            `${email}: ${describe(found)}${found.erased ? "; already erased and kept suppressed" : ""}`,
          );
          lines.push(
            "nothing erased: run again with --yes to erase them and keep the address suppressed by its hash",
          );
        } else {
          lines.push(
            ...describeErasure(
              email,
              await eraseKeepingSuppressed(ctx.db, email, hash as string, Date.now()),
            ),
          );
        }
      } else if (Object.values(found).every((n) => n === 0)) {
        lines.push(`${email}: no records name this address; nothing to erase`);
      } else if (!values.yes) {
        lines.push(
          `${email}: ${describe(found)}${found.erased ? ", and a suppression kept by its hash" : ""}`,
        );
        lines.push(
          "nothing erased: run again with --yes to erase them (the address may then be mailed again)",
        );
      } else {
        const erased = await forgetAddress(ctx.db, email, hash);
        lines.push(
          `${email}: erased ${describe(erased)}${erased.erased ? " and the suppression kept by its hash" : ""}; it may be mailed again until an event suppresses it anew`,
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
