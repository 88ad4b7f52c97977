import { type Drift, reconcile, type TargetReport } from "../reconcile/reconcile.ts";
import { type Command, EXIT } from "./command.ts";
import { openContext } from "./context.ts";

export const reconcileCommand: Command = {
  name: "reconcile",
  summary: "Compare the suppression list with each Mailchimp audience and Resend's list; --fix repairs.",
  usage: `reconcile [--sink NAME] [--fix] [--config FILE]

Reads every member of each audience of each Mailchimp sink (or only --sink NAME) and, when
resend.apiKey is set and no sink is named, Resend's suppression list, and reports drift both ways:
addresses suppressed here but still subscribed there (not on Resend's list, for hard bounces and
complaints), and addresses unsubscribed or cleaned there (on Resend's list) but not suppressed
here, with counts and the first addresses. --fix imports what is missing here (never sent back to
where it came from) and queues jobs for what is missing there, which the daemon then sends.
Exit 0: no drift (or --fix done), 1: drift found.`,
  options: {
    sink: { type: "string", description: "compare only this Mailchimp sink" },
    fix: { type: "boolean", description: "import theirs, queue ours" },
  },
  async run({ values }) {
    const ctx = await openContext(values, { schema: "migrate" });
    try {
      const reports = await reconcile(
        { config: ctx.config, db: ctx.db, writer: ctx.writer() },
        { ...(typeof values.sink === "string" ? { sink: values.sink } : {}), fix: values.fix === true },
      );
      for (const r of reports) process.stdout.write(describe(r));
      const drift = reports.some((r) => r.hereNotThere.count + r.thereNotHere.count > 0);
      return drift && values.fix !== true ? EXIT.attention : EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};

/** A report as an operator reads it. */
export function describe(r: TargetReport): string {
  const mailchimp = r.target.startsWith("mailchimp");
  const lines = [
    `${r.target}: ${r.ours.toLocaleString("en")} suppressed here, ${r.theirs.toLocaleString("en")} ${mailchimp ? "unsubscribed or cleaned there" : "on Resend's suppression list"}`,
    `  suppressed here but ${mailchimp ? "subscribed there" : "not on Resend's list (hard bounces, complaints)"}: ${list(r.hereNotThere)}`,
    `  ${mailchimp ? "unsubscribed or cleaned there" : "on Resend's list"} but not suppressed here: ${list(r.thereNotHere)}`,
  ];
  if (r.fixed)
    lines.push(
      `  fixed: imported ${r.fixed.imported}, queued ${r.fixed.queued} job${r.fixed.queued === 1 ? "" : "s"}${r.fixed.note ? ` (${r.fixed.note})` : ""}`,
    );
  return `${lines.join("\n")}\n`;
}

function list(d: Drift): string {
  if (d.count === 0) return "none";
  return `${d.count.toLocaleString("en")} (${d.first.join(", ")}${d.count > d.first.length ? ", …" : ""})`;
}
