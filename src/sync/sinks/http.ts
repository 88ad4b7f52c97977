import { Webhook } from "svix";
import type { HttpSinkConfig } from "../../config/schema.ts";
import { render, templateVars } from "../../config/template.ts";
import { redactSecrets } from "../../log.ts";
import { Semaphore } from "../semaphore.ts";
import { type Outcome, type Sink, SinkError, type SyncJob } from "../sink.ts";

/**
 * Any audience API reachable over HTTP: one request per job from templates (see template.ts for
 * the placeholders and how each place escapes them). 2xx and `doneStatuses` are done; 408, 425,
 * 429, 5xx and `retryStatuses` (an API's "busy, ask again", such as Resend's 409
 * resource_locked), refused connections and timeouts are retried (honouring Retry-After); 401 and
 * 403 refuse the credential, not the address, so the send stops there and raises a permanent
 * SinkError (the worker stops the sink and its jobs wait); any other answer will not change by
 * asking again, so the job goes dead with the answer in its last_error.
 */
export class HttpSink implements Sink {
  readonly name: string;
  private readonly limit: Semaphore;
  private readonly host: string;
  /** Credentials in the config (header values, URL query values and user info), never repeated. */
  private readonly secrets: string[];
  private readonly signer: Webhook | null;

  constructor(
    private readonly cfg: HttpSinkConfig,
    private readonly fetcher: typeof fetch = fetch,
  ) {
    this.name = cfg.name;
    this.limit = new Semaphore(cfg.concurrency);
    this.host = hostOf(cfg.url);
    this.secrets = credentialsIn(cfg);
    this.signer = cfg.signingSecret ? new Webhook(cfg.signingSecret) : null;
  }

  /**
   * Standard Webhooks headers (https://www.standardwebhooks.com/), made by svix's own signer so any
   * Standard Webhooks or svix library verifies them: HMAC-SHA256 over `${id}.${timestamp}.${body}`.
   * The id is the job's, the same on every retry (a receiver dedupes by it); the timestamp is the
   * attempt's, so a retry is not refused as a replay after the receiver's tolerance (5 minutes).
   */
  signatureHeaders(job: SyncJob, body: string, at: Date): Record<string, string> {
    if (!this.signer) return {};
    const id = `msg_${job.id}_${job.created_at}`;
    return {
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": this.signer.sign(id, at, body),
    };
  }

  async send(jobs: readonly SyncJob[], signal: AbortSignal): Promise<Map<number, Outcome>> {
    const out = new Map<number, Outcome>();
    const refused: { error?: string } = {};
    await Promise.all(
      jobs.map((job) =>
        this.limit.run(async () => {
          if (signal.aborted || refused.error !== undefined) return;
          const o = await this.one(job, signal, refused);
          if (o) out.set(job.id, o);
        }),
      ),
    );
    if (refused.error !== undefined) throw new SinkError(refused.error, true);
    return out;
  }

  /** The request a job turns into (exported for tests and `config check`). */
  request(job: SyncJob): { method: string; url: string; headers: Record<string, string>; body?: string } {
    const lift = job.action === "lift";
    const method = (lift ? this.cfg.liftMethod : undefined) ?? this.cfg.method;
    const urlT = (lift ? this.cfg.liftUrl : undefined) ?? this.cfg.url;
    const bodyT = lift ? (this.cfg.liftBody ?? this.cfg.body) : this.cfg.body;
    const vars = templateVars(job);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.cfg.headers)) headers[k] = render(v, vars, "header");
    const type = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
    let body: string | undefined;
    if (bodyT !== undefined && method !== "GET") {
      const json = type ? /json/i.test(type) : /^\s*[[{]/.test(bodyT);
      body = render(bodyT, vars, json ? "json" : "url");
      if (!type) headers["content-type"] = json ? "application/json" : "application/x-www-form-urlencoded";
    }
    return { method, url: render(urlT, vars, "url"), headers, body };
  }

  private async one(
    job: SyncJob,
    signal: AbortSignal,
    refused: { error?: string },
  ): Promise<Outcome | undefined> {
    if (job.action === "lift" && !this.cfg.sendLifts) return { kind: "done", note: "lifts are not sent" };
    const req = this.request(job);
    // fetch refuses such a header with a TypeError, which looked like "could not reach it" and was
    // retried for days; asking again cannot help, so the job fails now and says why.
    const bad = Object.keys(req.headers).find((k) => !HEADER_VALUE.test(req.headers[k] as string));
    if (bad !== undefined) {
      return {
        kind: "fail",
        error: `header ${bad} would carry characters an HTTP header cannot (only ASCII): use the address in the URL or body, or {{email_md5}}`,
      };
    }
    const headers = { ...req.headers, ...this.signatureHeaders(job, req.body ?? "", new Date()) };
    let res: Response;
    try {
      res = await this.fetcher(req.url, {
        method: req.method,
        headers,
        body: req.body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.cfg.timeoutMs)]),
        redirect: "manual",
      });
    } catch (e) {
      if (signal.aborted) return undefined;
      const err = e as Error;
      const why =
        err?.name === "TimeoutError"
          ? `no answer within ${this.cfg.timeoutMs / 1000} s`
          : `could not reach it (${err?.message ?? e})`;
      return { kind: "retry", error: `${req.method} ${this.host}: ${why}` };
    }
    const text = await res.text().catch(() => "");
    // An API that echoes the request would put the sink's own credential in last_error (shown by
    // GET /v1/sync/jobs and logged): what it says is kept only with those removed.
    const said = `${req.method} ${this.host} answered ${res.status}${excerpt(redactSecrets(text, this.secrets))}`;
    if ((res.status >= 200 && res.status < 300) || this.cfg.doneStatuses.includes(res.status)) {
      return { kind: "done" };
    }
    if (res.status === 401 || res.status === 403) {
      refused.error = `${said}: the credential in the sink's headers or url is refused`;
      return undefined;
    }
    if (
      [408, 425, 429].includes(res.status) ||
      res.status >= 500 ||
      this.cfg.retryStatuses.includes(res.status)
    ) {
      return { kind: "retry", error: said, retryAfterMs: retryAfter(res.headers.get("retry-after")) };
    }
    return { kind: "fail", error: `${said} (add it to doneStatuses if it means "nothing to do")` };
  }
}

/** Visible ASCII, space and tab (RFC 9110 §5.5); bytes above 0x7F would be read as Latin-1 at best. */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;

/** Every configured value that may be a credential, as given and as a URL would carry it. */
function credentialsIn(cfg: HttpSinkConfig): string[] {
  const values = [
    ...Object.values(cfg.headers),
    ...Object.values(cfg.headers).flatMap((v) => v.split(/\s+/)),
  ];
  for (const url of [cfg.url, cfg.liftUrl]) {
    if (!url) continue;
    const query = url.split("?")[1] ?? "";
    for (const pair of query.split("&")) values.push(decodeURIComponentSafe(pair.split("=")[1] ?? ""));
    const userinfo = /^[a-z]+:\/\/([^@/]+)@/i.exec(url)?.[1];
    if (userinfo) values.push(userinfo, ...userinfo.split(":"));
  }
  const secrets = values.filter((v) => v.length >= 6 && !v.includes("{{"));
  return [...new Set([...secrets, ...secrets.map(encodeURIComponent)])].sort((a, b) => b.length - a.length);
}

function decodeURIComponentSafe(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

function excerpt(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t ? `: ${t.slice(0, 200)}` : "";
}

/** Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3); capped at an hour. */
export function retryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, 3_600_000) : undefined;
}

function hostOf(urlTemplate: string): string {
  try {
    return new URL(urlTemplate.replace(/\{\{[^}]*\}\}/g, "x")).host;
  } catch {
    return "the sink";
  }
}
