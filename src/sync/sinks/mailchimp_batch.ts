import type { FieldError, MailchimpApi } from "./mailchimp_api.ts";
import { MailchimpError, problemOf } from "./mailchimp_api.ts";
import { untarGz } from "./tar.ts";

/**
 * One operation of a batch request (POST /batches). `body` is sent as a JSON string, `params` as
 * the query string (https://mailchimp.com/developer/marketing/api/batch-operations/start-batch-operation/).
 */
export interface BatchOp {
  method: "GET" | "PUT" | "PATCH" | "POST";
  path: string;
  body?: Record<string, unknown>;
  params?: Record<string, string>;
  operation_id: string;
}

/**
 * What one operation answered, from the results archive. `status` is null when the archive has
 * no result for it: that is not a success, and the job is tried again.
 */
export interface OpResult {
  status: number | null;
  title: string;
  detail: string;
  /** The problem's nested `errors[]` (a cleaned member's refusal is only there). */
  errors: readonly FieldError[];
  /** The parsed response (a GET's member), `{}` for errors. */
  body: Record<string, unknown>;
}

export interface BatchTiming {
  sleep: (ms: number) => Promise<void>;
  clock: () => number;
  /** First status check after this, then 1.5× longer each time up to `pollMaxMs`. */
  pollStartMs: number;
  pollMaxMs: number;
  /** Give up waiting (the jobs are retried later) after this. */
  giveUpMs: number;
  fetch: typeof fetch;
  downloadTimeoutMs: number;
}

/**
 * Runs a batch request to completion: submits it, polls GET /batches/{id} until `finished`, then
 * reads the per-operation results from `response_body_url`, a gzipped tar archive of JSON files,
 * each an array of `{status_code, operation_id, response}` (`response` is itself a JSON string).
 * Answers for every operation: when `errored_operations` is 0 and no answer body is needed, the
 * archive is not downloaded (every operation succeeded); otherwise an operation the archive has
 * no result for counts as not done (status null), never as done.
 */
export async function runBatch(
  api: MailchimpApi,
  ops: readonly BatchOp[],
  t: BatchTiming,
  signal: AbortSignal,
  o: { needBodies?: boolean } = {},
): Promise<Map<string, OpResult>> {
  const started = await api.startBatch(
    ops.map((op) => ({ ...op, body: op.body === undefined ? undefined : JSON.stringify(op.body) })),
  );
  const id = String(started.id ?? "");
  if (!id) throw new MailchimpError("POST /batches answered without a batch id", 200, "", "", true);
  const deadline = t.clock() + t.giveUpMs;
  let wait = t.pollStartMs;
  let status = started;
  while (status.status !== "finished") {
    if (signal.aborted) throw new DOMException("sync stopped", "AbortError");
    if (t.clock() > deadline) {
      throw new MailchimpError(
        `batch ${id} still '${String(status.status)}' after ${Math.round(t.giveUpMs / 60_000)} min; will resubmit later`,
        null,
        "",
        "",
        true,
      );
    }
    await t.sleep(wait);
    wait = Math.min(t.pollMaxMs, Math.round(wait * 1.5));
    status = await api.batchStatus(id);
  }
  const results = new Map<string, OpResult>();
  if (Number(status.errored_operations ?? 0) === 0 && !o.needBodies) {
    for (const op of ops)
      results.set(op.operation_id, { status: 200, title: "", detail: "", errors: [], body: {} });
    return results;
  }
  const url = String(status.response_body_url ?? "");
  if (!url) throw new MailchimpError(`batch ${id} finished without a results URL`, null, "", "", true);
  // A pre-signed storage URL: no API key, and not one of the key's connections.
  const res = await t.fetch(url, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(t.downloadTimeoutMs)]),
  });
  if (!res.ok)
    throw new MailchimpError(`batch ${id} results: download answered ${res.status}`, null, "", "", true);
  await readResults(new Uint8Array(await res.arrayBuffer()), results);
  for (const op of ops) {
    if (!results.has(op.operation_id))
      results.set(op.operation_id, {
        status: null,
        title: "",
        detail: `batch ${id}: no result for this operation in the results archive`,
        errors: [],
        body: {},
      });
  }
  return results;
}

/** Every operation's result in a results archive, by operation id. */
export async function readResults(archive: Uint8Array, into: Map<string, OpResult>): Promise<void> {
  for (const [name, bytes] of await untarGz(archive)) {
    if (!name.endsWith(".json")) continue;
    // A file holds hundreds of results: parse one per turn of the event loop.
    await new Promise<void>((r) => setImmediate(r));
    const entries = JSON.parse(new TextDecoder().decode(bytes)) as {
      status_code?: number;
      operation_id?: string;
      response?: string;
    }[];
    for (const e of entries) {
      if (typeof e.operation_id !== "string") continue;
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(e.response ?? "{}") ?? {};
      } catch {}
      const problem = problemOf(body);
      const code = Number(e.status_code ?? 0);
      into.set(e.operation_id, {
        status: code,
        title: problem?.title ?? "",
        detail: problem?.detail ?? "",
        errors: problem?.errors ?? [],
        body: code < 400 ? body : {},
      });
    }
  }
}
