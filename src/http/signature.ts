import { unauthorized } from "../errors.ts";
import { NativeHmac } from "./hmac.ts";

/** The three signature headers, read under either naming convention. */
export interface SignedHeaders {
  id: string;
  timestamp: string;
  signature: string;
}

/**
 * Svix (Resend's sender) names the headers `svix-id`, `svix-timestamp`, `svix-signature`; the
 * Standard Webhooks spec, which Svix implements, names the same values `webhook-id`,
 * `webhook-timestamp`, `webhook-signature` (standardwebhooks.com, "Signature scheme"). Both are
 * accepted. A request must carry one complete set: mixing names from both (say `svix-id` with
 * `webhook-signature`) is refused, so the id that becomes the idempotency key is always the one
 * that was signed alongside the signature being checked. Both complete sets with the same values
 * (a proxy that copies them) are one set.
 */
export function signatureHeaders(get: (name: string) => string | undefined): SignedHeaders {
  const svix = { id: get("svix-id"), timestamp: get("svix-timestamp"), signature: get("svix-signature") };
  const std = {
    id: get("webhook-id"),
    timestamp: get("webhook-timestamp"),
    signature: get("webhook-signature"),
  };
  const any = (h: typeof svix) =>
    h.id !== undefined || h.timestamp !== undefined || h.signature !== undefined;
  const same = svix.id === std.id && svix.timestamp === std.timestamp && svix.signature === std.signature;
  if (any(svix) && any(std) && !same) {
    throw unauthorized(
      "invalid_signature",
      "The request mixes svix-* and webhook-* signature headers: send one complete set (svix-id, svix-timestamp, svix-signature, or webhook-id, webhook-timestamp, webhook-signature).",
    );
  }
  const [h, prefix] = any(std) && !any(svix) ? [std, "webhook"] : [svix, "svix"];
  const missing = (["id", "timestamp", "signature"] as const).filter((k) => !h[k]);
  if (missing.length > 0) {
    throw unauthorized(
      "invalid_signature",
      any(h)
        ? `Missing ${missing.map((k) => `${prefix}-${k}`).join(", ")} header: this endpoint only accepts webhooks signed by Resend.`
        : "Missing svix-id, svix-timestamp or svix-signature header (or their webhook-* equivalents): this endpoint only accepts webhooks signed by Resend.",
    );
  }
  return h as SignedHeaders;
}

/** The message id of a delivery under either header name, for logs (unverified: keep it short). */
export function deliveryId(get: (name: string) => string | undefined): string | undefined {
  return get("svix-id") ?? get("webhook-id");
}

/**
 * Verifies Svix signatures against every configured secret, so a secret can be rotated by adding
 * the new one before removing the old. The check is svix's, with a native HMAC (hmac.ts), and
 * includes its ±5 minute timestamp tolerance.
 */
export class SignatureVerifier {
  private readonly keys: NativeHmac[];
  constructor(secrets: readonly string[], now?: () => number) {
    this.keys = secrets.map((s) => new NativeHmac(s, now));
  }

  /** Throws a 401 AppError unless `body` (exactly as received) is signed by one of our secrets. */
  verify(body: string, headers: SignedHeaders): void {
    if (headers.id.length > 200)
      throw unauthorized("invalid_signature", "The message id header is too long.");
    let reason = "";
    for (const key of this.keys) {
      const failure = key.check(headers.id, headers.timestamp, headers.signature, body);
      if (failure === null) return;
      reason = failure;
    }
    if (/too old|too new/i.test(reason)) {
      throw unauthorized(
        "invalid_signature",
        `The signature timestamp is outside the 5-minute tolerance (${reason}); check the clock.`,
      );
    }
    throw unauthorized(
      "invalid_signature",
      "The signature does not match any configured webhook secret (resend.webhookSecrets).",
    );
  }
}
