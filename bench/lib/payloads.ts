import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "svix";

/** The signing secret and API token every bench target is configured with. Loopback only. */
export const BENCH_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
export const BENCH_TOKEN = "bench-token-0123456789abcdef";

/**
 * "bench" (the default, issue 2): mostly deliveries and opens, with the events that change the
 * list (hard and soft bounces, complaints) frequent enough that most commits write suppressions.
 * "real" (issue 14): the stream of a real sending account, where each email gives one
 * `email.sent`, nearly always one `email.delivered`, an open for about half of those, a click for
 * a few, and bounces and complaints are a few percent together.
 */
export const MIXES = {
  bench: [
    ["delivered", 35],
    ["opened", 25],
    ["hard_bounce", 15],
    ["soft_bounce", 15],
    ["complaint", 10],
  ],
  real: [
    ["sent", 380],
    ["delivered", 360],
    ["opened", 180],
    ["clicked", 50],
    ["hard_bounce", 15],
    ["soft_bounce", 10],
    ["complaint", 5],
  ],
} as const satisfies Record<string, readonly (readonly [Kind, number])[]>;
export type Mix = keyof typeof MIXES;
const IGNORED: ReadonlySet<Kind> = new Set(["sent", "opened", "clicked"]);
type Kind = "sent" | "delivered" | "opened" | "clicked" | "hard_bounce" | "soft_bounce" | "complaint";

/** Recipients are drawn from a population this size, so soft bounces accumulate and repeat. */
const POPULATION = 200_000;

const SUBJECTS = ["Your receipt", "Weekly digest", "Confirm your address", "New features this month"];
const SOFT = [
  { type: "Transient", subType: "MailboxFull", message: "The recipient's inbox is full." },
  { type: "Undetermined", subType: "General", message: "The email bounced for an unknown reason." },
  { type: "Transient", subType: "General", message: "The recipient's server is temporarily unavailable." },
];

/** A body shaped like Resend's (see test/fixtures/resend), with fresh ids and times. */
export function resendBody(kind: Kind, n: number, now: Date): string {
  const to = `reader${n % POPULATION}@mail${n % 89}.example.com`;
  const sent = new Date(now.getTime() - 2_000).toISOString();
  const data: Record<string, unknown> = {
    broadcast_id: randomUUID(),
    created_at: sent,
    email_id: randomUUID(),
    from: "Acme <news@acme.example>",
    to: n % 7 === 0 ? [`Reader ${n} <${to}>`] : [to],
    subject: SUBJECTS[n % SUBJECTS.length],
    tags: { category: "newsletter" },
  };
  if (kind === "hard_bounce") {
    data.bounce = {
      message: "The recipient's email provider rejected the email because the address does not exist.",
      subType: "General",
      type: "Permanent",
      diagnosticCode: ["smtp; 550 5.1.1 user unknown"],
    };
  } else if (kind === "soft_bounce") {
    data.bounce = SOFT[n % SOFT.length];
  } else if (kind === "opened") {
    data.open = { ipAddress: "198.51.100.7", userAgent: "Mozilla/5.0", timestamp: now.toISOString() };
  } else if (kind === "clicked") {
    data.click = {
      ipAddress: "198.51.100.7",
      link: `https://acme.example/offer/${n % 13}`,
      timestamp: now.toISOString(),
      userAgent: "Mozilla/5.0",
    };
  }
  const type = {
    sent: "email.sent",
    clicked: "email.clicked",
    delivered: "email.delivered",
    opened: "email.opened",
    hard_bounce: "email.bounced",
    soft_bounce: "email.bounced",
    complaint: "email.complained",
  }[kind];
  return JSON.stringify({ type, created_at: now.toISOString(), data });
}

export function kindOf(n: number, mix: Mix): Kind {
  const MIX = MIXES[mix];
  const total = MIX.reduce((s, [, w]) => s + w, 0);
  // A multiplicative hash spreads the kinds evenly but not periodically over the pool.
  let r = Math.imul(n + 1, 2654435761) >>> 0;
  r %= total;
  for (const [kind, w] of MIX) {
    if (r < w) return kind;
    r -= w;
  }
  return "delivered";
}

export interface Pool {
  /** One file per wrk thread: `${prefix}-${thread}.tsv`. */
  prefix: string;
  /** The svix-ids of each thread's file, in the order its lines will be sent. */
  ids: string[][];
  /** The ids of types suppressd does not act on (sent, opened, clicked): unstored with resend.recordIgnored false. */
  ignored: Set<string>;
  count: number;
  signMs: number;
}

/**
 * Writes `count` distinct signed deliveries, dealt round-robin over `threads` files. Each line is
 * `svix-id \t svix-timestamp \t svix-signature \t body` (JSON.stringify never emits a raw tab or
 * newline), read by bench/lua/ingest.lua. Signed now, so use them within Svix's 5-minute tolerance.
 */
export function writePool(
  dir: string,
  label: string,
  count: number,
  threads: number,
  mix: Mix = "bench",
): Pool {
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  const hook = new Webhook(BENCH_SECRET);
  const now = new Date();
  const stamp = String(Math.floor(now.getTime() / 1000));
  const run = `${label}_${now.getTime().toString(36)}`;
  const lines: string[][] = Array.from({ length: threads }, () => []);
  const ids: string[][] = Array.from({ length: threads }, () => []);
  const ignored = new Set<string>();
  for (let n = 0; n < count; n++) {
    const id = `msg_bench_${run}_${n}`;
    const kind = kindOf(n, mix);
    if (IGNORED.has(kind)) ignored.add(id);
    const body = resendBody(kind, n, now);
    const signature = hook.sign(id, now, body);
    const t = n % threads;
    lines[t]?.push(`${id}\t${stamp}\t${signature}\t${body}`);
    ids[t]?.push(id);
  }
  const prefix = join(dir, `pool-${run}`);
  for (let t = 0; t < threads; t++) writeFileSync(`${prefix}-${t}.tsv`, `${(lines[t] ?? []).join("\n")}\n`);
  return { prefix, ids, ignored, count, signMs: performance.now() - started };
}
