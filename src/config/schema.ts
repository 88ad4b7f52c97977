import { z } from "zod";
import { ipEntryError } from "../net/ip_rules.ts";
import { REASONS } from "../suppression/types.ts";
import { checkTemplate } from "./template.ts";

/**
 * The whole configuration, validated once at start. Every key is documented for operators in
 * config.example.json; keep the two in step.
 */

const secret = z.string().min(1, "must not be empty");
const apiToken = secret.min(16, "use at least 16 characters");
/** Recorded in the history as the actor of the changes made with the token. */
const tokenName = z.string().regex(/^[a-z0-9_.-]{1,64}$/i, "letters, digits, '.', '-' or '_' (at most 64)");

/**
 * What follows `whsec_` is the HMAC key in standard base64 (svix decodes it so). Resend's keys are
 * 24 bytes; `whsec_AA==` (one byte) verified a forged event, and `whsec_` or a non-base64 key made
 * `serve` die with a stack trace inside svix. The message never repeats the secret.
 */
const signingKey = (value: string, ctx: z.RefinementCtx) =>
  signingKeyFrom(value, ctx, "copy it again from Resend's webhook page");

function signingKeyFrom(value: string, ctx: z.RefinementCtx, hint: string) {
  const key = value.slice("whsec_".length);
  if (!value.startsWith("whsec_")) return;
  const problem = !/^[A-Za-z0-9+/]+={0,2}$/.test(key)
    ? "is not base64 after 'whsec_' (only A-Z, a-z, 0-9, '+', '/' and '=' padding)"
    : Buffer.from(key, "base64").length < 24
      ? `decodes to ${Buffer.from(key, "base64").length} bytes; a Resend signing secret has at least 24`
      : null;
  if (problem) ctx.addIssue({ code: "custom", message: `${problem}: ${hint}` });
}

/** An address, a CIDR range, or a name such as "resend" or "loopback" (see net/ip_rules.ts). */
const ipEntry = z.string().superRefine((v, ctx) => {
  const problem = ipEntryError(v);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const softBounce = z
  .object({
    /** Soft bounces within `days` that suppress an address; 0 turns the rule off. */
    count: z.number().int().min(0).default(3),
    days: z.number().positive().default(14),
  })
  .strict();

/**
 * The reasons a sink hears of (default: all). An address reaches the sink while one of these is in
 * force: an unsubscribe from the newsletter must not put an address on a transactional provider's
 * suppression list, where it would block password resets.
 */
const sinkReasons = z
  .array(z.enum(REASONS))
  .min(1, "name at least one reason (leave the key out for all of them)")
  .optional();

/**
 * The secret part of a webhook path (/webhooks/mailchimp/SECRET): it is the only credential, since
 * Mailchimp signs nothing, so it must be long enough not to be guessed.
 */
const pathSecret = secret
  .min(24, "use at least 24 characters (make one: openssl rand -hex 24)")
  .regex(/^[A-Za-z0-9_-]+$/, "letters, digits, '-' and '_' only (it is part of a URL path)");

const mailchimpSink = z
  .object({
    type: z.literal("mailchimp"),
    name: z.string().regex(/^[a-z0-9_-]{1,64}$/i, "letters, digits, '-' or '_' (at most 64)"),
    apiKey: secret.regex(/-[a-z]+\d+$/, "a Mailchimp API key ends in its data centre, like '…-us19'"),
    listIds: z.array(z.string().min(1)).min(1, "name at least one audience (list) id"),
    /** Added to every member we unsubscribe; may use {{reason}} (e.g. "suppressd:{{reason}}"). */
    tag: z.string().min(1).max(100).superRefine(templateProblems).optional(),
    createMissing: z.boolean().default(false),
    baseUrl: z.url().optional(),
    timeoutMs: z.number().int().positive().max(30_000).default(30_000),
    /**
     * Simultaneous connections for this API key. Mailchimp allows 10 per user across all of the
     * customer's apps (https://mailchimp.com/developer/marketing/docs/fundamentals/): the
     * default leaves half to the other integrations.
     */
    maxConnections: z.number().int().min(1).max(10).default(5),
    reasons: sinkReasons,
    /** Turns on POST /webhooks/mailchimp/{webhookSecret}: this sink's audiences tell us of changes. */
    webhookSecret: pathSecret.optional(),
    /**
     * Renamed, not aliased: its old example value (10) took every connection the account has, so
     * keeping it silently would keep starving the customer's other integrations.
     */
    concurrency: z
      .never({
        error:
          'renamed "maxConnections" (default 5): Mailchimp counts 10 simultaneous connections per user across all of the account\'s apps, so leave some to the others',
      })
      .optional(),
  })
  .strict();

const httpSink = z
  .object({
    type: z.literal("http"),
    name: z.string().regex(/^[a-z0-9_-]{1,64}$/i, "letters, digits, '-' or '_' (at most 64)"),
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
    url: z.string().min(1).superRefine(templateProblems),
    headers: z.record(z.string(), z.string().superRefine(templateProblems)).default({}),
    body: z.string().superRefine(templateProblems).optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    doneStatuses: z.array(z.number().int().min(100).max(599)).default([]),
    /** 4xx answers that mean "try again later" for this API (Resend's 409 resource_locked). */
    retryStatuses: z.array(z.number().int().min(400).max(499)).default([]),
    timeoutMs: z.number().int().positive().max(60_000).default(15_000),
    /** Send lifts too; by default a sink only hears about new suppressions. */
    sendLifts: z.boolean().default(false),
    liftMethod: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).optional(),
    liftUrl: z.string().superRefine(templateProblems).optional(),
    liftBody: z.string().superRefine(templateProblems).optional(),
    reasons: sinkReasons,
    /**
     * Signs each request in the Standard Webhooks format (webhook-id, webhook-timestamp,
     * webhook-signature), as svix does; the receiver verifies with the same whsec_ secret.
     */
    signingSecret: secret
      .startsWith(
        "whsec_",
        "a Standard Webhooks secret starts with 'whsec_' (make one: echo whsec_$(openssl rand -base64 32))",
      )
      .superRefine((v, ctx) => signingKeyFrom(v, ctx, "make one: echo whsec_$(openssl rand -base64 32)"))
      .optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    for (const status of s.retryStatuses.filter((x) => s.doneStatuses.includes(x)))
      ctx.addIssue({
        code: "custom",
        path: ["retryStatuses"],
        message: `${status} is in doneStatuses too: an answer is either done or retried`,
      });
  });

export const sinkSchema = z.discriminatedUnion("type", [mailchimpSink, httpSink]);

function templateProblems(value: string, ctx: z.RefinementCtx) {
  for (const message of checkTemplate(value)) ctx.addIssue({ code: "custom", message });
}

/** The outbox worker inside the daemon. */
const sync = z
  .object({
    /** How often an idle worker looks for due jobs. */
    pollMs: z.number().int().min(50).max(60_000).default(1000),
    /** Jobs per claim (one claim may become several bulk calls). */
    claimSize: z.number().int().min(1).max(10_000).default(2000),
    /** Claims being sent at once, so a slow Mailchimp batch does not hold up newer jobs. */
    claimsInFlight: z.number().int().min(1).max(16).default(4),
    /** A claim not renewed for this long (the worker died) goes back to the queue. */
    leaseSeconds: z.number().int().min(10).max(3600).default(60),
    /** A job still failing this long after it was queued is marked dead. */
    giveUpHours: z
      .number()
      .positive()
      .max(24 * 30)
      .default(72),
  })
  .strict();

/** Paths the daemon already answers; the status page may not shadow them. */
const TAKEN_PATHS = ["/v1", "/webhooks", "/metrics", "/healthz", "/readyz"];

/** The read-only status page (src/ui). */
const ui = z
  .object({
    enabled: z.boolean().default(true),
    /** Where it is served; its login and logout forms post below it. */
    path: z
      .string()
      .regex(/^(\/[a-z0-9_-]+)+$/i, "a path such as '/ui' (letters, digits, '-', '_' between slashes)")
      .refine(
        (p) => !TAKEN_PATHS.some((t) => p === t || p.startsWith(`${t}/`)),
        `must not be under ${TAKEN_PATHS.join(", ")}`,
      )
      .default("/ui"),
    /** Tokens that open the page and nothing else (any api.tokens token opens it too). */
    tokens: z.array(secret.min(16, "use at least 16 characters")).default([]),
    /** A login lasts this long; logging out ends it sooner. */
    sessionHours: z
      .number()
      .positive()
      .max(24 * 30)
      .default(12),
    /** The page warns when no webhook arrived for this long. */
    quietMinutes: z.number().positive().default(60),
    /** The figures are recomputed this often (while someone looks), never per request. */
    refreshSeconds: z.number().int().min(1).max(3600).default(30),
    /** Mark the session cookie Secure; null: only when server.tls is set (say true behind an HTTPS proxy). */
    secureCookie: z.boolean().nullable().default(null),
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8025),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(256 * 1024),
        tls: z
          .object({ cert: z.string().min(1), key: z.string().min(1) })
          .strict()
          .nullable()
          .default(null),
        /** Proxies whose X-Forwarded-For is believed (addresses or CIDRs); empty: the socket address. */
        trustProxy: z.array(ipEntry).default([]),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: z
          .string()
          .regex(/^(file:|libsql:|https?:|wss?:)/, "a 'file:', 'libsql://' or 'https://' URL")
          .default("file:./data/suppressd.db"),
        authToken: z.string().nullable().default(null),
        busyTimeoutMs: z.number().int().min(0).default(10),
        // How long a group commit retries another process's write lock before its webhooks get 503
        // (Resend retries them). Tests set it short so a lock past it does not cost 10 s each.
        lockWaitMs: z.number().int().min(0).max(600_000).default(10_000),
        // A local file's commits on a thread of their own (db/writer_thread.ts): about twice the
        // ingest rate and half the read latency under load, for ~16 MiB of memory (issue 14).
        writerThread: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    resend: z
      .object({
        webhookSecrets: z
          .array(
            secret
              .startsWith("whsec_", "a Resend signing secret starts with 'whsec_'")
              .superRefine(signingKey),
          )
          .min(
            1,
            'set at least one signing secret from Resend\'s webhook page, e.g. "env:RESEND_WEBHOOK_SECRET"',
          ),
        /**
         * An API key for reading Resend's lists (`import --from resend`, `reconcile`): a "full
         * access" key, since a "sending access" key is refused every read (401 restricted_api_key).
         */
        apiKey: secret.nullable().default(null),
        /** Resend's API; tests point it at a local fake. */
        apiBaseUrl: z.url().default("https://api.resend.com"),
        /** "resend" for Resend's published addresses, or a list of addresses and CIDRs; null: anyone. */
        allowedIps: z
          .union([z.literal("resend"), z.array(ipEntry).min(1)])
          .nullable()
          .default(null),
        // false: an event of a type nothing acts on (email.sent, email.opened, …) is answered
        // and counted without a durable write (issue 14; see webhook_routes.ts). The default since
        // issue 14: most of a real account's stream, and nothing reads its rows back.
        recordIgnored: z.boolean().default(false),
      })
      .strict(),
    api: z
      .object({
        tokens: z
          .array(z.union([apiToken, z.object({ name: tokenName, token: apiToken }).strict()]))
          .min(
            1,
            'set at least one API token, e.g. "env:SUPPRESSD_API_TOKEN" (make one: openssl rand -hex 24)',
          ),
      })
      .strict()
      // `tokens` stays a list of token strings for every reader; `named` pairs each with the name
      // the history records as the actor of an API change (a plain string is named by position).
      .transform(({ tokens }) => ({
        tokens: tokens.map((t) => (typeof t === "string" ? t : t.token)),
        named: tokens.map((t, i) =>
          typeof t === "string" ? { name: `api.tokens[${i}]`, token: t } : { name: t.name, token: t.token },
        ),
      }))
      .superRefine(({ named }, ctx) => {
        const seen = new Set<string>();
        for (const [i, t] of named.entries()) {
          if (seen.has(t.name))
            ctx.addIssue({
              code: "custom",
              path: ["tokens", i, "name"],
              message: `'${t.name}' is used twice`,
            });
          seen.add(t.name);
        }
      }),
    metrics: z
      .object({
        /** Tokens that may read /metrics and nothing else (any api.tokens token may too). */
        tokens: z.array(secret.min(16, "use at least 16 characters")).default([]),
      })
      .strict()
      .prefault({}),
    policy: z
      .object({ softBounce: softBounce.prefault({}) })
      .strict()
      .prefault({}),
    sinks: z
      .array(sinkSchema)
      .default([])
      .superRefine((sinks, ctx) => {
        const seen = new Set<string>();
        const secrets = new Set<string>();
        for (const [i, s] of sinks.entries()) {
          // The name keys the outbox rows: two sinks with one name would take each other's jobs.
          if (seen.has(s.name))
            ctx.addIssue({ code: "custom", path: [i, "name"], message: `'${s.name}' is used twice` });
          seen.add(s.name);
          // The path secret says which sink a Mailchimp webhook speaks for.
          if (s.type === "mailchimp" && s.webhookSecret !== undefined) {
            if (secrets.has(s.webhookSecret))
              ctx.addIssue({
                code: "custom",
                path: [i, "webhookSecret"],
                message: "another sink uses the same webhookSecret; give each its own",
              });
            secrets.add(s.webhookSecret);
          }
        }
      }),
    sync: sync.prefault({}),
    log: z
      .object({
        level: z.enum(["debug", "info", "warn", "error"]).default("info"),
        /** Hash addresses in log lines (sha256, first 16 hex) so logs hold no personal data. */
        hashAddresses: z.boolean().default(true),
        requests: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    retention: z
      .object({ days: z.number().int().min(2).default(30) })
      .strict()
      .prefault({}),
    privacy: z
      .object({
        /**
         * Keys the HMAC-SHA256 that keeps an erased address suppressed (`forget --keep-suppressed`).
         * A bare hash of an address is reversed by hashing a list of addresses; a keyed one is not,
         * without this key. Changing it makes every erased address mailable again.
         */
        hashKey: secret
          .min(32, "use at least 32 characters (make one: openssl rand -hex 32)")
          .nullable()
          .default(null),
      })
      .strict()
      .prefault({}),
    ui: ui.prefault({}),
    reconcile: z
      .object({
        /** Compare with Mailchimp and Resend this often, report only (0: never; `suppressd reconcile` by hand). */
        everyHours: z
          .number()
          .min(0)
          .max(24 * 30)
          .default(0),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type SinkConfig = z.infer<typeof sinkSchema>;
export type MailchimpSinkConfig = z.infer<typeof mailchimpSink>;
export type UiConfig = z.infer<typeof ui>;
export type HttpSinkConfig = z.infer<typeof httpSink>;
