import { z } from "zod";
import { ipEntryError } from "../http/ip_rules.ts";

/**
 * The whole configuration, validated once at start. Every key is documented for operators in
 * config.example.json; keep the two in step.
 */

const secret = z.string().min(1, "must not be empty");

/** An address, a CIDR range, or a name such as "resend" or "loopback" (see http/ip_rules.ts). */
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

const mailchimpSink = z
  .object({
    type: z.literal("mailchimp"),
    name: z.string().regex(/^[a-z0-9_-]{1,64}$/i, "letters, digits, '-' or '_' (at most 64)"),
    apiKey: secret.regex(/-[a-z]+\d+$/, "a Mailchimp API key ends in its data centre, like '…-us19'"),
    listIds: z.array(z.string().min(1)).min(1, "name at least one audience (list) id"),
    tag: z.string().min(1).optional(),
    createMissing: z.boolean().default(false),
    baseUrl: z.url().optional(),
    timeoutMs: z.number().int().positive().max(30_000).default(30_000),
    concurrency: z.number().int().min(1).max(10).default(10),
  })
  .strict();

const httpSink = z
  .object({
    type: z.literal("http"),
    name: z.string().regex(/^[a-z0-9_-]{1,64}$/i, "letters, digits, '-' or '_' (at most 64)"),
    method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST"),
    url: z.string().min(1),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
    doneStatuses: z.array(z.number().int().min(100).max(599)).default([]),
    timeoutMs: z.number().int().positive().max(60_000).default(15_000),
    /** Send lifts too; by default a sink only hears about new suppressions. */
    sendLifts: z.boolean().default(false),
    liftMethod: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).optional(),
    liftUrl: z.string().optional(),
    liftBody: z.string().optional(),
  })
  .strict();

export const sinkSchema = z.discriminatedUnion("type", [mailchimpSink, httpSink]);

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
        busyTimeoutMs: z.number().int().min(0).default(200),
      })
      .strict()
      .prefault({}),
    resend: z
      .object({
        webhookSecrets: z
          .array(secret.startsWith("whsec_", "a Resend signing secret starts with 'whsec_'"))
          .min(
            1,
            'set at least one signing secret from Resend\'s webhook page, e.g. "env:RESEND_WEBHOOK_SECRET"',
          ),
        /** "resend" for Resend's published addresses, or a list of addresses and CIDRs; null: anyone. */
        allowedIps: z
          .union([z.literal("resend"), z.array(ipEntry).min(1)])
          .nullable()
          .default(null),
      })
      .strict(),
    api: z
      .object({
        tokens: z
          .array(secret.min(16, "use at least 16 characters"))
          .min(
            1,
            'set at least one API token, e.g. "env:SUPPRESSD_API_TOKEN" (make one: openssl rand -hex 24)',
          ),
      })
      .strict(),
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
    sinks: z.array(sinkSchema).default([]),
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
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type SinkConfig = z.infer<typeof sinkSchema>;
export type MailchimpSinkConfig = z.infer<typeof mailchimpSink>;
export type HttpSinkConfig = z.infer<typeof httpSink>;
