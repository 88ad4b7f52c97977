import { createHash, randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Server } from "bun";
import { pack } from "tar-stream";

/**
 * A fake Mailchimp Marketing API v3 on loopback, for every call suppressd makes. It behaves like
 * the real one where it matters to us, each answer built from a source cited beside it:
 * Basic auth with the key as password (401 problem+json otherwise), problem+json errors with
 * their nested `errors[]`, required merge fields refusing new members unless
 * `skip_merge_validation=true`, cleaned members refusing updates, archived members unarchived by
 * a write, "Member In Compliance State" only for a call that subscribes, "Forgotten Email Not
 * Subscribed", POST /lists/{id} answering 200 with `errors[]` on partial failure, batch
 * operations that finish asynchronously with their results in a gzipped tar of JSON files, and
 * 429 past `maxConnections` simultaneous requests per key.
 *
 * Faults for tests: `mode` ("down": 503 HTML pages, "hang": no answer until healed, "throttle":
 * 429, "bare403": 403 without a body), `failNext(n, kind)`, and `latencyMs` per call. Member
 * states and every status ever written are recorded for assertions.
 */

// The problem type every error carries (https://mailchimp.com/developer/marketing/docs/errors/).
const PROBLEM_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/";

/** `archived`: what GET answers for a member DELETE archived (the member schema's status enum). */
export type MemberStatus =
  | "subscribed"
  | "unsubscribed"
  | "cleaned"
  | "pending"
  | "transactional"
  | "archived";

export interface FakeMember {
  email: string;
  status: MemberStatus;
  tags: Set<string>;
  /** ISO 8601, second precision, like the API's `last_changed`; set by every status write. */
  lastChanged?: string;
  unsubscribeReason?: string;
}

/** "bare403"/"bare429": throttling "without a JSON body" (Mailchimp's fundamentals page). */
type Fault = "503" | "429" | "hang" | "bare403" | "bare429";

/** One operation of POST /batches: `body` a JSON string, `params` the query string. */
interface BatchOperation {
  method: string;
  path: string;
  body?: string;
  params?: Record<string, string>;
  operation_id?: string;
}

interface Batch {
  id: string;
  status: "pending" | "started" | "finished";
  total: number;
  finished: number;
  errored: number;
  submittedAt: string;
  completedAt: string;
  results: { status_code: number; operation_id: string; response: string }[];
}

export interface FakeOptions {
  apiKey?: string;
  lists?: string[];
  latencyMs?: number;
  maxConnections?: number;
  /** How long a batch takes to run once submitted. */
  batchMs?: number;
}

interface Answer {
  status: number;
  body?: unknown;
}

interface Problem {
  title: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

export const FAKE_KEY = "0123456789abcdef0123456789abcdef-us19";

export class FakeMailchimp {
  readonly apiKey: string;
  latencyMs: number;
  maxConnections: number;
  batchMs: number;
  mode: "up" | "down" | "hang" | "throttle" | "bare403" = "up";
  /** Addresses in compliance state (unsubscribed, bounced or reviewed): they cannot be subscribed. */
  readonly compliance = new Set<string>();
  /** The account is deactivated: every call with the right key answers 403 "User Disabled". */
  disabled = false;
  /** Merge fields (by tag) each audience requires of a new member. */
  readonly requiredMergeFields = new Map<string, string[]>();
  /** Addresses permanently deleted (GDPR): they cannot be re-imported. */
  readonly forgotten = new Set<string>();
  /** Addresses Mailchimp calls "fake or invalid". */
  readonly invalid = new Set<string>();
  readonly lists = new Map<string, Map<string, FakeMember>>();
  readonly stats = {
    requests: 0,
    routes: new Map<string, number>(),
    inFlight: 0,
    maxInFlight: 0,
    throttled: 0,
    /** Every status written to any member, in order: suppressd must never write subscribed/pending. */
    statusWrites: [] as MemberStatus[],
    /** Member ids (hashes) a status write was asked for, whether or not the member existed. */
    touched: new Set<string>(),
    /** Archived members a write brought back into the audience (and the bill). */
    unarchived: 0,
    batchOps: 0,
  };
  private server!: Server<undefined>;
  private readonly faults: Fault[] = [];
  private readonly hanging = new Set<() => void>();
  private readonly batches = new Map<string, Batch>();

  private constructor(o: FakeOptions) {
    this.apiKey = o.apiKey ?? FAKE_KEY;
    this.latencyMs = o.latencyMs ?? 0;
    this.maxConnections = o.maxConnections ?? 10;
    this.batchMs = o.batchMs ?? 20;
    for (const id of o.lists ?? ["list1"]) this.lists.set(id, new Map());
  }

  static start(o: FakeOptions = {}): FakeMailchimp {
    const fake = new FakeMailchimp(o);
    fake.server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => fake.handle(req) });
    return fake;
  }

  /** What goes in a sink's `baseUrl`. */
  get url(): string {
    return `http://127.0.0.1:${this.server.port}/3.0`;
  }

  stop(): void {
    this.heal();
    this.server.stop(true);
  }

  /** Back to normal; requests left hanging get a 503 page now. */
  heal(): void {
    this.mode = "up";
    this.faults.length = 0;
    for (const release of this.hanging) release();
    this.hanging.clear();
  }

  failNext(n: number, kind: Fault): void {
    for (let i = 0; i < n; i++) this.faults.push(kind);
  }

  addMember(
    list: string,
    email: string,
    status: MemberStatus = "subscribed",
    tags: string[] = [],
    more: { lastChanged?: Date; unsubscribeReason?: string } = {},
  ): void {
    this.listOf(list).set(hash(email), {
      email: email.toLowerCase(),
      status,
      tags: new Set(tags),
      lastChanged: isoSeconds(more.lastChanged ?? new Date()),
      ...(more.unsubscribeReason ? { unsubscribeReason: more.unsubscribeReason } : {}),
    });
  }

  member(list: string, email: string): FakeMember | undefined {
    return this.lists.get(list)?.get(hash(email));
  }

  private listOf(list: string): Map<string, FakeMember> {
    let m = this.lists.get(list);
    if (!m) {
      m = new Map();
      this.lists.set(list, m);
    }
    return m;
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    this.stats.requests++;
    if (url.pathname.startsWith("/batch-results/")) {
      // Stands in for the storage server the real results URL points at: no key, no limit.
      await this.delay();
      const batch = this.batches.get(url.pathname.slice("/batch-results/".length).replace(/\.tar\.gz$/, ""));
      if (!batch) return new Response("NoSuchKey", { status: 404 });
      return new Response(await resultsArchive(batch), { headers: { "content-type": "application/x-gzip" } });
    }
    const auth = req.headers.get("authorization") ?? "";
    const key = auth.startsWith("Basic ")
      ? Buffer.from(auth.slice(6), "base64").toString().split(":")[1]
      : undefined;
    this.stats.inFlight++;
    try {
      if (this.stats.inFlight > this.maxConnections) {
        this.stats.throttled++;
        // TooManyRequests in the errors page's glossary.
        return problem(
          429,
          "Too Many Requests",
          "You have exceeded the limit of 10 simultaneous connections.",
        );
      }
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.stats.inFlight);
      const fault =
        this.faults.shift() ??
        (this.mode === "down"
          ? "503"
          : this.mode === "hang"
            ? "hang"
            : this.mode === "throttle"
              ? "429"
              : this.mode === "bare403"
                ? "bare403"
                : undefined);
      if (fault === "hang") {
        // Until healed, or until the client gives up and closes the connection.
        await new Promise<void>((r) => {
          this.hanging.add(r);
          req.signal.addEventListener("abort", () => r());
        });
        return htmlError();
      }
      await this.delay();
      if (fault === "503") return htmlError();
      if (fault === "bare403" || fault === "bare429") {
        this.stats.throttled++;
        return new Response(null, { status: fault === "bare403" ? 403 : 429 });
      }
      if (fault === "429") {
        this.stats.throttled++;
        return problem(
          429,
          "Too Many Requests",
          "You have exceeded the limit of 10 simultaneous connections.",
        );
      }
      // APIKeyMissing / APIKeyInvalid in the glossary; the body as in github.com/mailchimp/mc-woocommerce/issues/646.
      if (key === undefined)
        return problem(401, "API Key Missing", "Your request did not include an API key.");
      if (key !== this.apiKey) {
        return problem(
          401,
          "API Key Invalid",
          "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        );
      }
      // github.com/hitobito/hitobito/issues/3712, github.com/ibericode/mailchimp-for-wordpress/issues/591
      if (this.disabled) return problem(403, "User Disabled", "This account has been deactivated.");
      const path = url.pathname.replace(/^\/3\.0/, "");
      const text = await req.text();
      let body: Record<string, unknown> = {};
      if (text) {
        try {
          body = JSON.parse(text);
        } catch {
          return problem(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error.");
        }
      }
      const a = this.route(req.method, path, body, url.searchParams);
      if (a.status === 204) return new Response(null, { status: 204 });
      if (a.status >= 400) {
        const p = a.body as Problem;
        return problem(a.status, p.title, p.detail, p.errors);
      }
      return Response.json(a.body, { status: a.status });
    } finally {
      this.stats.inFlight--;
    }
  }

  private delay(): Promise<void> {
    return this.latencyMs > 0 ? Bun.sleep(this.latencyMs) : Promise.resolve();
  }

  /** The API proper, shared by HTTP calls and batch operations. */
  private route(method: string, path: string, body: Record<string, unknown>, query: URLSearchParams): Answer {
    const parts = path.split("/").filter(Boolean);
    const routeName = `${method} /${parts.map((p, i) => (i % 2 === 1 ? ":id" : p)).join("/")}`;
    this.stats.routes.set(routeName, (this.stats.routes.get(routeName) ?? 0) + 1);
    if (method === "GET" && path === "/ping")
      return { status: 200, body: { health_status: "Everything's Chimpy!" } };
    if (parts[0] === "batches") return this.batchRoute(method, parts[1], body);
    if (parts[0] !== "lists" || parts[1] === undefined) return notFound();
    const list = this.lists.get(parts[1]);
    if (!list) return notFound();
    if (parts.length === 2 && method === "GET")
      return {
        status: 200,
        body: { id: parts[1], name: `Audience ${parts[1]}`, stats: { member_count: list.size } },
      };
    if (parts.length === 3 && parts[2] === "members" && method === "GET") return listMembers(list, query);
    const skipMerge = query.get("skip_merge_validation") === "true";
    const required = skipMerge ? [] : (this.requiredMergeFields.get(parts[1]) ?? []);
    if (parts.length === 2 && method === "POST") return this.batchSubscribe(list, body, required);
    if (parts[2] !== "members" || parts[3] === undefined) return notFound();
    const id = parts[3];
    const member = list.get(id);
    if (parts.length === 5 && parts[4] === "tags" && method === "POST") {
      if (!member) return notFound();
      for (const t of (body.tags ?? []) as { name: string; status: string }[]) {
        if (t.status === "active") member.tags.add(t.name);
        else member.tags.delete(t.name);
      }
      return { status: 204 };
    }
    if (parts.length !== 4) return notFound();
    if (method === "PUT" || method === "PATCH") this.stats.touched.add(id);
    if (method === "GET") {
      if (!member) return notFound();
      // `fields` keeps only the named fields (partial responses, the API's fundamentals page).
      const full: Record<string, unknown> = present(id, member);
      const fields = query.get("fields")?.split(",");
      return { status: 200, body: fields ? Object.fromEntries(fields.map((f) => [f, full[f]])) : full };
    }
    if (method === "PATCH") {
      if (!member) return notFound();
      return this.write(list, id, member.email, body.status as MemberStatus | undefined, undefined, []);
    }
    if (method === "PUT") {
      const email = String(body.email_address ?? member?.email ?? "").toLowerCase();
      if (!email) return invalid("The resource submitted could not be validated. email_address is required.");
      if (hash(email) !== id) return invalid("The email address does not match the subscriber hash.");
      return this.write(
        list,
        id,
        email,
        body.status as MemberStatus | undefined,
        body.status_if_new as MemberStatus | undefined,
        required,
      );
    }
    return {
      status: 405,
      body: { title: "Method Not Allowed", detail: "The requested method and resource are not compatible." },
    };
  }

  private write(
    list: Map<string, FakeMember>,
    id: string,
    email: string,
    status: MemberStatus | undefined,
    ifNew: MemberStatus | undefined,
    required: readonly string[],
  ): Answer {
    const member = list.get(id);
    const refused = this.refusal(email, member, member ? status : (ifNew ?? status), required);
    if (refused) return { status: 400, body: refused };
    if (member) {
      if (status) {
        // A write to an archived member unarchives it with the status sent
        // (stackoverflow.com/questions/63584277: PATCH {"status": "subscribed"} unarchived one).
        if (member.status === "archived") this.stats.unarchived++;
        if (member.status !== status) member.lastChanged = isoSeconds(new Date());
        member.status = status;
        this.stats.statusWrites.push(status);
      }
      return { status: 200, body: present(id, member) };
    }
    const initial = ifNew ?? status;
    if (!initial)
      return invalid("The resource submitted could not be validated. status is required for a new member.");
    const created: FakeMember = {
      email,
      status: initial,
      tags: new Set(),
      lastChanged: isoSeconds(new Date()),
    };
    list.set(id, created);
    this.stats.statusWrites.push(initial);
    return { status: 200, body: present(id, created) };
  }

  /** Why Mailchimp refuses this write, or null. `to`: the status the write would set. */
  private refusal(
    email: string,
    member: FakeMember | undefined,
    to: MemberStatus | undefined,
    required: readonly string[],
  ): Problem | null {
    if (member?.status === "cleaned" && to !== undefined) {
      // The reason is only in errors[0].message (github.com/ibericode/mailchimp-user-sync/issues/96);
      // the detail is the generic one (github.com/OperationCode/operationcode_old_site/issues/692).
      return {
        title: "Invalid Resource",
        detail:
          "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        errors: [
          {
            field: "email address",
            message: `This member's status is "cleaned." You can only update email addresses for members with a status of "subscribed."`,
          },
        ],
      };
    }
    if (this.compliance.has(email) && (to === "subscribed" || to === "pending")) {
      // Only a call that subscribes meets it (github.com/tbar0970/jethro-pmm/issues/656).
      return {
        title: "Member In Compliance State",
        detail: `${email} is in a compliance state due to unsubscribe, bounce, or compliance review and cannot be subscribed.`,
      };
    }
    if (!member && this.forgotten.has(email)) {
      // github.com/ibericode/mailchimp-for-wordpress/issues/771
      return {
        title: "Forgotten Email Not Subscribed",
        detail: `${email} was permanently deleted and cannot be re-imported. The contact must re-subscribe to get back on the list.`,
      };
    }
    if (!member && required.length > 0) {
      // A new member without a required merge field, unless skip_merge_validation=true
      // (github.com/ibericode/mailchimp-for-wordpress/issues/545, github.com/verbb/formie/issues/2387).
      return {
        title: "Invalid Resource",
        detail: "Your merge fields were invalid.",
        errors: required.map((field) => ({ field, message: "Please enter a value" })),
      };
    }
    if (this.invalid.has(email))
      return {
        title: "Invalid Resource",
        detail: `${email} looks fake or invalid, please enter a real email address.`,
      };
    return null;
  }

  private batchSubscribe(
    list: Map<string, FakeMember>,
    body: Record<string, unknown>,
    required: readonly string[],
  ): Answer {
    const members = (body.members ?? []) as {
      email_address?: string;
      status?: MemberStatus;
      status_if_new?: MemberStatus;
    }[];
    if (members.length > 500)
      return invalid("members: a maximum of 500 members may be added or updated per call.");
    const update = body.update_existing === true;
    const out = { new_members: [] as unknown[], updated_members: [] as unknown[], errors: [] as unknown[] };
    for (const m of members) {
      const email = String(m.email_address ?? "").toLowerCase();
      const id = hash(email);
      this.stats.touched.add(id);
      const member = list.get(id);
      const exists = member !== undefined;
      const refused = this.refusal(
        email,
        member,
        exists ? m.status : (m.status_if_new ?? m.status),
        required,
      );
      if (refused) {
        // The member's entry in errors[] (BatchUpdateListMembers in the client's model: email_address,
        // error, error_code, field, field_message); a nested reason becomes field/field_message.
        out.errors.push({
          email_address: m.email_address,
          error: refused.errors?.[0]?.message ?? refused.detail,
          error_code: "ERROR_GENERIC",
          field: refused.errors?.[0]?.field ?? "",
          field_message: refused.errors?.[0]?.message ?? "",
        });
        continue;
      }
      if (exists && !update) {
        out.errors.push({
          email_address: m.email_address,
          error: `${email} is already a list member, do you want to update? please provide update_existing:true in the request body`,
          error_code: "ERROR_CONTACT_EXISTS",
          field: "",
          field_message: "",
        });
        continue;
      }
      const a = this.write(list, id, email, m.status, m.status_if_new ?? m.status, required);
      (exists ? out.updated_members : out.new_members).push(a.body);
    }
    return {
      status: 200,
      body: {
        ...out,
        total_created: out.new_members.length,
        total_updated: out.updated_members.length,
        error_count: out.errors.length,
        _links: [],
      },
    };
  }

  private batchRoute(method: string, id: string | undefined, body: Record<string, unknown>): Answer {
    if (method === "POST" && id === undefined) {
      const ops = (body.operations ?? []) as BatchOperation[];
      const batch: Batch = {
        id: randomUUID().replace(/-/g, "").slice(0, 10),
        status: "pending",
        total: ops.length,
        finished: 0,
        errored: 0,
        submittedAt: new Date().toISOString(),
        completedAt: "",
        results: [],
      };
      this.batches.set(batch.id, batch);
      setTimeout(() => this.runBatch(batch, ops), this.batchMs);
      return { status: 200, body: this.presentBatch(batch) };
    }
    const batch = id ? this.batches.get(id) : undefined;
    if (method === "GET" && batch) return { status: 200, body: this.presentBatch(batch) };
    return notFound();
  }

  private runBatch(batch: Batch, ops: BatchOperation[]) {
    batch.status = "started";
    for (const op of ops) {
      this.stats.batchOps++;
      let parsed: Record<string, unknown> = {};
      try {
        parsed = op.body ? JSON.parse(op.body) : {};
      } catch {}
      const query = new URLSearchParams(op.params ?? {});
      const a = this.route(op.method, op.path.startsWith("/") ? op.path : `/${op.path}`, parsed, query);
      const response =
        a.status >= 400
          ? JSON.stringify({
              type: PROBLEM_TYPE,
              status: a.status,
              instance: randomUUID(),
              ...(a.body as object),
            })
          : JSON.stringify(a.body ?? {});
      if (a.status >= 400) batch.errored++;
      batch.finished++;
      batch.results.push({ status_code: a.status, operation_id: op.operation_id ?? "", response });
    }
    batch.status = "finished";
    batch.completedAt = new Date().toISOString();
  }

  private presentBatch(b: Batch) {
    return {
      id: b.id,
      status: b.status,
      total_operations: b.total,
      finished_operations: b.finished,
      errored_operations: b.errored,
      submitted_at: b.submittedAt,
      completed_at: b.completedAt,
      response_body_url:
        b.status === "finished" ? `http://127.0.0.1:${this.server.port}/batch-results/${b.id}.tar.gz` : "",
      _links: [],
    };
  }
}

/**
 * Results in files of up to 500 entries, like the real archives, written by tar-stream (pax
 * headers for long names; test/fixtures/mailchimp holds archives made by GNU tar itself).
 */
async function resultsArchive(b: Batch): Promise<Uint8Array> {
  const tar = pack();
  for (let i = 0; i < b.results.length; i += 500)
    tar.entry({ name: `${b.id}/${i / 500}.json` }, JSON.stringify(b.results.slice(i, i + 500)));
  tar.finalize();
  const chunks: Uint8Array[] = [];
  for await (const chunk of tar) chunks.push(chunk as Uint8Array);
  return gzipSync(Buffer.concat(chunks));
}

/**
 * GET /lists/{id}/members, the query parameters the official client's `getListMembersInfo` passes
 * (node_modules/@mailchimp/mailchimp_marketing/src/api/ListsApi.js): `status`, `count` (default
 * 10, at most 1000), `offset`, `since_last_changed` (members whose information changed after it),
 * `sort_field` (`last_changed`) with `sort_dir` (ASC/DESC), and `fields` with dot notation for the
 * members' fields ("members.email_address"; partial responses, the fundamentals page). The answer
 * is `{members, list_id, total_items}` (the client's model ListMembers2). Out-of-range paging
 * values are clamped here; the docs say what they mean, not what a wrong one answers.
 */
function listMembers(list: Map<string, FakeMember>, query: URLSearchParams): Answer {
  const status = query.get("status");
  const since = query.get("since_last_changed");
  const sinceMs = since ? Date.parse(since) : null;
  let members = [...list.entries()].filter(
    ([, m]) =>
      (status === null || m.status === status) &&
      (sinceMs === null || Date.parse(m.lastChanged ?? "") > sinceMs),
  );
  if (query.get("sort_field") === "last_changed") {
    const dir = query.get("sort_dir") === "DESC" ? -1 : 1;
    // Ties keep one order (by id), so offset paging is stable while nothing changes. The times
    // are all in one format, so they compare as text.
    members = members.sort(([ia, a], [ib, b]) => {
      const x = a.lastChanged ?? "";
      const y = b.lastChanged ?? "";
      return dir * (x < y ? -1 : x > y ? 1 : 0) || (ia < ib ? -1 : 1);
    });
  }
  const count = Math.min(1000, Math.max(1, Number(query.get("count") ?? 10) || 10));
  const offset = Math.max(0, Number(query.get("offset") ?? 0) || 0);
  const page = members.slice(offset, offset + count).map(([id, m]) => ({
    ...present(id, m),
    last_changed: m.lastChanged ?? "",
    unsubscribe_reason: m.unsubscribeReason ?? "",
  }));
  const body: Record<string, unknown> = { members: page, total_items: members.length };
  const fields = query.get("fields")?.split(",");
  if (!fields) return { status: 200, body };
  const memberFields = fields.filter((f) => f.startsWith("members.")).map((f) => f.slice(8));
  return {
    status: 200,
    body: {
      ...Object.fromEntries(fields.filter((f) => !f.includes(".") && f in body).map((f) => [f, body[f]])),
      ...(memberFields.length > 0
        ? {
            members: page.map((m) =>
              Object.fromEntries(memberFields.map((f) => [f, (m as Record<string, unknown>)[f]])),
            ),
          }
        : {}),
    },
  };
}

/** `2015-10-21T15:41:36+00:00`: the API's time format (second precision, numeric offset). */
function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}+00:00`;
}

export function hash(email: string): string {
  return createHash("md5").update(email.toLowerCase()).digest("hex");
}

function present(id: string, m: FakeMember) {
  return { id, email_address: m.email, status: m.status, tags: [...m.tags].map((name) => ({ name })) };
}

function notFound(): Answer {
  return {
    status: 404,
    body: { title: "Resource Not Found", detail: "The requested resource could not be found." },
  };
}

function invalid(detail: string): Answer {
  // "Invalid Resource" is the title of a 400 that failed validation (the errors page's glossary).
  return { status: 400, body: { title: "Invalid Resource", detail } };
}

function problem(
  status: number,
  title: string,
  detail: string,
  errors?: { field: string; message: string }[],
): Response {
  return new Response(
    JSON.stringify({
      type: PROBLEM_TYPE,
      title,
      status,
      detail,
      instance: randomUUID(),
      ...(errors ? { errors } : {}),
    }),
    { status, headers: { "content-type": "application/problem+json; charset=utf-8" } },
  );
}

function htmlError(): Response {
  return new Response(
    "<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body></html>",
    {
      status: 503,
      headers: { "content-type": "text/html" },
    },
  );
}
