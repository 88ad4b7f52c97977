import type { Server } from "bun";

/**
 * A fake of the Resend API calls suppressd makes: the `resend-contacts` preset's `PATCH
 * /contacts/{id or email}` with `{"unsubscribed": true}` (resend-rust src/contacts.rs `update`:
 * PATCH /contacts/{contact_id_or_email}; docs: resend.com/docs/api-reference/contacts/update-contact),
 * and the two listings a backfill reads, `GET /suppressions` and `GET /contacts` (see `listing`).
 *
 * Error bodies have Resend's shape `{"statusCode", "message", "name"}` (resend-node
 * src/interfaces.ts `ErrorResponse`; resend-rust src/error.rs `ErrorResponse`), JSON with
 * content-type application/json. Names, statuses and messages are copied from the error table
 * (resend.com/docs/api-reference/errors), as resend-rust's src/error.rs carries it (its test
 * `errors_up_to_date` checks that file against the live page), unless a line says otherwise.
 */
export const RESEND_ERRORS = {
  invalid_idempotency_key: [400, "The key must be between 1-256 chars."],
  validation_error: [400, "We found an error with one or more fields in the request."],
  missing_api_key: [401, "Missing API key in the authorization header."],
  restricted_api_key: [401, "This API key is restricted to only send emails."],
  // Docs page (resend.com/docs/api-reference/errors.md): "invalid_api_key · 403 · API key is invalid."
  invalid_api_key: [403, "API key is invalid."],
  invalid_permission: [403, "Access token is missing required scopes."],
  suspended_api_key: [403, "This API key is suspended"],
  not_found: [404, "The requested endpoint does not exist."],
  method_not_allowed: [405, "Method is not allowed for the requested path."],
  invalid_idempotent_request: [409, "Same idempotency key used with a different request payload."],
  concurrent_idempotent_requests: [
    409,
    "Same idempotency key used while original request is still in progress.",
  ],
  resource_locked: [409, "Another request is already updating this resource."],
  invalid_parameter: [422, "The parameter must be a valid UUID."],
  missing_required_field: [422, "The request body is missing one or more required fields."],
  daily_quota_exceeded: [429, "You have reached your daily email sending quota."],
  monthly_quota_exceeded: [429, "You have reached your monthly email sending quota."],
  rate_limit_exceeded: [
    429,
    "Too many requests. Please limit the number of requests per second. Or contact support to increase rate limit.",
  ],
  application_error: [500, "An unexpected error occurred."],
  // resend-rust documents it as "500 Service Unavailable"; the status is kept as documented.
  service_unavailable: [500, "API is temporarily unavailable"],
  // Named in resend-node's RESEND_ERROR_CODE_KEY; the docs give no text, so this is the
  // client's own fallback message (resend-node src/resend.ts).
  internal_server_error: [
    500,
    "Internal server error. We are unable to process your request right now, please try again later.",
  ],
} as const satisfies Record<string, readonly [number, string]>;

export type ResendErrorName = keyof typeof RESEND_ERRORS;

export interface FakeContact {
  id: string;
  email: string;
  unsubscribed: boolean;
  created_at?: string;
}

/** An entry of the suppression list, as List Suppressions shows it. */
export interface FakeSuppression {
  object: "suppression";
  id: string;
  email: string;
  origin: "bounce" | "complaint" | "manual";
  source_id: string | null;
  created_at: string;
}

export class FakeResend {
  readonly apiKey = "re_test_0123456789";
  readonly contacts = new Map<string, FakeContact>();
  /** Errors to answer for an address, in order, before the call succeeds. */
  private readonly scripted = new Map<string, ResendErrorName[]>();
  readonly calls: { method: string; path: string; body: string }[] = [];
  /** The suppression list, oldest first (listed newest first). */
  readonly suppressions: FakeSuppression[] = [];
  /**
   * Requests per second the key may make (a fixed one-second window), or null for no limit. The
   * documented default is 5 per second per team (resend.com/docs/api-reference/rate-limit;
   * earlier versions of that page said 2).
   */
  rateLimit: number | null = null;
  /** Errors the next list calls answer, in order (a listing's own faults). */
  readonly listFaults: ResendErrorName[] = [];
  private window = { second: 0, used: 0 };
  private readonly listed = { suppressions: new Map<string, number>(), contacts: new Map<string, number>() };
  private contactOrder: FakeContact[] = [];
  private server: Server<undefined> | undefined;

  /** Adds an entry to the suppression list (newest last); `at` defaults to now. */
  suppress(email: string, origin: FakeSuppression["origin"] = "bounce", at = new Date()): FakeSuppression {
    const s: FakeSuppression = {
      object: "suppression",
      id: crypto.randomUUID(),
      email: email.toLowerCase(),
      origin,
      source_id: origin === "manual" ? null : crypto.randomUUID(),
      created_at: at.toISOString(),
    };
    this.listed.suppressions.set(s.id, this.suppressions.length);
    this.suppressions.push(s);
    return s;
  }

  add(email: string, unsubscribed = false): FakeContact {
    const c = { id: crypto.randomUUID(), email, unsubscribed, created_at: new Date().toISOString() };
    this.contacts.set(email, c);
    this.listed.contacts.set(c.id, this.contactOrder.length);
    this.contactOrder.push(c);
    return c;
  }

  failNext(email: string, ...errors: ResendErrorName[]) {
    this.scripted.set(email, [...(this.scripted.get(email) ?? []), ...errors]);
  }

  start(): string {
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.handle(req) });
    return `http://127.0.0.1:${this.server.port}`;
  }

  stop() {
    this.server?.stop(true);
  }

  /**
   * POST /suppressions `{"email"}` (the `resend-suppressions` preset): answers `{"object":
   * "suppression", "id"}` (resend.com/docs/api-reference/suppressions/create-suppression). Adding
   * an address already on the list succeeds with the existing entry, and the API lowercases and
   * trims it (resend-ruby lib/resend/suppressions.rb, `add`). Origin `manual`.
   */
  private addSuppression(body: string): Response {
    let email: unknown;
    try {
      email = (JSON.parse(body) as { email?: unknown }).email;
    } catch {
      return error("validation_error");
    }
    if (typeof email !== "string" || email.trim() === "") return error("missing_required_field");
    const key = email.trim().toLowerCase();
    const existing = this.suppressions.find((x) => x.email === key);
    const entry = existing ?? this.suppress(key, "manual");
    return json(200, { object: "suppression", id: entry.id });
  }

  private listing(url: URL): Response {
    const now = Math.floor(Date.now() / 1000);
    if (this.window.second !== now) this.window = { second: now, used: 0 };
    this.window.used++;
    const limit = this.rateLimit;
    const headers: Record<string, string> =
      limit === null
        ? {}
        : {
            "ratelimit-limit": String(limit),
            "ratelimit-remaining": String(Math.max(0, limit - this.window.used)),
            "ratelimit-reset": "1",
          };
    const fault = this.listFaults.shift();
    if (limit !== null && this.window.used > limit)
      return error("rate_limit_exceeded", { ...headers, "retry-after": "1" });
    if (fault) return error(fault, fault === "rate_limit_exceeded" ? { ...headers, "retry-after": "1" } : {});
    const answer =
      url.pathname === "/suppressions"
        ? listingOf(this.suppressions, this.listed.suppressions, url, true)
        : listingOf(this.contactOrder, this.listed.contacts, url, false);
    for (const [k, v] of Object.entries(headers)) answer.headers.set(k, v);
    return answer;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = await req.text();
    this.calls.push({ method: req.method, path: url.pathname, body });
    const auth = req.headers.get("authorization");
    if (!auth) return error("missing_api_key");
    if (auth !== `Bearer ${this.apiKey}`) return error("invalid_api_key");
    if (req.method === "GET" && (url.pathname === "/suppressions" || url.pathname === "/contacts"))
      return this.listing(url);
    if (req.method === "POST" && url.pathname === "/suppressions") return this.addSuppression(body);
    const m = /^\/contacts\/([^/]+)$/.exec(url.pathname);
    if (!m) return error("not_found");
    if (req.method !== "PATCH") return error("method_not_allowed");
    const key = decodeURIComponent(m[1] as string);
    const queue = this.scripted.get(key);
    const scripted = queue?.shift();
    if (scripted) {
      // The documented rate-limit headers (resend.com/docs/api-reference/rate-limit).
      const headers: Record<string, string> =
        scripted === "rate_limit_exceeded"
          ? { "retry-after": "1", "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "1" }
          : {};
      return error(scripted, headers);
    }
    let patch: { unsubscribed?: unknown };
    try {
      patch = JSON.parse(body);
    } catch {
      return error("validation_error");
    }
    const contact = [...this.contacts.values()].find((c) => c.id === key || c.email === key);
    // resend-node src/contacts/contacts.spec.ts: a missing contact is 404 not_found "Contact not found".
    if (!contact) return json(404, { statusCode: 404, message: "Contact not found", name: "not_found" });
    if (typeof patch.unsubscribed === "boolean") contact.unsubscribed = patch.unsubscribed;
    // Docs (update-contact): the answer is {"object": "contact", "id": …}.
    return json(200, { object: "contact", id: contact.id });
  }
}

/**
 * Cursor pagination as documented (resend.com/docs/api-reference/pagination): `{object: "list",
 * has_more, data}`, newest first, `limit` 1-100 (default 20), `after` the id of the last item of
 * the previous page, excluded from the answer. An existing list endpoint such as List Contacts
 * returns everything when no `limit` is given; List Suppressions is a newer one and always pages.
 * Every answer carries the rate-limit headers; past the limit, 429 `rate_limit_exceeded` with
 * `retry-after` (resend.com/docs/api-reference/rate-limit). The docs give no text for a bad
 * `limit`; the fake answers the generic validation_error.
 */
function listingOf<T extends { id: string }>(
  items: T[],
  index: Map<string, number>,
  url: URL,
  pagesAlways: boolean,
): Response {
  const rawLimit = url.searchParams.get("limit");
  if (rawLimit === null && !pagesAlways)
    return json(200, { object: "list", has_more: false, data: [...items].reverse() });
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return error("validation_error");
  const after = url.searchParams.get("after");
  let start = items.length - 1;
  if (after !== null) {
    const at = index.get(after);
    if (at === undefined) return error("invalid_parameter");
    start = at - 1;
  }
  const data: T[] = [];
  for (let i = start; i >= 0 && data.length < limit; i--) data.push(items[i] as T);
  const last = start - data.length;
  return json(200, { object: "list", has_more: last >= 0, data });
}

function error(name: ResendErrorName, headers: Record<string, string> = {}): Response {
  const [statusCode, message] = RESEND_ERRORS[name];
  return json(statusCode, { statusCode, message, name }, headers);
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
