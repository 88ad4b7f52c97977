import type { MailchimpSinkConfig } from "../../config/schema.ts";
import { type Logger, silentLogger } from "../../log.ts";
import { type Outcome, outcomeOf, type Sink, SinkError, type SyncJob, worse } from "../sink.ts";
import { md5, render, templateVars } from "../template.ts";
import { type MailchimpApi, MailchimpError } from "./mailchimp_api.ts";
import { type BatchOp, type BatchTiming, type OpResult, runBatch } from "./mailchimp_batch.ts";

/** Up to this many addresses per audience go one call each; more use the bulk endpoints. */
const SINGLE_MAX = 10;
/** POST /lists/{id} takes at most 500 members per call. */
const SUBSCRIBE_CHUNK = 500;
/** Operations per batch request. */
const BATCH_OPS = 2000;
/** Per-member errors of a bulk call retried alone, per audience and send; the rest wait. */
const ALONE_MAX = 50;
/** How long an audience that answered GET /lists/{id} is trusted to exist. */
const LIST_TRUST_MS = 60 * 60_000;

export interface MailchimpSinkDeps {
  api: MailchimpApi;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
  log?: Logger;
  batch?: Partial<BatchTiming>;
}

type Step = "ok" | "not_member" | "alone" | Outcome;

/**
 * Pushes suppressions to every listed Mailchimp audience.
 *
 * - Suppress: the member becomes `unsubscribed`; we never send `subscribed` or `pending`. An
 *   address not in the audience is left out (Mailchimp bills unsubscribed contacts), unless
 *   `createMissing`, which creates it as unsubscribed so a later import cannot mail it.
 * - Lift: only our tag is removed. Resubscribing needs the person's consent, not ours.
 * - A few addresses go one call each (fast); a burst uses POST /lists/{id} (500 per call, when
 *   creating is allowed: it upserts) or a batch request of PATCHes (which only touch existing
 *   members). Per-member failures of a bulk call are retried alone, to learn their own answer.
 * - "Member In Compliance State" and "Forgotten Email Not Subscribed" mean the address is
 *   already unmailable there: done. So is "Resource Not Found" for a member, without createMissing.
 */
export class MailchimpSink implements Sink {
  readonly name: string;
  private readonly api: MailchimpApi;
  private readonly clock: () => number;
  private readonly log: Logger;
  private readonly timing: BatchTiming;
  private readonly listCheckedAt = new Map<string, number>();

  constructor(
    private readonly cfg: MailchimpSinkConfig,
    deps: MailchimpSinkDeps,
  ) {
    this.name = cfg.name;
    this.api = deps.api;
    this.clock = deps.clock ?? Date.now;
    this.log = deps.log ?? silentLogger;
    this.timing = {
      sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      clock: this.clock,
      pollStartMs: 1000,
      pollMaxMs: 15_000,
      giveUpMs: 20 * 60_000,
      fetch: deps.fetch ?? fetch,
      downloadTimeoutMs: 60_000,
      ...deps.batch,
    };
  }

  async send(jobs: readonly SyncJob[], signal: AbortSignal): Promise<Map<number, Outcome>> {
    const perList = await Promise.all(this.cfg.listIds.map((list) => this.toList(list, jobs, signal)));
    if (signal.aborted) throw new DOMException("sync stopped", "AbortError");
    const out = new Map<number, Outcome>();
    for (const results of perList) {
      for (const job of jobs) {
        const o = results.get(job.id) ?? { kind: "retry", error: "no answer recorded for this audience" };
        out.set(job.id, worse(out.get(job.id), o));
      }
    }
    return out;
  }

  private async toList(list: string, jobs: readonly SyncJob[], signal: AbortSignal) {
    const out = new Map<number, Outcome>();
    try {
      await this.checkList(list);
    } catch (e) {
      const o = outcomeOf(asSinkError(e));
      for (const j of jobs) out.set(j.id, o);
      return out;
    }
    const suppress = jobs.filter((j) => j.action === "suppress");
    // Lifts only mean "remove our tag"; without a tag there is nothing to undo.
    const lifts = jobs.filter((j) => j.action === "lift");
    if (!this.cfg.tag) for (const j of lifts) out.set(j.id, { kind: "done", note: "no tag to remove" });
    await Promise.all([
      suppress.length <= SINGLE_MAX
        ? this.each(suppress, out, (j) => this.suppressOne(list, j))
        : this.cfg.createMissing
          ? this.suppressBySubscribe(list, suppress, out, signal)
          : this.suppressByBatch(list, suppress, out, signal),
      this.cfg.tag ? this.tagMany(list, lifts, "inactive", out, signal) : Promise.resolve(),
    ]);
    return out;
  }

  /** An unknown audience must fail in plain words, not look like "member not found". */
  private async checkList(list: string) {
    const at = this.listCheckedAt.get(list);
    if (at !== undefined && this.clock() - at < LIST_TRUST_MS) return;
    try {
      await this.api.getList(list);
    } catch (e) {
      if (e instanceof MailchimpError && e.status === 404) {
        throw new SinkError(
          `Mailchimp audience (list id) '${list}' does not exist in this account (404): check listIds of sink '${this.name}'.`,
          true,
        );
      }
      throw e;
    }
    this.listCheckedAt.set(list, this.clock());
  }

  private async each(
    jobs: readonly SyncJob[],
    out: Map<number, Outcome>,
    one: (j: SyncJob) => Promise<Outcome>,
  ) {
    await Promise.all(jobs.map(async (j) => out.set(j.id, await one(j))));
  }

  private async suppressOne(list: string, job: SyncJob): Promise<Outcome> {
    const hash = md5(job.email);
    try {
      if (this.cfg.createMissing) {
        // An idempotent upsert; status_if_new makes a new contact unsubscribed from the start.
        await this.api.putMember(list, hash, {
          email_address: job.email,
          status: "unsubscribed",
          status_if_new: "unsubscribed",
        });
      } else {
        await this.api.patchMember(list, hash, { status: "unsubscribed" });
      }
    } catch (e) {
      const step = classify(errorResult(e));
      if (step === "not_member") {
        return this.cfg.createMissing
          ? { kind: "retry", error: `PUT member answered 404: ${(e as Error).message}` }
          : { kind: "done", note: "not in the audience" };
      }
      return finalStep(step, e);
    }
    return this.cfg.tag ? this.tagOne(list, job, "active") : { kind: "done" };
  }

  private async tagOne(list: string, job: SyncJob, status: "active" | "inactive"): Promise<Outcome> {
    try {
      await this.api.tags(list, md5(job.email), [{ name: this.tagFor(job), status }]);
      return { kind: "done" };
    } catch (e) {
      const step = classify(errorResult(e));
      // Gone from the audience (or never there): nothing to tag or untag.
      if (step === "not_member") return { kind: "done", note: "not in the audience" };
      return finalStep(step, e);
    }
  }

  /** With createMissing: POST /lists/{id} upserts 500 members a call. */
  private async suppressBySubscribe(
    list: string,
    jobs: readonly SyncJob[],
    out: Map<number, Outcome>,
    signal: AbortSignal,
  ) {
    const tagged: SyncJob[] = [];
    const alone: { job: SyncJob; why: string }[] = [];
    await Promise.all(
      chunk(jobs, SUBSCRIBE_CHUNK).map(async (part) => {
        let answer: Record<string, unknown>;
        try {
          answer = await this.api.batchSubscribe(list, {
            members: part.map((j) => ({ email_address: j.email, status: "unsubscribed" })),
            update_existing: true,
          });
        } catch (e) {
          const o = outcomeOf(asSinkError(e));
          for (const j of part) out.set(j.id, o);
          return;
        }
        const errors = new Map<string, string>();
        for (const err of (answer.errors ?? []) as {
          email_address?: string;
          error?: string;
          error_code?: string;
        }[]) {
          errors.set(
            String(err.email_address ?? "").toLowerCase(),
            `${err.error ?? ""} ${err.error_code ?? ""}`.trim(),
          );
        }
        for (const j of part) {
          const why = errors.get(j.email);
          if (why === undefined) tagged.push(j);
          else if (alreadyUnmailable(why)) out.set(j.id, { kind: "done", note: why });
          else alone.push({ job: j, why });
        }
      }),
    );
    if (signal.aborted) return;
    await Promise.all([this.retryAlone(list, alone, out), this.afterUpsert(list, tagged, out, signal)]);
  }

  private async afterUpsert(list: string, jobs: SyncJob[], out: Map<number, Outcome>, signal: AbortSignal) {
    if (!this.cfg.tag) {
      for (const j of jobs) out.set(j.id, { kind: "done" });
      return;
    }
    await this.tagMany(list, jobs, "active", out, signal);
  }

  /** Without createMissing: a batch of PATCHes (and tag calls), which never create anyone. */
  private async suppressByBatch(
    list: string,
    jobs: readonly SyncJob[],
    out: Map<number, Outcome>,
    signal: AbortSignal,
  ) {
    const ops: BatchOp[] = [];
    for (const j of jobs) {
      const path = `/lists/${list}/members/${md5(j.email)}`;
      ops.push({ method: "PATCH", path, body: { status: "unsubscribed" }, operation_id: `${j.id}:m` });
      if (this.cfg.tag) {
        ops.push({
          method: "POST",
          path: `${path}/tags`,
          body: { tags: [{ name: this.tagFor(j), status: "active" }] },
          operation_id: `${j.id}:t`,
        });
      }
    }
    const results = await this.batches(ops, jobs, out, signal);
    if (!results) return;
    const alone: { job: SyncJob; why: string }[] = [];
    for (const j of jobs) {
      if (out.has(j.id)) continue;
      const m = classify(results.get(`${j.id}:m`));
      const t = this.cfg.tag ? classify(results.get(`${j.id}:t`)) : "ok";
      if (m === "not_member") out.set(j.id, { kind: "done", note: "not in the audience" });
      else if (m === "alone" || (m === "ok" && t === "alone"))
        alone.push({ job: j, why: describe(results.get(`${j.id}:m`) ?? results.get(`${j.id}:t`)) });
      else if (m !== "ok") out.set(j.id, m);
      else out.set(j.id, t === "ok" || t === "not_member" ? { kind: "done" } : (t as Outcome));
    }
    await this.retryAlone(list, alone, out);
  }

  private async tagMany(
    list: string,
    jobs: readonly SyncJob[],
    status: "active" | "inactive",
    out: Map<number, Outcome>,
    signal: AbortSignal,
  ) {
    if (jobs.length <= SINGLE_MAX) {
      await this.each(jobs, out, (j) => this.tagOne(list, j, status));
      return;
    }
    const ops: BatchOp[] = jobs.map((j) => ({
      method: "POST",
      path: `/lists/${list}/members/${md5(j.email)}/tags`,
      body: { tags: [{ name: this.tagFor(j), status }] },
      operation_id: `${j.id}:t`,
    }));
    const results = await this.batches(ops, jobs, out, signal);
    if (!results) return;
    const again: SyncJob[] = [];
    for (const j of jobs) {
      if (out.has(j.id)) continue;
      const t = classify(results.get(`${j.id}:t`));
      if (t === "ok" || t === "not_member") out.set(j.id, { kind: "done" });
      else if (t === "alone") again.push(j);
      else out.set(j.id, t);
    }
    await this.each(again.slice(0, ALONE_MAX), out, (j) => this.tagOne(list, j, status));
    for (const j of again.slice(ALONE_MAX))
      out.set(j.id, { kind: "retry", error: "tag call failed in a batch" });
  }

  /**
   * Runs ops in batch requests of BATCH_OPS; the results by operation id, or null when every job
   * already has its outcome (the batch itself failed).
   */
  private async batches(
    ops: BatchOp[],
    jobs: readonly SyncJob[],
    out: Map<number, Outcome>,
    signal: AbortSignal,
  ) {
    const results = new Map<string, OpResult>();
    const failed = new Map<string, Outcome>();
    await Promise.all(
      chunk(ops, BATCH_OPS).map(async (part) => {
        try {
          for (const [k, v] of await runBatch(this.api, part, this.timing, signal)) results.set(k, v);
        } catch (e) {
          if (signal.aborted) return;
          const o = outcomeOf(asSinkError(e));
          // Jobs whose operations sat in a failed batch are retried whole, later.
          for (const op of part) failed.set(jobIdOf(op.operation_id), o);
        }
      }),
    );
    if (signal.aborted) return null;
    for (const j of jobs) {
      const o = failed.get(String(j.id));
      if (o) out.set(j.id, o);
    }
    return results;
  }

  private async retryAlone(list: string, alone: { job: SyncJob; why: string }[], out: Map<number, Outcome>) {
    await this.each(
      alone.slice(0, ALONE_MAX).map((a) => a.job),
      out,
      (j) => this.suppressOne(list, j),
    );
    for (const a of alone.slice(ALONE_MAX)) {
      out.set(a.job.id, {
        kind: "retry",
        error: `member error in a bulk call, to be retried alone: ${a.why}`,
      });
    }
    if (alone.length > 0)
      this.log.log("info", "mailchimp member errors retried alone", {
        sink: this.name,
        list,
        count: alone.length,
      });
  }

  private tagFor(job: SyncJob): string {
    return render(this.cfg.tag ?? "", templateVars(job), "header").slice(0, 100);
  }
}

/** Compliance state (unsubscribed, bounced or reviewed) and forgotten (GDPR-deleted) addresses. */
function alreadyUnmailable(text: string): boolean {
  return /compliance state|forgotten email|permanently deleted/i.test(text);
}

function errorResult(e: unknown): OpResult | MailchimpError {
  return e instanceof MailchimpError
    ? e
    : new MailchimpError(String((e as Error)?.message ?? e), null, "", "", true);
}

/** What one member call (or batch operation) means for its job. */
function classify(r: OpResult | MailchimpError | undefined): Step {
  if (r === undefined) return "ok"; // not in a batch's error list: it succeeded
  const status = r.status;
  if (status !== null && status >= 200 && status < 300) return "ok";
  if (alreadyUnmailable(`${r.title} ${r.detail}`)) return { kind: "done", note: r.title };
  if (status === 404) return "not_member";
  if (status === null || status === 429 || status === 408 || status >= 500) {
    return { kind: "retry", error: r instanceof MailchimpError ? r.message : describe(r) };
  }
  if (status === 401 || status === 403)
    return { kind: "fail", error: r instanceof MailchimpError ? r.message : describe(r) };
  return "alone";
}

function finalStep(step: Step, e: unknown): Outcome {
  if (typeof step === "object") return step;
  // "alone" on a call that already was alone: Mailchimp refuses this address for good.
  const msg = e instanceof MailchimpError ? e.message : String((e as Error)?.message ?? e);
  return { kind: "fail", error: `Mailchimp refused this address: ${msg}` };
}

function describe(r: OpResult | undefined): string {
  if (!r) return "unknown error";
  return `${r.status} ${[r.title, r.detail].filter(Boolean).join(": ")}`.trim();
}

function asSinkError(e: unknown): unknown {
  if (e instanceof MailchimpError) return new SinkError(e.message, !e.transient);
  return e;
}

function jobIdOf(operationId: string): string {
  return operationId.slice(0, operationId.indexOf(":"));
}

function chunk<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
