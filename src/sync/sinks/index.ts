import type { HttpSinkConfig, MailchimpSinkConfig, SinkConfig } from "../../config/schema.ts";
import type { Logger } from "../../log.ts";
import { Semaphore } from "../semaphore.ts";
import type { Sink } from "../sink.ts";
import { HttpSink } from "./http.ts";
import { MailchimpSink } from "./mailchimp.ts";
import { MailchimpApi, MailchimpError } from "./mailchimp_api.ts";
import type { BatchTiming } from "./mailchimp_batch.ts";

/** Mailchimp's limit of simultaneous connections per user, across all of the user's apps. */
export const MAILCHIMP_CONNECTIONS = 10;

export interface SinkDeps {
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
  fetch?: typeof fetch;
  /** Batch polling pace (tests and the bench shorten it). */
  batch?: Partial<BatchTiming>;
}

export interface ProbeResult {
  sink: string;
  type: SinkConfig["type"];
  /** What was checked and found fine, for the operator. */
  ok: string[];
  /** What is wrong, one sentence each; empty when all is well. */
  problems: string[];
  /**
   * How many of `problems` may pass by themselves (no answer, a timeout, 429, 5xx): the service
   * is unreachable, the settings may be right. `config check` exits 69 for those, 78 for the rest.
   */
  transient: number;
}

export interface SinkSet {
  sinks: Sink[];
  /** Asks every Mailchimp account GET /ping and GET /lists/{id} for each audience. */
  probe(): Promise<ProbeResult[]>;
}

/**
 * Builds every configured sink. Sinks that use one Mailchimp API key share one semaphore (the
 * connection limit is per user, not per sink), sized by the smallest `maxConnections` among them.
 */
export function buildSinks(configs: readonly SinkConfig[], deps: SinkDeps = {}): SinkSet {
  const capacity = new Map<string, number>();
  for (const c of configs) {
    if (c.type !== "mailchimp") continue;
    capacity.set(c.apiKey, Math.min(capacity.get(c.apiKey) ?? MAILCHIMP_CONNECTIONS, c.maxConnections));
  }
  const limits = new Map([...capacity].map(([key, n]) => [key, new Semaphore(n)]));
  const apis = new Map<string, MailchimpApi>();
  const sinks = configs.map((c): Sink => {
    if (c.type === "http") return new HttpSink(c, deps.fetch);
    const api = new MailchimpApi(c, limits.get(c.apiKey) as Semaphore, deps.sleep);
    apis.set(c.name, api);
    return new MailchimpSink(c, { ...deps, api });
  });
  return {
    sinks,
    probe: () =>
      Promise.all(
        configs.map((c) =>
          c.type === "mailchimp" ? probeMailchimp(c, apis.get(c.name) as MailchimpApi) : probeHttp(c),
        ),
      ),
  };
}

async function probeMailchimp(c: MailchimpSinkConfig, api: MailchimpApi): Promise<ProbeResult> {
  const r: ProbeResult = { sink: c.name, type: c.type, ok: [], problems: [], transient: 0 };
  try {
    await api.ping();
    r.ok.push(`${api.baseUrl} answers and accepts the API key`);
  } catch (e) {
    r.problems.push(`${api.baseUrl}: ${(e as Error).message}`);
    if (isTransient(e)) r.transient++;
    return r; // with a wrong key or no answer, asking about audiences says nothing new
  }
  await Promise.all(
    c.listIds.map(async (list) => {
      try {
        const info = await api.getList(list);
        r.ok.push(`audience '${list}' (${String(info.name ?? "unnamed")}) exists`);
      } catch (e) {
        r.problems.push(
          e instanceof MailchimpError && e.status === 404
            ? `audience (list id) '${list}' does not exist in this account: check listIds (Mailchimp: Audience → Settings → Audience name and defaults → Audience ID)`
            : `audience '${list}': ${(e as Error).message}`,
        );
        if (isTransient(e)) r.transient++;
      }
    }),
  );
  return r;
}

/** No answer at all, or an answer that says "later" (429, 5xx). */
function isTransient(e: unknown): boolean {
  return e instanceof MailchimpError && e.transient;
}

async function probeHttp(c: HttpSinkConfig): Promise<ProbeResult> {
  const r: ProbeResult = { sink: c.name, type: c.type, ok: [], problems: [], transient: 0 };
  const sample = new HttpSink(c).request({
    id: 0,
    sink: c.name,
    email: "probe@example.com",
    action: "suppress",
    reason: "hard_bounce",
    event_type: "email.bounced",
    occurred_at: 0,
    attempts: 0,
    created_at: 0,
  });
  try {
    const url = new URL(sample.url);
    if (!/^https?:$/.test(url.protocol)) r.problems.push(`url must be http(s), not ${url.protocol}`);
    else
      r.ok.push(
        `requests go to ${sample.method} ${url.origin}${url.pathname} (not called: no safe test request exists)`,
      );
  } catch {
    r.problems.push(`url does not make a valid URL: ${sample.url}`);
  }
  return r;
}
