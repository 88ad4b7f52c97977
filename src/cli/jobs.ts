import type { JobStatus } from "../db/schema.ts";
import { backfill, countJobs, LIVE_STATUSES, listJobs, retryDead } from "../sync/outbox.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { openContext } from "./context.ts";

const STATUSES: readonly JobStatus[] = ["pending", "running", "done", "dead", "superseded"];
const iso = (ms: number | null) => (ms === null ? "-" : new Date(ms).toISOString());

export const jobsList: Command = {
  name: "jobs list",
  summary:
    "Show the sync outbox: jobs per status, and the newest jobs with attempts, next attempt and last error.",
  usage: "jobs list [--status STATUS] [--sink NAME] [--limit N] [--json] [--config FILE]",
  options: {
    status: { type: "string", description: `only jobs in this status (${STATUSES.join(", ")})` },
    sink: { type: "string", description: "only jobs of this sink" },
    limit: { type: "string", description: "how many jobs to show, newest first (default 20)" },
    json: { type: "boolean", description: "one JSON object per job instead of the table" },
  },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const status = values.status as JobStatus | undefined;
    if (status !== undefined && !STATUSES.includes(status)) {
      throw usageError(`--status must be one of ${STATUSES.join(", ")}`);
    }
    const limit = Number(values.limit ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw usageError("--limit must be 1 to 10000");
    const sink = values.sink as string | undefined;
    const ctx = await openContext(values, { schema: "require" });
    try {
      const rows = await listJobs(ctx.db.kysely, { status, sink, limit });
      if (values.json) {
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
        return EXIT.ok;
      }
      const counts = await countJobs(ctx.db.kysely, sink);
      const out = [
        `${sink ? `sink ${sink}: ` : ""}${LIVE_STATUSES.map((s) => `${s} ${counts[s]}`).join(" · ")}`,
      ];
      for (const r of rows) {
        const next = r.status === "pending" ? ` next ${iso(r.next_attempt_at)}` : "";
        out.push(
          `#${r.id} ${r.status} ${r.sink} ${r.action} ${r.email} (${r.reason}) attempts ${r.attempts}${next}` +
            (r.last_error ? `\n    last error: ${r.last_error}` : ""),
        );
      }
      if (counts.dead > 0 && status !== "dead") {
        out.push(
          `${counts.dead} dead: see them with --status dead; after fixing the cause: suppressd jobs retry --all`,
        );
      }
      process.stdout.write(`${out.join("\n")}\n`);
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};

export const jobsRetry: Command = {
  name: "jobs retry",
  summary: "Put dead sync jobs back in the queue (by id, or --all), once what killed them is fixed.",
  usage: `jobs retry (ID... | --all [--sink NAME]) [--config FILE]

A dead job whose address has a newer job on the same sink is marked superseded instead: the newer
one carries the current state. The running daemon picks requeued jobs up within a second.`,
  options: {
    all: { type: "boolean", description: "every dead job" },
    sink: { type: "string", description: "with --all: only this sink's dead jobs" },
  },
  async run({ positionals, values }) {
    const ids = positionals.map((p) => {
      const n = Number(p.replace(/^#/, ""));
      if (!Number.isInteger(n) || n < 1) throw usageError(`${JSON.stringify(p)} is not a job id`);
      return n;
    });
    if (ids.length > 0 === (values.all === true)) throw usageError("name job ids, or pass --all (not both)");
    if (values.sink !== undefined && values.all !== true) throw usageError("--sink goes with --all");
    const ctx = await openContext(values, { schema: "require" });
    try {
      const r = await retryDead(
        ctx.db.outbox,
        Date.now(),
        ids.length > 0 ? { ids } : { all: true, sink: values.sink as string | undefined },
      );
      const touched = new Set([...r.requeued, ...r.superseded]);
      const notDead = ids.filter((id) => !touched.has(id));
      const lines = [
        `requeued ${r.requeued.length} dead job(s)${r.requeued.length ? `: ${r.requeued.join(", ")}` : ""}`,
      ];
      if (r.superseded.length)
        lines.push(`superseded ${r.superseded.length} (a newer job exists): ${r.superseded.join(", ")}`);
      if (notDead.length) lines.push(`not dead, left alone: ${notDead.join(", ")}`);
      process.stdout.write(`${lines.join("\n")}\n`);
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};

export const jobsBackfill: Command = {
  name: "jobs backfill",
  summary:
    "Queue every address suppressed now for a sink that has never been sent them (a sink added later).",
  usage: `jobs backfill --sink NAME [--config FILE]

Sinks hear about suppressions made while they are configured. When you add a sink (or rename one,
or list a new audience) later, this queues a suppress job on it for every address suppressed now
that has no job waiting there. The running daemon sends them as it sends any job; follow them with
suppressd jobs list --sink NAME. Running it again while they wait adds none.`,
  options: {
    sink: { type: "string", description: "the sink's name, as in the config's sinks" },
  },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const sink = values.sink as string | undefined;
    if (!sink) throw usageError("name the sink: --sink NAME");
    const ctx = await openContext(values, { schema: "require" });
    try {
      const names = ctx.config.sinks.map((s) => s.name);
      if (!names.includes(sink)) {
        throw usageError(
          names.length === 0
            ? `no sinks are configured in ${ctx.loaded.source}; add one to "sinks" first`
            : `no sink named ${JSON.stringify(sink)} in ${ctx.loaded.source}; configured: ${names.join(", ")}`,
        );
      }
      const r = await backfill(ctx.db.outbox, sink, Date.now(), {
        onChunk: (p) =>
          process.stderr.write(`scanned ${p.scanned} suppressed addresses, queued ${p.queued}\n`),
      });
      process.stdout.write(
        `queued ${r.queued} suppress job(s) for sink ${sink} (${r.scanned} suppressed address(es); ` +
          `${r.scanned - r.queued} already had a job waiting)\n` +
          `the running daemon sends them; follow them with: suppressd jobs list --sink ${sink}\n`,
      );
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
