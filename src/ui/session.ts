import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Logins to the status page. A session is a random id in an HttpOnly cookie, known only to this
 * process's memory: a restart or a reload (which may have revoked a token) logs everyone out, and
 * nothing about it is written anywhere. Each session carries its own CSRF token for the forms
 * that post (logout, lookup).
 */
export interface Session {
  csrf: string;
  expiresAt: number;
}

/** A bound on memory if someone logs in in a loop: the oldest session goes first. */
const MAX_SESSIONS = 1000;

export const randomToken = () => randomBytes(32).toString("base64url");

export class Sessions {
  private readonly byId = new Map<string, Session>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: () => number,
  ) {}

  create(): { id: string; session: Session } {
    const now = this.clock();
    for (const [id, s] of this.byId) if (s.expiresAt <= now) this.byId.delete(id);
    while (this.byId.size >= MAX_SESSIONS) {
      const oldest = this.byId.keys().next().value;
      if (oldest === undefined) break;
      this.byId.delete(oldest);
    }
    const id = randomToken();
    const session = { csrf: randomToken(), expiresAt: now + this.ttlMs };
    this.byId.set(id, session);
    return { id, session };
  }

  get(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.byId.get(id);
    if (!s) return null;
    if (s.expiresAt <= this.clock()) {
      this.byId.delete(id);
      return null;
    }
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.byId.delete(id);
  }
}

/** Constant-time equality of two strings of any length (compared as SHA-256 digests). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Whether `given` is one of `tokens`; every token is compared, so timing says nothing. */
export function isOneOf(given: string, tokens: readonly string[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(digest(t), d) || ok;
  return ok;
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}
