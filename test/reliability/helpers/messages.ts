/**
 * Resend messages with known effects, for load that is checked afterwards. Each message names the
 * addresses it is about and what the database must show for it once it was acknowledged, so a
 * run can be judged from the database alone: nothing acknowledged missing, nothing applied twice.
 */

export type MessageKind = "suppress" | "pair" | "repeat" | "soft" | "ignored";

export interface Message {
  /** The svix-id: the same on every retry of this message. */
  id: string;
  body: string;
  kind: MessageKind;
  /** Recipients, normalised: one history row per (id, address) once acknowledged. */
  emails: string[];
  /** Whether every recipient must end suppressed (and reach every audience). */
  suppresses: boolean;
  /**
   * The webhook_events status the message must have; null: acknowledged without a row (a type
   * nothing acts on, with resend.recordIgnored at its default, false).
   */
  stored: "processed" | null;
}

/** One suppressing event for `email`, in one of the shapes Resend sends. */
function suppressing(email: string, n: number, at: string): string {
  switch (n % 5) {
    case 0:
      return envelope("email.bounced", at, {
        to: [`Reader ${n} <${email}>`],
        bounce: { type: "Permanent", subType: "General", message: "550 5.1.1 user unknown" },
      });
    case 1:
      return envelope("email.complained", at, { to: [email] });
    case 2:
      return envelope("email.suppressed", at, { to: [email], suppressed: { type: "bounce", message: "" } });
    case 3:
      return envelope("suppression.added", at, {
        id: `sup_${n}`,
        email,
        origin: "bounce",
        source_id: `em_${n}`,
        created_at: at,
      });
    default:
      return envelope("contact.updated", at, { id: `ct_${n}`, email, unsubscribed: true });
  }
}

function envelope(type: string, createdAt: string, data: Record<string, unknown>): string {
  return JSON.stringify({ type, created_at: createdAt, data });
}

/**
 * An endless supply of messages under `prefix` (unique per run): mostly new suppressions, some
 * with two recipients, repeats for addresses already used (a different svix-id: a second event,
 * not a retry), soft bounces (history, no suppression) and opens (acknowledged, ignored).
 */
export class MessageSource {
  readonly all: Message[] = [];
  private n = 0;
  private readonly suppressed: string[] = [];

  constructor(
    private readonly prefix: string,
    private readonly domain = "reliability.example",
  ) {}

  next(): Message {
    const n = this.n++;
    const id = `msg_${this.prefix}_${n}`;
    const at = new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString();
    const fresh = () => `${this.prefix}-${n}@${this.domain}`;
    let m: Message;
    const roll = n % 20;
    if (roll === 7 && this.suppressed.length > 0) {
      const email = this.suppressed[(n * 7919) % this.suppressed.length] as string;
      m = {
        id,
        body: suppressing(email, n + 1, at),
        kind: "repeat",
        emails: [email],
        suppresses: true,
        stored: "processed",
      };
    } else if (roll === 11) {
      const a = `${this.prefix}-${n}a@${this.domain}`;
      const b = `${this.prefix}-${n}b@${this.domain}`;
      const body = envelope("email.bounced", at, {
        to: [a, `B <${b.toUpperCase()}>`],
        bounce: { type: "hard" },
      });
      m = { id, body, kind: "pair", emails: [a, b], suppresses: true, stored: "processed" };
      this.suppressed.push(a, b);
    } else if (roll === 13) {
      const body = envelope("email.bounced", at, { to: [fresh()], bounce: { type: "Transient" } });
      m = { id, body, kind: "soft", emails: [fresh()], suppresses: false, stored: "processed" };
    } else if (roll === 17) {
      m = {
        id,
        body: envelope("email.opened", at, { to: [fresh()], email_id: `em_${n}` }),
        kind: "ignored",
        emails: [],
        suppresses: false,
        stored: null,
      };
    } else {
      const email = fresh();
      m = {
        id,
        body: suppressing(email, n, at),
        kind: "suppress",
        emails: [email],
        suppresses: true,
        stored: "processed",
      };
      this.suppressed.push(email);
    }
    this.all.push(m);
    return m;
  }

  /** Every address that must end suppressed. */
  suppressedAddresses(): string[] {
    return [...new Set(this.all.filter((m) => m.suppresses).flatMap((m) => m.emails))];
  }
}
