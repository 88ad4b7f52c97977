import { createInterface } from "node:readline/promises";
import {
  backfill,
  cancelJobs,
  countJobs,
  existingJobIds,
  hurryPending,
  listJobs,
  retryDead,
} from "../db/jobs.ts";
import { JOB_STATUSES, type JobStatus, LIVE_STATUSES } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { selfCommand } from "../self_command.ts";
import { errorClass } from "../status/sink_health.ts";
import { buildSinks } from "../sync/sinks/index.ts";
import { iso } from "../util.ts";
import { type Command, EXIT, usageError } from "./command.ts";
import { withContext } from "./context.ts";

const STATUSES: readonly JobStatus[] = JOB_STATUSES;
const n = (v: number) => v.toLocaleString("en-US");

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
    return withContext(values, { schema: "require" }, async (ctx) => {
      const rows = await listJobs(ctx.db.read, { status, sink, limit });
      if (values.json) {
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
        return EXIT.ok;
      }
      const counts = await countJobs(ctx.db.read, sink);
      const out = [
        `${sink ? `sink ${sink}: ` : ""}${LIVE_STATUSES.map((s) => `${s} ${counts[s]}`).join(" · ")}`,
      ];
      for (const r of rows) {
        const next = r.status === "pending" ? ` next ${iso(r.next_attempt_at) ?? "-"}` : "";
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
    });
  },
};

export const jobsRetry: Command = {
  name: "jobs retry",
  summary:
    "Put dead sync jobs back in the queue (by id, or --all), or send pending ones now (--pending), once the cause is fixed.",
  usage: `jobs retry (ID... | --all | --pending) [--sink NAME] [--config FILE]

--all requeues every dead job; --pending makes jobs waiting out their backoff due now (after an
outage, to send at once). A dead job whose address has a newer job on the same sink is marked
superseded instead: the newer one carries the current state. An id that names no job is an error
(exit 2) and nothing changes. The running daemon picks requeued jobs up within a second; jobs of
a stopped sink wait until its config is fixed and the daemon reloaded.`,
  options: {
    all: { type: "boolean", description: "every dead job" },
    pending: { type: "boolean", description: "every pending job: send now instead of after its backoff" },
    sink: { type: "string", description: "with --all or --pending: only this sink's jobs" },
  },
  async run({ positionals, values }) {
    const ids = positionals.map((p) => {
      const id = Number(p.replace(/^#/, ""));
      if (!Number.isInteger(id) || id < 1) throw usageError(`${JSON.stringify(p)} is not a job id`);
      return id;
    });
    const forms = [ids.length > 0, values.all === true, values.pending === true].filter(Boolean).length;
    if (forms !== 1) throw usageError("name job ids, or pass --all or --pending (one of them)");
    if (values.sink !== undefined && ids.length > 0) throw usageError("--sink goes with --all or --pending");
    const sink = values.sink as string | undefined;
    return withContext(values, { schema: "require" }, async (ctx) => {
      const now = Date.now();
      if (values.pending) {
        const moved = await hurryPending(ctx.db.write, now, sink);
        process.stdout.write(
          `${n(moved)} pending job(s)${sink ? ` of sink ${sink}` : ""} made due now; the running daemon sends them within a second\n`,
        );
        return EXIT.ok;
      }
      if (ids.length > 0) {
        const known = await existingJobIds(ctx.db.read, ids);
        const unknown = ids.filter((id) => !known.has(id));
        if (unknown.length > 0) {
          throw usageError(
            `no sync job with id ${unknown.join(", ")}; nothing was changed (see ids with: ${selfCommand()} jobs list --status dead)`,
          );
        }
      }
      const r = await retryDead(ctx.db.write, now, ids.length > 0 ? { ids } : { all: true, sink });
      const touched = new Set([...r.requeued, ...r.superseded]);
      const notDead = ids.filter((id) => !touched.has(id));
      // Counts, not ids: after an outage --all may requeue tens of thousands.
      const lines = [`requeued ${n(r.requeued.length)} dead job(s)`];
      if (r.superseded.length)
        lines.push(`superseded ${n(r.superseded.length)} (a newer job for the address exists)`);
      if (notDead.length) lines.push(`not dead, left alone: ${notDead.join(", ")}`);
      process.stdout.write(`${lines.join("\n")}\n`);
      return EXIT.ok;
    });
  },
};

export const jobsCancel: Command = {
  name: "jobs cancel",
  summary: "Never send a sink's pending and dead jobs (a sink that is gone, or jobs you do not want sent).",
  usage: `jobs cancel --sink NAME [--yes] [--config FILE]

Marks the sink's pending and dead jobs cancelled; jobs being sent right now finish. Asks first on a
terminal; scripts pass --yes (without a terminal and without --yes nothing is cancelled, exit 2).
To send a sink everything again later: jobs backfill --sink NAME.`,
  options: {
    sink: { type: "string", description: "the sink whose jobs are cancelled (configured or not)" },
    yes: { type: "boolean", description: "do not ask" },
  },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const sink = values.sink as string | undefined;
    if (!sink) throw usageError("name the sink: --sink NAME");
    return withContext(values, { schema: "require" }, async (ctx) => {
      const counts = await countJobs(ctx.db.read, sink);
      const what = `${n(counts.pending)} pending and ${n(counts.dead)} dead job(s) of sink ${sink}`;
      if (counts.pending + counts.dead === 0) {
        process.stdout.write(`sink ${sink} has no pending or dead jobs; nothing to cancel\n`);
        return EXIT.ok;
      }
      if (!values.yes) {
        if (!process.stdin.isTTY) {
          throw usageError(
            `nothing cancelled: this would cancel ${what}, never to be sent. No terminal to ask on: confirm with --yes`,
          );
        }
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        const answer = await rl.question(`Cancel ${what}? They will never be sent. [y/N] `);
        rl.close();
        if (!/^y(es)?$/i.test(answer.trim())) {
          process.stdout.write("nothing cancelled\n");
          return EXIT.ok;
        }
      }
      const cancelled = await cancelJobs(ctx.db.write, Date.now(), sink);
      const running = counts.running > 0 ? `; ${n(counts.running)} being sent now were left to finish` : "";
      process.stdout.write(`cancelled ${n(cancelled)} job(s) of sink ${sink}${running}\n`);
      return EXIT.ok;
    });
  },
};

export const jobsBackfill: Command = {
  name: "jobs backfill",
  summary:
    "Queue every address suppressed now for a sink that has never been sent them (a sink added later).",
  usage: `jobs backfill --sink NAME [--force] [--config FILE]

Sinks hear about suppressions made while they are configured. When you add a sink (or rename one,
or list a new audience) later, this queues a suppress job on it for every address suppressed now
that has no job waiting there. The running daemon sends them as it sends any job; follow them with
suppressd jobs list --sink NAME. Running it again while they wait adds none. The sink is
checked first (as config check does) and nothing is queued if the check fails (exit 78, or 69 when
the service cannot be reached), unless --force.`,
  options: {
    sink: { type: "string", description: "the sink's name, as in the config's sinks" },
    force: { type: "boolean", description: "queue even when the sink's check fails" },
  },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const sink = values.sink as string | undefined;
    if (!sink) throw usageError("name the sink: --sink NAME");
    return withContext(values, { schema: "require" }, async (ctx) => {
      const names = ctx.config.sinks.map((s) => s.name);
      if (!names.includes(sink)) {
        throw usageError(
          names.length === 0
            ? `no sinks are configured in ${ctx.loaded.source}; add one to "sinks" first`
            : `no sink named ${JSON.stringify(sink)} in ${ctx.loaded.source}; configured: ${names.join(", ")}`,
        );
      }
      const config = ctx.config.sinks.find((s) => s.name === sink);
      if (config && !values.force) {
        const [check] = await buildSinks([config]).probe();
        const problems = check?.problems ?? [];
        if (problems.length > 0) {
          const unreachable = problems.every((p) => ["network", "timeout"].includes(errorClass(p)));
          throw new AppError(
            unreachable ? "unavailable" : "config",
            "sink_check_failed",
            `nothing queued: the check of sink ${sink} failed:\n  ${problems.join("\n  ")}\n` +
              "Fix the config (see: config check), reload the daemon, and run this again; " +
              "or pass --force to queue the jobs anyway (they wait or fail until the sink works).",
          );
        }
      }
      const r = await backfill(ctx.db.write, sink, Date.now(), {
        // Only what the sink's reasons filter lets through (config: sinks[].reasons).
        reasons: config?.reasons ?? null,
        onChunk: (p) =>
          process.stderr.write(`scanned ${p.scanned} suppressed addresses, queued ${p.queued}\n`),
      });
      process.stdout.write(
        `queued ${n(r.queued)} suppress job(s) for sink ${sink} (${n(r.scanned)} suppressed address(es); ` +
          `${n(r.scanned - r.queued)} ${config?.reasons ? `already had a job waiting or have none of its reasons (${config.reasons.join(", ")})` : "already had a job waiting"})\n` +
          `the running daemon sends them; follow them with: suppressd jobs list --sink ${sink}\n`,
      );
      return EXIT.ok;
    });
  },
};
