import type { Server } from "bun";

/**
 * A fake listmonk (v5/v6) for the two calls a listmonk sink can make, read from knadh/listmonk's
 * source (paths below are in that repository):
 *
 * - `POST /webhooks/bounce` (cmd/handlers.go: registered only when Settings → Bounces "Enable
 *   bounce webhooks" is on, permission `webhooks:post_bounce`; cmd/bounce.go `BounceWebhook`;
 *   queries/bounces.sql `record-bounce`; docs/docs/content/bounces.md "Webhook API").
 * - `PUT /api/subscribers/query/blocklist` (cmd/subscribers.go `BlocklistSubscribersByQuery`:
 *   route permission `subscribers:manage`, and an SQL `query` also needs `subscribers:sql_query`).
 *
 * Errors are echo's default JSON `{"message": "…"}` (cmd/handlers.go HTTPErrorHandler →
 * echo.DefaultHTTPErrorHandler); texts from i18n/en.json and internal/auth/auth.go as noted.
 */
export interface ListmonkSettings {
  /** Settings → Bounces → "Enable bounce processing" (`bounce.enabled`, default false in schema.sql). */
  bounceEnabled: boolean;
  /** Settings → Bounces → "Enable bounce webhooks" (`bounce.webhooks_enabled`, default false). */
  webhooksEnabled: boolean;
  /** `bounce.actions` default in schema.sql: hard 1 → blocklist, complaint 1 → blocklist, soft 2 → none. */
  actions: Record<
    "hard" | "soft" | "complaint",
    { count: number; action: "none" | "blocklist" | "unsubscribe" | "delete" }
  >;
}

export interface ListmonkSubscriber {
  email: string;
  status: "enabled" | "blocklisted";
  bounces: { type: string; source: string; meta: unknown }[];
}

export class FakeListmonk {
  readonly user = "suppressd";
  readonly token = "lm_token_0123456789";
  /** The API user's role (Admin → Users → User roles). */
  permissions = new Set(["webhooks:post_bounce"]);
  settings: ListmonkSettings = {
    bounceEnabled: true,
    webhooksEnabled: true,
    actions: {
      soft: { count: 2, action: "none" },
      hard: { count: 1, action: "blocklist" },
      complaint: { count: 1, action: "blocklist" },
    },
  };
  readonly subscribers = new Map<string, ListmonkSubscriber>();
  readonly calls: { method: string; path: string; body: string }[] = [];
  private server: Server<undefined> | undefined;

  add(email: string): ListmonkSubscriber {
    const s: ListmonkSubscriber = { email, status: "enabled", bounces: [] };
    this.subscribers.set(email, s);
    return s;
  }

  start(): string {
    this.server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req) => this.handle(req) });
    return `http://127.0.0.1:${this.server.port}`;
  }

  stop() {
    this.server?.stop(true);
  }

  private async handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const body = await req.text();
    this.calls.push({ method: req.method, path: url.pathname, body });
    const route = `${req.method} ${url.pathname}`;
    const webhook = route === "POST /webhooks/bounce" && this.settings.webhooksEnabled;
    // echo's answer for an unregistered route.
    if (!webhook && route !== "PUT /api/subscribers/query/blocklist") return msg(404, "Not Found");
    // internal/auth/auth.go Middleware: `token api_user:access_token`; a wrong pair is 403.
    if (req.headers.get("authorization") !== `token ${this.user}:${this.token}`)
      return msg(403, "invalid API credentials");
    if (webhook) return this.bounce(body);
    return this.queryBlocklist(body);
  }

  /** cmd/bounce.go BounceWebhook + validateBounceFields; the bounce is queued, then recorded. */
  private bounce(body: string): Response {
    if (!this.permissions.has("webhooks:post_bounce"))
      return msg(403, "permission denied: webhooks:post_bounce");
    // "If bounce processing is disabled, a.bounce will be nil" → 503 globals.messages.internalError.
    if (!this.settings.bounceEnabled) return msg(503, "Internal server error");
    let b: { email?: unknown; type?: unknown; source?: unknown; meta?: unknown };
    try {
      b = JSON.parse(body);
    } catch (e) {
      return msg(400, `Invalid data:${(e as Error).message}`);
    }
    if (typeof b.email !== "string" || b.email === "")
      return msg(400, "Invalid fields: email / subscriber_uuid");
    // internal/utils SanitizeEmail lowercases and trims; subscribers.invalidEmail otherwise.
    const email = b.email.trim().toLowerCase();
    if (!/^[^@\s]+@[^@\s]+$/.test(email)) return msg(400, "Invalid email.");
    if (b.type !== "hard" && b.type !== "soft" && b.type !== "complaint")
      return msg(400, "Invalid fields: type");
    // Manager.Record only queues the bounce; record-bounce finds the subscriber by email and
    // does nothing for an unknown one. The answer is 200 {"data": true} either way.
    const sub = this.subscribers.get(email);
    if (sub && sub.status !== "blocklisted") {
      sub.bounces.push({ type: b.type, source: String(b.source ?? ""), meta: b.meta });
      const rule = this.settings.actions[b.type];
      const count = sub.bounces.filter((x) => x.type === b.type).length;
      if (rule.action === "blocklist" && count >= rule.count) sub.status = "blocklisted";
    }
    return Response.json({ data: true });
  }

  private queryBlocklist(body: string): Response {
    if (!this.permissions.has("subscribers:manage")) return msg(403, "permission denied: subscribers:manage");
    const req = JSON.parse(body) as { query?: string };
    // i18n/en.json globals.messages.permissionDenied: "Permission denied: {name}".
    if (req.query && !this.permissions.has("subscribers:sql_query"))
      return msg(403, "Permission denied: subscribers:sql_query");
    const email = /subscribers\.email = '(.*)'$/.exec(req.query ?? "")?.[1]?.replaceAll("''", "'");
    const sub = email === undefined ? undefined : this.subscribers.get(email);
    if (sub) sub.status = "blocklisted";
    return Response.json({ data: true });
  }
}

function msg(status: number, message: string): Response {
  return Response.json({ message }, { status });
}
