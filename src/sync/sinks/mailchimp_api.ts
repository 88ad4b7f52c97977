import type ApiClient from "@mailchimp/mailchimp_marketing/src/ApiClient.js";
import { VERSION } from "../../version.ts";
import type { Semaphore } from "../semaphore.ts";

/**
 * One Mailchimp account, through its own instance of the official client (the package's default
 * export is a process-wide singleton: two accounts would share one key). Every call takes a slot
 * of the key's semaphore: Mailchimp allows 10 simultaneous connections per user across all of the
 * customer's apps and answers 429 past that (https://mailchimp.com/developer/marketing/docs/fundamentals/),
 * so suppressd keeps to its `maxConnections` share.
 */
export interface MailchimpAccount {
  apiKey: string;
  /** `https://<dc>.api.mailchimp.com/3.0` from the key's suffix unless given. */
  baseUrl?: string;
  timeoutMs: number;
}

export function baseUrlFor(account: { apiKey: string; baseUrl?: string }): string {
  if (account.baseUrl) return account.baseUrl.replace(/\/+$/, "");
  const dc = account.apiKey.split("-").pop() ?? "";
  return `https://${dc}.api.mailchimp.com/3.0`;
}

/** One entry of a problem's nested `errors[]`: some refusals say why only there. */
export interface FieldError {
  field: string;
  message: string;
}

/**
 * A Mailchimp answer that was not a success, in words an operator can act on. `status` is null
 * when no HTTP answer came at all (timeout, refused connection). `sinkWide`: the key or account
 * is refused (401, or a 403 with a problem body): no call of this sink can work until the
 * operator acts, whichever address it is about.
 */
export class MailchimpError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly title: string,
    readonly detail: string,
    readonly transient: boolean,
    readonly errors: readonly FieldError[] = [],
    readonly sinkWide = false,
  ) {
    super(message);
    this.name = "MailchimpError";
  }
}

/** Every error member calls ask Mailchimp to skip: a required merge field must not refuse us. */
const SKIP_MERGE = { skipMergeValidation: true };

type Json = Record<string, unknown>;

export class MailchimpApi {
  private loaded: Promise<ApiClient> | null = null;
  private readonly timeoutMs: number;
  readonly baseUrl: string;

  constructor(
    private readonly account: MailchimpAccount,
    private readonly limit: Semaphore,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.baseUrl = baseUrlFor(account);
    this.timeoutMs = account.timeoutMs;
  }

  /**
   * The official client, loaded at the first call: with superagent and its dependencies it is
   * the largest module the daemon has, and a daemon without a Mailchimp sink never needs it
   * (issue 14's footprint: idle RSS 86.3 → see bench/README.md).
   */
  private client(): Promise<ApiClient> {
    this.loaded ??= import("@mailchimp/mailchimp_marketing/src/ApiClient.js").then(({ default: Client }) => {
      const client = new Client();
      client.basePath = this.baseUrl;
      // No `server`: the client would replace the first "server" it finds in the URL with it.
      client.setConfig({ apiKey: this.account.apiKey });
      client.timeout = this.account.timeoutMs;
      client.defaultHeaders = { "User-Agent": `suppressd/${VERSION}` };
      return client;
    });
    return this.loaded;
  }

  ping(): Promise<Json> {
    return this.call("GET /ping", async () => (await this.client()).ping.get());
  }
  getList(listId: string): Promise<Json> {
    return this.call(`GET /lists/${listId}`, async () =>
      (await this.client()).lists.getList(listId, { fields: ["id", "name"] }),
    );
  }
  /** The member's status only (`archived` included), or a 404 when the address is not there. */
  getMember(listId: string, hash: string): Promise<Json> {
    return this.call("GET member", async () =>
      (await this.client()).lists.getListMember(listId, hash, { fields: ["status"] }),
    );
  }
  /** GET /lists/{id}/members: a page of members (backfill, reconcile); `opts` as the client names them. */
  listMembers(listId: string, opts: Record<string, unknown>): Promise<Json> {
    return this.call(`GET /lists/${listId}/members`, async () =>
      (await this.client()).lists.getListMembersInfo(listId, opts),
    );
  }
  /**
   * PUT: an upsert (creates the member when new). `skip_merge_validation`: creating a member in an
   * audience with a required merge field is refused otherwise (400 "Your merge fields were
   * invalid."); the option is in the client's ListsApi.setListMember.
   */
  putMember(listId: string, hash: string, body: Json): Promise<Json> {
    return this.call("PUT member", async () =>
      (await this.client()).lists.setListMember(listId, hash, body, SKIP_MERGE),
    );
  }
  /** PATCH: updates an existing member only (404 when the address is not in the audience). */
  patchMember(listId: string, hash: string, body: Json): Promise<Json> {
    return this.call("PATCH member", async () =>
      (await this.client()).lists.updateListMember(listId, hash, body, SKIP_MERGE),
    );
  }
  tags(listId: string, hash: string, tags: { name: string; status: "active" | "inactive" }[]) {
    return this.call("POST member tags", async () =>
      (await this.client()).lists.updateListMemberTags(listId, hash, { tags }),
    );
  }
  /** POST /lists/{id}: up to 500 members, created when new; 200 even when some failed (`errors[]`). */
  batchSubscribe(listId: string, body: Json): Promise<Json> {
    return this.call(
      `POST /lists/${listId}`,
      async () => (await this.client()).lists.batchListMembers(listId, body, SKIP_MERGE),
      0,
    );
  }
  startBatch(operations: Json[]): Promise<Json> {
    return this.call("POST /batches", async () => (await this.client()).batches.start({ operations }), 0);
  }
  batchStatus(id: string): Promise<Json> {
    return this.call(`GET /batches/${id}`, async () => (await this.client()).batches.status(id));
  }

  /**
   * Runs one call in a connection slot. A 429 or 5xx is tried again twice after a short pause
   * (slot released meanwhile): they are usually momentary. Timeouts are not: the call already
   * waited its full timeout, and the job's own backoff takes over.
   */
  private async call<T>(what: string, run: () => Promise<T>, quickRetries = 2): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.limit.run(run);
      } catch (e) {
        const err = toMailchimpError(e, what, this.timeoutMs);
        if (!err.transient || err.status === null || attempt >= quickRetries) throw err;
        await this.sleep(500 * 2 ** attempt + Math.floor(Math.random() * 250));
      }
    }
  }
}

/** superagent's error (what the official client rejects with) → a MailchimpError in plain words. */
export function toMailchimpError(e: unknown, what: string, timeoutMs: number): MailchimpError {
  if (e instanceof MailchimpError) return e;
  const err = e as {
    status?: number;
    timeout?: number;
    code?: string;
    message?: string;
    response?: { body?: unknown };
  };
  if (err?.timeout !== undefined || err?.code === "ECONNABORTED") {
    return new MailchimpError(
      `${what}: no answer from Mailchimp within ${timeoutMs / 1000} s`,
      null,
      "Timeout",
      "",
      true,
    );
  }
  if (typeof err?.status !== "number") {
    const why = err?.code ? `${err.code} ${err.message ?? ""}`.trim() : (err?.message ?? String(e));
    return new MailchimpError(`${what}: could not reach Mailchimp (${why})`, null, "Network", "", true);
  }
  const problem = problemOf(err.response?.body);
  const { title, detail, errors } = problem ?? { title: "", detail: "", errors: [] };
  const said =
    [title, detail, ...errors.map((x) => x.message)].filter(Boolean).join(": ") ||
    "no problem+json body (an HTML error page?)";
  const s = err.status;
  if (s === 401) {
    return new MailchimpError(
      `Mailchimp rejected the API key (401 ${title || "Unauthorized"}): check the sink's apiKey and that its -dc suffix is right. ${detail}`.trim(),
      s,
      title,
      detail,
      false,
      errors,
      true,
    );
  }
  // "At exceptionally high volumes, you may receive an HTTP 429 or 403 without a JSON body"
  // (https://mailchimp.com/developer/marketing/docs/fundamentals/): that 403 is throttling, to
  // retry. A refusal of the account comes as problem+json, such as 403 "User Disabled" / "This
  // account has been deactivated." (github.com/hitobito/hitobito/issues/3712).
  if (s === 403 && problem) {
    return new MailchimpError(
      `Mailchimp refused access (403 ${title || "Forbidden"}): the key's account may be disabled or lack this permission. ${detail}`.trim(),
      s,
      title,
      detail,
      false,
      errors,
      true,
    );
  }
  if (s === 403 || s === 429) {
    return new MailchimpError(
      `${what}: Mailchimp is throttling (${s} ${problem ? said : "without a body"}); will retry`,
      s,
      title,
      detail,
      true,
      errors,
    );
  }
  const transient = s >= 500 || s === 408;
  return new MailchimpError(
    `${what}: Mailchimp answered ${s} (${said})`,
    s,
    title,
    detail,
    transient,
    errors,
  );
}

/**
 * A problem+json body (RFC 7807) as Mailchimp sends it, nested `errors[]` included; null when the
 * body is not one (empty, an HTML page): superagent leaves `{}` or a string there then.
 */
export function problemOf(body: unknown): { title: string; detail: string; errors: FieldError[] } | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as { title?: unknown; detail?: unknown; errors?: unknown };
  if (typeof b.title !== "string") return null;
  const errors: FieldError[] = [];
  if (Array.isArray(b.errors)) {
    for (const e of b.errors as { field?: unknown; message?: unknown }[]) {
      if (typeof e?.message === "string")
        errors.push({ field: typeof e.field === "string" ? e.field : "", message: e.message });
    }
  }
  return { title: b.title, detail: typeof b.detail === "string" ? b.detail : "", errors };
}
