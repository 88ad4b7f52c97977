import type { MailchimpSinkConfig } from "../../config/schema.ts";
import { md5, render, templateVars } from "../../config/template.ts";
import { type Logger, silentLogger } from "../../log.ts";
import { chunk } from "../../util.ts";
import { type Outcome, type Sink, SinkError, type SyncJob, worse } from "../sink.ts";
import { type MailchimpApi, MailchimpError } from "./mailchimp_api.ts";
import { type BatchOp, type BatchTiming, type OpResult, runBatch } from "./mailchimp_batch.ts";
import {
  alreadyUnmailable,
  asMailchimpError,
  classify,
  describe,
  finalStep,
  wholeCallOutcome,
} from "./mailchimp_outcome.ts";

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

/**
 * Pushes suppressions to every listed Mailchimp audience.
 *
 * - Suppress: the member becomes `unsubscribed`; we never send `subscribed` or `pending`. An
 *   address not in the audience is left out (Mailchimp bills unsubscribed contacts), unless
 *   `createMissing`, which creates it as unsubscribed so a later import cannot mail it.
 * - Without createMissing the member is read first: a PATCH to an archived member unarchives it
 *   (it takes the status sent: stackoverflow.com/questions/63584277), which would bring it back
 *   into the billed contacts. Archived, cleaned and already unsubscribed members are left as
 *   they are; only subscribed, pending and transactional ones are written. With createMissing
 *   the upsert unarchives an archived member as unsubscribed, as it creates a missing one.
 * - Lift: only our tag is removed. Resubscribing needs the person's consent, not ours.
 * - A few addresses go one call each; a burst uses POST /lists/{id} (500 per call, when creating
 *   is allowed: it upserts) or batch requests. Per-member failures of a bulk call are retried
 *   alone, to learn their own answer.
 * - A wrong key, a refused account or a missing audience is thrown as a permanent SinkError for
 *   the whole send, not as a refusal of each address; per-member refusals stay per job.
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
      const o = wholeCallOutcome(e);
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

  /** An unknown audience must fail in plain words, for the whole sink, not look like "member not found". */
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
    if (!this.cfg.createMissing) {
      let current: Record<string, unknown>;
      try {
        current = await this.api.getMember(list, hash);
      } catch (e) {
        const step = classify(asMailchimpError(e));
        if (step === "not_member") return { kind: "done", note: "not in the audience" };
        return finalStep(step, e);
      }
      const left = leftAsIs(current.status);
      if (left) return left;
      if (current.status === "unsubscribed")
        return this.cfg.tag ? this.tagOne(list, job, "active") : { kind: "done" };
    }
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
      const step = classify(asMailchimpError(e));
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
      const step = classify(asMailchimpError(e));
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
          const o = wholeCallOutcome(e);
          for (const j of part) out.set(j.id, o);
          return;
        }
        const errors = new Map<string, string>();
        for (const err of (answer.errors ?? []) as {
          email_address?: string;
          error?: string;
          error_code?: string;
          field?: string;
          field_message?: string;
        }[]) {
          errors.set(
            String(err.email_address ?? "").toLowerCase(),
            [err.error, err.field && `${err.field}: ${err.field_message ?? ""}`, err.error_code]
              .filter(Boolean)
              .join(" "),
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

  /**
   * Without createMissing: a batch of GETs, then a batch of PATCHes (and tag calls) for the
   * members still mailable. Neither creates anyone, and nothing is written to an archived member.
   */
  private async suppressByBatch(
    list: string,
    jobs: readonly SyncJob[],
    out: Map<number, Outcome>,
    signal: AbortSignal,
  ) {
    const path = (j: SyncJob) => `/lists/${list}/members/${md5(j.email)}`;
    const reads: BatchOp[] = jobs.map((j) => ({
      method: "GET",
      path: path(j),
      params: { fields: "status" },
      operation_id: `${j.id}:g`,
    }));
    const got = await this.batches(reads, jobs, out, signal, true);
    if (!got) return;
    const alone: { job: SyncJob; why: string }[] = [];
    const ops: BatchOp[] = [];
    const written: SyncJob[] = [];
    for (const j of jobs) {
      if (out.has(j.id)) continue;
      const r = got.get(`${j.id}:g`);
      const step = classify(r);
      if (step === "not_member") out.set(j.id, { kind: "done", note: "not in the audience" });
      else if (step === "alone") alone.push({ job: j, why: describe(r) });
      else if (step !== "ok") out.set(j.id, step);
      else {
        const status = r?.body.status;
        const left = leftAsIs(status);
        if (left) {
          out.set(j.id, left);
          continue;
        }
        if (status !== "unsubscribed")
          ops.push({
            method: "PATCH",
            path: path(j),
            body: { status: "unsubscribed" },
            operation_id: `${j.id}:m`,
          });
        if (this.cfg.tag)
          ops.push({
            method: "POST",
            path: `${path(j)}/tags`,
            body: { tags: [{ name: this.tagFor(j), status: "active" }] },
            operation_id: `${j.id}:t`,
          });
        if (status !== "unsubscribed" || this.cfg.tag) written.push(j);
        else out.set(j.id, { kind: "done", note: "already unsubscribed" });
      }
    }
    const results = ops.length > 0 ? await this.batches(ops, written, out, signal) : new Map();
    if (!results) return;
    for (const j of written) {
      if (out.has(j.id)) continue;
      const m = results.has(`${j.id}:m`) ? classify(results.get(`${j.id}:m`)) : "ok";
      const t = this.cfg.tag ? classify(results.get(`${j.id}:t`)) : "ok";
      // Gone between the read and the write: nothing left to unsubscribe.
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
    needBodies = false,
  ) {
    const results = new Map<string, OpResult>();
    const failed = new Map<string, Outcome>();
    await Promise.all(
      chunk(ops, BATCH_OPS).map(async (part) => {
        try {
          for (const [k, v] of await runBatch(this.api, part, this.timing, signal, { needBodies }))
            results.set(k, v);
        } catch (e) {
          if (signal.aborted) return;
          const o = wholeCallOutcome(e);
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

/**
 * A member suppressd leaves as it is, by the status GET answered (null: write it): archived (a
 * write would unarchive it and count it toward the plan again) and cleaned (Mailchimp no longer
 * mails it, and refuses updates) members are already not mailed.
 */
function leftAsIs(status: unknown): Outcome | null {
  if (status === "archived")
    return { kind: "done", note: "archived: left archived (unsubscribing would unarchive it)" };
  if (status === "cleaned") return { kind: "done", note: "cleaned: Mailchimp no longer mails it" };
  return null;
}

function jobIdOf(operationId: string): string {
  return operationId.slice(0, operationId.indexOf(":"));
}
