import { allMembers, MAILCHIMP_REASON, mailchimpApi, timeOf } from "../backfill/mailchimp.ts";
import { resendSinks } from "../backfill/origin.ts";
import { ResendReader, type ResendSuppression } from "../backfill/resend_api.ts";
import { type BackfillRow, emptyStats, unknownRows, writeRows } from "../backfill/rows.ts";
import type { Config, MailchimpSinkConfig } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import { activeReasons, queueSuppressJobs, suppressedAddresses } from "../db/reconcile.ts";
import type { WriteQueue } from "../db/writer.ts";
import { configError } from "../errors.ts";
import { normalizeAddress } from "../events/address.ts";
import type { Reason } from "../suppression/types.ts";

/** Addresses found on one side only: how many, and the first few (sorted) to look at. */
export interface Drift {
  count: number;
  first: string[];
}

/** One comparison: a Mailchimp audience of a sink, or Resend's suppression list. */
export interface TargetReport {
  /** "mailchimp SINK/LIST_ID" or "resend". */
  target: string;
  /** Addresses suppressed here. */
  ours: number;
  /** Addresses the service will not mail (unsubscribed or cleaned members; its suppression list). */
  theirs: number;
  /** Suppressed here but still mailable there (subscribed in the audience; not on Resend's list). */
  hereNotThere: Drift;
  /** Not mailable there but not suppressed here. */
  thereNotHere: Drift;
  /** With --fix: what was done about it. */
  fixed?: { imported: number; queued: number; note?: string };
}

export interface ReconcileDeps {
  config: Config;
  db: Db;
  writer: WriteQueue;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface ReconcileOptions {
  /** Only this sink (a Mailchimp sink's name); Resend is compared only when no sink is named. */
  sink?: string;
  fix: boolean;
  /** Addresses listed per drift. */
  first?: number;
}

/** Resend's suppression list holds bounces, complaints and manual entries: our other reasons are not drift. */
const RESEND_KEEPS: readonly Reason[] = ["hard_bounce", "complaint"];
const RESEND_ORIGIN: Record<string, Reason> = {
  bounce: "hard_bounce",
  complaint: "complaint",
  manual: "provider_suppressed",
};

/**
 * Compares suppressd's list with each Mailchimp audience of each Mailchimp sink and with
 * Resend's suppression list (when `resend.apiKey` is set), both ways. With `fix`, what is
 * missing here is imported (as `import --from` would, never sent back to where it came from),
 * and what is missing there is queued as jobs for the sink that writes there.
 */
export async function reconcile(deps: ReconcileDeps, opts: ReconcileOptions): Promise<TargetReport[]> {
  const { config } = deps;
  const mailchimp = config.sinks.filter((s): s is MailchimpSinkConfig => s.type === "mailchimp");
  if (opts.sink !== undefined && !mailchimp.some((s) => s.name === opts.sink)) {
    const names = mailchimp.map((s) => s.name).join(", ") || "none";
    throw configError(`--sink ${opts.sink}: no Mailchimp sink of that name (Mailchimp sinks: ${names}).`);
  }
  const targets = mailchimp.filter((s) => opts.sink === undefined || s.name === opts.sink);
  const compareResend = opts.sink === undefined && config.resend.apiKey !== null;
  if (targets.length === 0 && !compareResend)
    throw configError(
      "nothing to compare: add a Mailchimp sink, or set resend.apiKey to compare Resend's suppression list.",
    );
  const ours = await suppressedAddresses(deps.db);
  const reports: TargetReport[] = [];
  for (const sink of targets) {
    const api = mailchimpApi(sink, deps.sleep);
    for (const listId of sink.listIds) {
      reports.push(await audience(deps, opts, ours, sink, listId, api, mailchimp));
    }
  }
  if (compareResend) reports.push(await resendList(deps, opts, ours));
  return reports;
}

async function audience(
  deps: ReconcileDeps,
  opts: ReconcileOptions,
  ours: Map<string, Reason>,
  sink: MailchimpSinkConfig,
  listId: string,
  api: ReturnType<typeof mailchimpApi>,
  all: MailchimpSinkConfig[],
): Promise<TargetReport> {
  const subscribed = await allMembers(api, sink.name, listId, "subscribed", deps.sleep);
  const gone: BackfillRow[] = [];
  for (const status of ["unsubscribed", "cleaned"] as const) {
    for (const m of await allMembers(api, sink.name, listId, status, deps.sleep))
      gone.push({ email: m.email, reason: MAILCHIMP_REASON[status], at: m.lastChanged });
  }
  // With a `reasons` filter, the sink should hold only addresses with one of those in force.
  const wanted = sink.reasons ? await activeReasons(deps.db) : null;
  const held = (e: string) =>
    ours.has(e) && (wanted === null || (wanted.get(e) ?? []).some((r) => sink.reasons?.includes(r)));
  const here = subscribed
    .map((m) => normalizeAddress(m.email))
    .filter((e): e is string => e !== null && held(e));
  // Not drift: an address an operator lifted here after it changed there (the lift wins).
  const there = await unknownRows(
    deps.db,
    gone.filter((r) => {
      const e = normalizeAddress(r.email);
      return e !== null && !ours.has(e);
    }),
    "mailchimp.reconcile",
  );
  const report: TargetReport = {
    target: `mailchimp ${sink.name}/${listId}`,
    ours: ours.size,
    theirs: gone.length,
    hereNotThere: drift(here, opts.first),
    thereNotHere: drift(
      there.map((r) => r.email),
      opts.first,
    ),
  };
  if (opts.fix) {
    const now = (deps.now ?? Date.now)();
    const skipSinks = all.filter((s) => s.listIds.includes(listId)).map((s) => s.name);
    const stats = emptyStats();
    for (let i = 0; i < there.length; i += 1000)
      await writeRows(
        { db: deps.db, writer: deps.writer, eventType: "mailchimp.reconcile", skipSinks },
        there.slice(i, i + 1000),
        stats,
      );
    const queued = await queueSuppressJobs(deps.db, sink.name, here, {
      eventType: "reconcile",
      now,
      reasons: sink.reasons ?? null,
    });
    report.fixed = { imported: stats.written, queued };
  }
  return report;
}

async function resendList(
  deps: ReconcileDeps,
  opts: ReconcileOptions,
  ours: Map<string, Reason>,
): Promise<TargetReport> {
  const { resend } = deps.config;
  const reader = new ResendReader({
    apiKey: resend.apiKey as string,
    baseUrl: resend.apiBaseUrl,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
  const listed: ResendSuppression[] = [];
  for (let after: string | null = null; ; ) {
    const page = await reader.suppressions(after);
    listed.push(...page.data);
    const last = page.data[page.data.length - 1];
    if (!page.has_more || !last) break;
    after = last.id;
  }
  const theirs = new Set(listed.map((s) => normalizeAddress(s.email)).filter((e): e is string => e !== null));
  const there = await unknownRows(
    deps.db,
    listed
      .filter((s) => {
        const e = normalizeAddress(s.email);
        return e !== null && !ours.has(e);
      })
      .map((s) => ({
        email: s.email,
        reason: RESEND_ORIGIN[s.origin] ?? "provider_suppressed",
        at: timeOf(s.created_at),
      })),
    "suppression.reconcile",
  );
  const here = [...ours]
    .filter(([e, reason]) => RESEND_KEEPS.includes(reason) && !theirs.has(e))
    .map(([e]) => e);
  const report: TargetReport = {
    target: "resend",
    ours: ours.size,
    theirs: theirs.size,
    hereNotThere: drift(here, opts.first),
    thereNotHere: drift(
      there.map((r) => r.email),
      opts.first,
    ),
  };
  if (opts.fix) {
    const now = (deps.now ?? Date.now)();
    const sinks = resendSinks(deps.config);
    const stats = emptyStats();
    for (let i = 0; i < there.length; i += 1000)
      await writeRows(
        { db: deps.db, writer: deps.writer, eventType: "suppression.reconcile", skipSinks: sinks },
        there.slice(i, i + 1000),
        stats,
      );
    let queued = 0;
    for (const sink of sinks) {
      const reasons = deps.config.sinks.find((s) => s.name === sink)?.reasons ?? null;
      queued += await queueSuppressJobs(deps.db, sink, here, { eventType: "reconcile", now, reasons });
    }
    report.fixed = {
      imported: stats.written,
      queued,
      ...(sinks.length === 0 && here.length > 0
        ? { note: "no sink writes to Resend (an http sink on api.resend.com): nothing to queue" }
        : {}),
    };
  }
  return report;
}

function drift(emails: string[], first = 5): Drift {
  const unique = [...new Set(emails)].sort();
  return { count: unique.length, first: unique.slice(0, first) };
}
