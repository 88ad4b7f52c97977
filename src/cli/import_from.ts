import { mailchimpApi, mailchimpMembers } from "../backfill/mailchimp.ts";
import { resendSinks } from "../backfill/origin.ts";
import { type PassResult, runPass } from "../backfill/pass.ts";
import { Progress } from "../backfill/progress.ts";
import { resendContacts, resendSuppressions } from "../backfill/resend.ts";
import { ResendReader } from "../backfill/resend_api.ts";
import { emptyStats, type WriteTarget } from "../backfill/rows.ts";
import type { Config, MailchimpSinkConfig } from "../config/schema.ts";
import { configError } from "../errors.ts";
import { EXIT, usageError } from "./command.ts";
import { type CliContext, openContext } from "./context.ts";

/** Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it): run it again to go on. */
export const EXIT_INTERRUPTED = 130;

/**
 * `import --from resend|mailchimp`: reads the service's lists through its API and writes what
 * they hold, page by page, resuming where an earlier run stopped (see backfill/pass.ts).
 */
export async function importFrom(
  service: string,
  values: Record<string, string | boolean | undefined>,
): Promise<number> {
  if (service !== "resend" && service !== "mailchimp")
    throw usageError(`--from ${service}: use --from resend or --from mailchimp`);
  const ctx = await openContext(values, { schema: "migrate" });
  let stopping = false;
  const onSigint = () => {
    if (stopping) process.exit(EXIT_INTERRUPTED);
    stopping = true;
    process.stderr.write("\nstopping after the page in hand (Ctrl-C again to quit at once)…\n");
  };
  process.on("SIGINT", onSigint);
  try {
    const progress = new Progress(process.stderr);
    const opts = { progress, stop: () => stopping };
    const results: PassResult[] = [];
    const told = new Set<string>();
    for (const { target, listing } of service === "resend"
      ? fromResend(ctx, values.full === true)
      : fromMailchimp(ctx)) {
      if (stopping) break;
      const skipped = target.skipSinks.join(", ");
      if (skipped && !told.has(skipped)) say(`sinks not told (the rows come from there): ${skipped}`);
      told.add(skipped);
      const r = await runPass(target, listing, emptyStats(), opts);
      results.push(r);
      const s = r.stats;
      say(
        `${r.label}: read ${s.read}, newly suppressed ${s.written}, already known ${s.known}, invalid ${s.invalid}` +
          (r.resumed ? " (went on from the last run)" : "") +
          (r.complete ? "" : " (interrupted)"),
      );
    }
    if (stopping) {
      process.stderr.write("interrupted: run the same command again to go on where it stopped.\n");
      return EXIT_INTERRUPTED;
    }
    return EXIT.ok;
  } finally {
    process.off("SIGINT", onSigint);
    await ctx.close();
  }
}

function say(line: string) {
  process.stdout.write(`${line}\n`);
}

function* fromResend(ctx: CliContext, full: boolean) {
  const { resend } = ctx.config;
  if (!resend.apiKey)
    throw configError(
      'resend.apiKey is not set: add a full-access Resend API key to the config ("apiKey": "env:RESEND_API_KEY" under "resend") to read Resend\'s lists.',
    );
  const reader = new ResendReader({ apiKey: resend.apiKey, baseUrl: resend.apiBaseUrl });
  const skipSinks = resendSinks(ctx.config);
  const target = (eventType: string): WriteTarget => ({
    db: ctx.db,
    writer: ctx.writer(),
    eventType,
    skipSinks,
  });
  // `suppression.*` is Resend's list (source resend); `contact.*` its contact state (source
  // resend_contact), so a later contact.updated with unsubscribed: false lifts it as usual.
  yield { target: target("suppression.backfill"), listing: resendSuppressions(reader, full) };
  yield { target: target("contact.backfill"), listing: resendContacts(reader) };
}

function* fromMailchimp(ctx: CliContext) {
  const sinks = mailchimpSinks(ctx.config);
  if (sinks.length === 0)
    throw configError(
      "no Mailchimp sink in the config: import --from mailchimp reads the audiences listed by each sink of type mailchimp.",
    );
  for (const sink of sinks) {
    const api = mailchimpApi(sink);
    for (const listId of sink.listIds) {
      // Every sink that writes to this audience: none of them is told what it already holds.
      const skipSinks = sinks.filter((s) => s.listIds.includes(listId)).map((s) => s.name);
      for (const status of ["unsubscribed", "cleaned"] as const) {
        yield {
          target: { db: ctx.db, writer: ctx.writer(), eventType: "mailchimp.backfill", skipSinks },
          listing: mailchimpMembers(api, sink.name, listId, status),
        };
      }
    }
  }
}

export function mailchimpSinks(config: Config): MailchimpSinkConfig[] {
  return config.sinks.filter((s): s is MailchimpSinkConfig => s.type === "mailchimp");
}
