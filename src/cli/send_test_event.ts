import { randomBytes } from "node:crypto";
import { Webhook } from "svix";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { unavailable } from "../errors.ts";
import { normalizeAddress } from "../events/address.ts";
import { SAMPLE_TYPES, type SampleOptions, sampleEvent, testAddress } from "../events/samples.ts";
import { dialableHost } from "../http/serve.ts";
import { selfCommand } from "../self_command.ts";
import { type Command, EXIT, usageError } from "./command.ts";

/** Resend (Svix) gives up on an attempt after about 15 s; so do we. */
const TIMEOUT_MS = 15_000;
const ORIGINS = ["bounce", "complaint", "manual"] as const;

export const sendTestEvent: Command = {
  name: "send-test-event",
  summary:
    "Sign a realistic sample Resend event with the configured secret and post it to the running daemon.",
  usage: `send-test-event TYPE [EMAIL] [--url URL] [--soft] [--subscribed] [--origin ORIGIN]

Tests the webhook endpoint end to end, safe on a production daemon. The event is marked as a test:
the daemon records it (\`check\` shows it) and never sends it to a sink. EMAIL defaults to one of
Resend's test addresses, which cannot be a person (such as complained+suppressd-test@resend.dev).
TYPE is one of:
${SAMPLE_TYPES.map((t) => `  ${t.type.padEnd(24)}${t.describe}`).join("\n")}

Exit 0 when the daemon answers 2xx; 69 when it cannot be reached or answers an error; 78 when it
rejects the signature (it is not using this configuration's resend.webhookSecrets).`,
  options: {
    url: {
      type: "string",
      description: "where to post (default: http://server.host:server.port/webhooks/resend from config)",
    },
    soft: { type: "boolean", description: "email.bounced: a transient (soft) bounce" },
    subscribed: { type: "boolean", description: "contact.updated: re-subscribed instead of unsubscribed" },
    origin: {
      type: "string",
      description: "suppression.added/removed: bounce (default), complaint or manual",
    },
  },
  async run({ positionals, values }) {
    const [type, given, ...extra] = positionals;
    if (type === undefined || extra.length > 0) {
      throw usageError(
        `expected TYPE and optionally EMAIL: ${selfCommand()} send-test-event email.complained`,
      );
    }
    const origin = values.origin as string | undefined;
    if (origin !== undefined && !(ORIGINS as readonly string[]).includes(origin)) {
      throw usageError(`--origin must be one of ${ORIGINS.join(", ")}.`);
    }
    const opts: SampleOptions = {
      soft: values.soft === true,
      subscribed: values.subscribed === true,
      origin: origin as SampleOptions["origin"],
    };
    const to = given ?? testAddress(type, opts);
    if (normalizeAddress(to) === null) throw usageError(`${JSON.stringify(to)} is not an email address.`);
    const body = sampleEvent(type, to, opts);
    if (body === null) {
      throw usageError(
        `unknown event type ${JSON.stringify(type)}. Known types: ${SAMPLE_TYPES.map((t) => t.type).join(", ")}.`,
      );
    }
    const { config } = loadConfig({
      flag: values.config as string | undefined,
      allowDevelopment: "existing",
    });
    const url = (values.url as string | undefined) ?? defaultUrl(config);
    const id = `msg_test_${randomBytes(12).toString("hex")}`;
    const now = new Date();
    // The first secret is the current one; the others are only accepted while rotating.
    const signature = new Webhook(config.resend.webhookSecrets[0] as string).sign(id, now, body);
    process.stdout.write(
      `POST ${url}\n  ${type} for ${to}, svix-id ${id}\n  marked as a test: recorded, never sent to a sink\n`,
    );

    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "user-agent": "suppressd send-test-event",
          "svix-id": id,
          "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
          "svix-signature": signature,
        },
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: "manual",
      });
    } catch (e) {
      const why = (e as Error)?.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : e;
      throw unavailable(
        `Could not reach ${url} (${(e as Error)?.message ?? why}). Is the daemon running? ` +
          `Start it with \`${selfCommand()} serve\` (same --config), or pass --url.`,
      );
    }
    const text = await res.text();
    process.stdout.write(`HTTP ${res.status} ${text.slice(0, 2000)}\n`);
    if (res.ok) {
      process.stdout.write(`See the effect: ${selfCommand()} check ${normalizeAddress(to)}\n`);
      return EXIT.ok;
    }
    if (res.status === 401) {
      process.stderr.write(
        "The daemon rejected the signature: it is not using this configuration's resend.webhookSecrets " +
          "(pass the same --config to both), or the clocks differ by more than 5 minutes.\n",
      );
      return EXIT.config;
    }
    return EXIT.unavailable;
  },
};

/** The daemon's own address from the config; a wildcard bind is reached over loopback. */
export function defaultUrl(config: Config): string {
  const { host, port, tls } = config.server;
  if (port === 0) {
    throw usageError("server.port is 0 (a random port): pass the daemon's address with --url.");
  }
  return `${tls ? "https" : "http"}://${dialableHost(host)}:${port}/webhooks/resend`;
}
