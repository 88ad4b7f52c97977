import { Webhook } from "svix";
import { unauthorized } from "../errors.ts";

/**
 * Verifies Svix signatures against every configured secret, so a secret can be rotated by adding
 * the new one before removing the old. svix checks the ±5 minute timestamp tolerance.
 */
export class SignatureVerifier {
  private readonly hooks: Webhook[];
  constructor(secrets: readonly string[]) {
    this.hooks = secrets.map((s) => new Webhook(s));
  }

  /** Throws a 401 AppError unless `body` (exactly as received) is signed by one of our secrets. */
  verify(body: string, headers: { id?: string; timestamp?: string; signature?: string }): void {
    if (!headers.id || !headers.timestamp || !headers.signature) {
      throw unauthorized(
        "invalid_signature",
        "Missing svix-id, svix-timestamp or svix-signature header: this endpoint only accepts webhooks signed by Resend.",
      );
    }
    if (headers.id.length > 200) throw unauthorized("invalid_signature", "svix-id is too long.");
    let last: unknown;
    for (const hook of this.hooks) {
      try {
        hook.verify(body, {
          "svix-id": headers.id,
          "svix-timestamp": headers.timestamp,
          "svix-signature": headers.signature,
        });
        return;
      } catch (e) {
        last = e;
      }
    }
    const reason = String((last as Error)?.message ?? "");
    if (/too old|too new/i.test(reason)) {
      throw unauthorized(
        "invalid_signature",
        `svix-timestamp is outside the 5-minute tolerance (${reason}); check the clock.`,
      );
    }
    throw unauthorized(
      "invalid_signature",
      "The signature does not match any configured webhook secret (resend.webhookSecrets).",
    );
  }
}
