import { type QuarantinedRow, quarantinedPage } from "../db/events.ts";
import type { WriteItem } from "../db/writer.ts";
import { parseResendEvent } from "../events/resend.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

const PAGE = 200;

const strict = new TextDecoder("utf-8", { fatal: true });

/** What the current parser makes of a stored body: a write item, or why it still cannot be read. */
function reparse(row: QuarantinedRow): WriteItem | { stillQuarantined: string } {
  let text: string;
  try {
    text = strict.decode(row.body);
  } catch {
    return { stillQuarantined: "body is not valid UTF-8" };
  }
  const parsed = parseResendEvent(text);
  if (parsed.outcome === "quarantine") return { stillQuarantined: parsed.reason };
  return {
    claim: "reprocess",
    svixId: row.svix_id,
    type: parsed.type,
    status: parsed.outcome === "act" ? "processed" : "ignored",
    occurredAt: parsed.occurredAt,
    intents: parsed.outcome === "act" ? parsed.intents : [],
  };
}

export const eventsReprocess: Command = {
  name: "events reprocess",
  summary: "Replay quarantined webhook events through the current parser (after an upgrade).",
  usage: `events reprocess [--dry-run] [--config FILE]

Events that now parse take effect as if they had just arrived (idempotently: each svix-id once);
the others stay quarantined and are listed with the reason.`,
  options: { "dry-run": { type: "boolean", description: "only say what would happen; change nothing" } },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const dryRun = values["dry-run"] === true;
    const counts = { processed: 0, ignored: 0, skipped: 0 };
    const still = new Map<string, number>();
    return withContext(values, { schema: dryRun ? "require" : "migrate" }, async (ctx) => {
      let after: { at: number; id: string } | null = null;
      for (;;) {
        const rows = await quarantinedPage(ctx.db.read, after, PAGE);
        if (rows.length === 0) break;
        const last = rows[rows.length - 1] as QuarantinedRow;
        after = { at: last.received_at, id: last.svix_id };
        const items: WriteItem[] = [];
        for (const row of rows) {
          const item = reparse(row);
          if ("stillQuarantined" in item) {
            still.set(item.stillQuarantined, (still.get(item.stillQuarantined) ?? 0) + 1);
          } else items.push(item);
        }
        // Submitted together, the writer commits the page in one transaction.
        const results = dryRun
          ? items.map((i) => ({ status: i.status, changed: 0 }))
          : await Promise.all(items.map((i) => ctx.writer().submit(i)));
        for (const [n, result] of results.entries()) {
          const item = items[n] as WriteItem;
          const status = result.status === "processed" || result.status === "ignored" ? result.status : null;
          // "duplicate": the event is no longer quarantined (another reprocess got there first).
          if (status === null) counts.skipped++;
          else counts[status]++;
          process.stdout.write(
            `${item.svixId} ${item.type}: ${status ?? "skipped (no longer quarantined)"}` +
              `${result.changed > 0 ? `, ${result.changed} address(es) changed` : ""}\n`,
          );
        }
      }
      const verb = dryRun ? "would reprocess" : "reprocessed";
      const stillCount = [...still.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(
        `${verb} ${counts.processed + counts.ignored} (${counts.processed} acted on, ${counts.ignored} ignored); ` +
          `still quarantined ${stillCount}${counts.skipped > 0 ? `; skipped ${counts.skipped}` : ""}\n`,
      );
      for (const [reason, n] of [...still].sort((a, b) => b[1] - a[1])) {
        process.stdout.write(`  ${n} × ${reason}\n`);
      }
      return EXIT.ok;
    });
  },
};

export const eventsList: Command = {
  name: "events list",
  summary: "List quarantined webhook events (not yet reprocessed), oldest first.",
  usage: "events list [--limit N] [--config FILE]",
  options: { limit: { type: "string", description: "at most N events (default 100)" } },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const limit = Number(values.limit ?? 100);
    if (!Number.isInteger(limit) || limit < 1) throw usageError("--limit must be a positive whole number.");
    return withContext(values, { schema: "require" }, async (ctx) => {
      const rows = await quarantinedPage(ctx.db.read, null, limit + 1);
      for (const row of rows.slice(0, limit)) {
        process.stdout.write(
          `${new Date(row.received_at).toISOString()}  ${row.svix_id}  ${row.type ?? "unknown"}  ${row.reason}\n`,
        );
      }
      if (rows.length > limit) process.stdout.write(`… more than ${limit}; use --limit to see more\n`);
      if (rows.length === 0) process.stdout.write("no quarantined events\n");
      return EXIT.ok;
    });
  },
};
