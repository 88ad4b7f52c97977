import { gunzipSync } from "node:zlib";
import type { MailchimpApi } from "./mailchimp_api.ts";
import { MailchimpError } from "./mailchimp_api.ts";
import { untar } from "./tar.ts";

/** One operation of a batch request (POST /batches). `body` is sent as a JSON string. */
export interface BatchOp {
  method: "PUT" | "PATCH" | "POST";
  path: string;
  body: Record<string, unknown>;
  operation_id: string;
}

/** What one operation answered, from the results archive. */
export interface OpResult {
  status: number;
  title: string;
  detail: string;
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
 * Operations missing from the answer succeeded: when `errored_operations` is 0 the archive is not
 * even downloaded.
 */
export async function runBatch(
  api: MailchimpApi,
  ops: readonly BatchOp[],
  t: BatchTiming,
  signal: AbortSignal,
): Promise<Map<string, OpResult>> {
  const started = await api.startBatch(ops.map((o) => ({ ...o, body: JSON.stringify(o.body) })));
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
  if (Number(status.errored_operations ?? 0) === 0) return results;
  const url = String(status.response_body_url ?? "");
  if (!url) throw new MailchimpError(`batch ${id} finished without a results URL`, null, "", "", true);
  // A pre-signed storage URL: no API key, and not one of the key's connections.
  const res = await t.fetch(url, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(t.downloadTimeoutMs)]),
  });
  if (!res.ok)
    throw new MailchimpError(`batch ${id} results: download answered ${res.status}`, null, "", "", true);
  const archive = untar(gunzipSync(new Uint8Array(await res.arrayBuffer())));
  for (const [name, bytes] of archive) {
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
      let body: { title?: unknown; detail?: unknown } = {};
      try {
        body = JSON.parse(e.response ?? "{}") ?? {};
      } catch {}
      results.set(e.operation_id, {
        status: Number(e.status_code ?? 0),
        title: typeof body.title === "string" ? body.title : "",
        detail: typeof body.detail === "string" ? body.detail : "",
      });
    }
  }
  return results;
}
