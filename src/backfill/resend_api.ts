import { type AppError, configError, unavailable } from "../errors.ts";
import { VERSION } from "../version.ts";

/** A page of one of Resend's paginated listings (resend.com/docs/api-reference/pagination). */
export interface ResendList<T> {
  has_more: boolean;
  data: T[];
}

export interface ResendSuppression {
  id: string;
  email: string;
  origin: string;
  created_at: string;
}

export interface ResendContact {
  id: string;
  email: string;
  unsubscribed: boolean;
  created_at?: string;
}

export interface ResendReaderOptions {
  apiKey: string;
  baseUrl: string;
  sleep?: (ms: number) => Promise<void>;
  /** Attempts of one page through 429s, 5xx and network errors before giving up (exit 69). */
  attempts?: number;
  timeoutMs?: number;
}

/**
 * Reads Resend's listings with `limit` 100 (the maximum) and `after`. Keeps to the rate limit
 * the answers announce: when `ratelimit-remaining` reaches 0 it waits `ratelimit-reset` seconds
 * before the next call, and a 429 waits its `retry-after` (resend.com/docs/api-reference/rate-limit;
 * the limit is per team and shared with sending, so a backfill must not take more than it gets).
 */
export class ResendReader {
  private readonly sleep: (ms: number) => Promise<void>;
  private pauseUntil = 0;
  /** 429s met, for the summary and tests. */
  throttled = 0;

  constructor(private readonly o: ResendReaderOptions) {
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  suppressions(after: string | null): Promise<ResendList<ResendSuppression>> {
    return this.list("/suppressions", after);
  }

  contacts(after: string | null): Promise<ResendList<ResendContact>> {
    return this.list("/contacts", after);
  }

  private async list<T>(path: string, after: string | null): Promise<ResendList<T>> {
    const url = new URL(`${this.o.baseUrl.replace(/\/+$/, "")}${path}`);
    url.searchParams.set("limit", "100");
    if (after !== null) url.searchParams.set("after", after);
    const attempts = this.o.attempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      const wait = this.pauseUntil - Date.now();
      if (wait > 0) await this.sleep(wait);
      let res: Response;
      try {
        res = await fetch(url, {
          headers: { authorization: `Bearer ${this.o.apiKey}`, "user-agent": `suppressd/${VERSION}` },
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
        });
      } catch (e) {
        if (attempt >= attempts) throw unreachable(`GET ${path}: ${(e as Error).message}`);
        await this.sleep(backoff(attempt));
        continue;
      }
      this.notePace(res.headers);
      if (res.ok) {
        const body = (await res.json()) as ResendList<T>;
        if (!Array.isArray(body?.data)) throw unreachable(`GET ${path}: the answer has no 'data' list`);
        return body;
      }
      const err = (await res.json().catch(() => ({}))) as { name?: string; message?: string };
      const said = `${res.status} ${err.name ?? ""}: ${err.message ?? res.statusText}`.trim();
      if (res.status === 429 && !/quota/.test(err.name ?? "")) {
        this.throttled++;
        const after = Number(res.headers.get("retry-after"));
        if (attempt >= attempts) throw unreachable(`GET ${path}: still rate limited (${said})`);
        await this.sleep(Number.isFinite(after) && after > 0 ? after * 1000 : backoff(attempt));
        continue;
      }
      if (res.status >= 500) {
        if (attempt >= attempts) throw unreachable(`GET ${path}: Resend answered ${said}`);
        await this.sleep(backoff(attempt));
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        throw configError(
          `Resend refused resend.apiKey (${said}): use a full-access API key from Resend's API Keys page (a sending-only key cannot read lists).`,
        );
      }
      throw unavailable(`GET ${path}: Resend answered ${said}`, "resend_refused");
    }
  }

  /** The window's last call: wait for the reset before the next one instead of meeting a 429. */
  private notePace(h: Headers) {
    const remaining = Number(h.get("ratelimit-remaining") ?? Number.NaN);
    const reset = Number(h.get("ratelimit-reset") ?? Number.NaN);
    if (remaining === 0 && Number.isFinite(reset)) this.pauseUntil = Date.now() + reset * 1000;
  }
}

function backoff(attempt: number): number {
  return Math.min(30_000, 500 * 2 ** (attempt - 1)) + Math.floor(Math.random() * 250);
}

function unreachable(message: string): AppError {
  return unavailable(`${message}. Run the command again later: it goes on where it stopped.`);
}
