import { Webhook } from "svix";
import { SECRET } from "../../helpers/config.ts";
import type { Message } from "./messages.ts";

/**
 * Delivers messages the way Resend does: over many connections at once, and until a 2xx. A failed
 * delivery (refused connection, reset, 503, timeout) is retried with the same svix-id and a new
 * timestamp and signature, after a pause that grows (Resend waits 5 s, 5 min, 30 min, …; here
 * milliseconds, so a test run covers many retries). Some acknowledged messages are delivered again
 * later, as Resend's duplicates and dashboard replays are: those must answer `duplicate`.
 *
 * Bounded: stops taking new messages when `next` returns null or `stopAt` passes, and stops
 * retrying at `giveUpAt`.
 */
export interface DriverOptions {
  /** Where to deliver now; null while no daemon is up (the attempt counts as refused). */
  url: () => string | null;
  next: () => Message | null;
  connections: number;
  /** No new messages after this time (ms since epoch). */
  stopAt: number;
  /** No more retries after this time. */
  giveUpAt: number;
  /** Share of acknowledged messages delivered once more later (0 to 1). */
  redeliver?: number;
  secret?: string;
  /** Per attempt; Svix gives up on an answer after about 15 s. */
  timeoutMs?: number;
  /** New messages per second at most (retries and redeliveries not counted); default unbounded. */
  maxRate?: number;
}

export interface DriverResult {
  /** Messages given to the driver, in order. */
  sent: Message[];
  /** svix-id → the status of its first 200 ("processed", "duplicate", "ignored", "quarantined"). */
  acked: Map<string, string>;
  /** Messages that never got a 200 before `giveUpAt`. */
  unacked: Message[];
  attempts: number;
  /** The longest wait for a 200, in ms (a delivery held up by a locked database, say). */
  slowestMs: number;
  /** Failed attempts by cause: "refused", "503", "timeout", … */
  failures: Record<string, number>;
  redelivered: number;
  /**
   * Redeliveries of an acknowledged message answered anything but `duplicate` (so applied again):
   * a lost commit or a double effect. A type nothing acts on has no row to find, so its
   * redelivery is `ignored` again (resend.recordIgnored false, the default), which is harmless.
   */
  appliedAgain: string[];
  /** The first few 503 answers (status and body), to say why the daemon refused. */
  refusals: string[];
  /** Any answer other than 200, 503 or a connection failure (each is a bug: Resend would stop). */
  unexpected: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function drive(o: DriverOptions): Promise<DriverResult> {
  const hook = new Webhook(o.secret ?? SECRET);
  const r: DriverResult = {
    sent: [],
    acked: new Map(),
    unacked: [],
    attempts: 0,
    slowestMs: 0,
    failures: {},
    redelivered: 0,
    appliedAgain: [],
    refusals: [],
    unexpected: [],
  };
  const again: Message[] = [];
  const fail = (why: string) => {
    r.failures[why] = (r.failures[why] ?? 0) + 1;
  };

  /** One attempt: the status of a 200, or null. */
  async function attempt(m: Message): Promise<string | null> {
    r.attempts++;
    const url = o.url();
    if (url === null) {
      fail("refused");
      return null;
    }
    const at = new Date();
    const headers = {
      "content-type": "application/json",
      "svix-id": m.id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": hook.sign(m.id, at, m.body),
    };
    const sentAt = performance.now();
    try {
      const res = await fetch(`${url}/webhooks/resend`, {
        method: "POST",
        body: m.body,
        headers,
        signal: AbortSignal.timeout(o.timeoutMs ?? 15_000),
      });
      const text = await res.text();
      if (res.status === 200) {
        r.slowestMs = Math.max(r.slowestMs, Math.round(performance.now() - sentAt));
        return (JSON.parse(text) as { status: string }).status;
      }
      if (res.status === 503) {
        fail("503");
        if (r.refusals.length < 5)
          r.refusals.push(`${Math.round(performance.now() - sentAt)} ms: ${text.slice(0, 200)}`);
      } else {
        fail(String(res.status));
        r.unexpected.push(`${m.id}: ${res.status} ${text.slice(0, 200)}`);
      }
    } catch (e) {
      const name = (e as Error)?.name;
      fail(name === "TimeoutError" ? "timeout" : "refused");
    }
    return null;
  }

  /** Until a 200 or `giveUpAt`, pausing longer after each failure. */
  async function deliver(m: Message): Promise<string | null> {
    for (let n = 0; Date.now() < o.giveUpAt; n++) {
      const status = await attempt(m);
      if (status !== null) return status;
      const pause = Math.min(500, 10 * 2 ** n);
      await sleep(pause / 2 + Math.random() * (pause / 2));
    }
    return null;
  }

  const started = Date.now();
  let handedOut = 0;
  /** With maxRate, waits until the next new message is due. */
  async function pace() {
    if (!o.maxRate) return;
    const due = started + (handedOut / o.maxRate) * 1000;
    handedOut++;
    if (due > Date.now()) await sleep(due - Date.now());
  }

  async function connection() {
    for (;;) {
      const replay = Date.now() < o.giveUpAt ? again.shift() : undefined;
      if (replay) {
        r.redelivered++;
        const status = await deliver(replay);
        const harmless = status === "duplicate" || (status === "ignored" && replay.stored === null);
        if (status !== null && !harmless) r.appliedAgain.push(replay.id);
        continue;
      }
      await pace();
      const m = Date.now() < o.stopAt ? o.next() : null;
      if (m === null) return;
      r.sent.push(m);
      const status = await deliver(m);
      if (status === null) {
        r.unacked.push(m);
        continue;
      }
      if (r.acked.has(m.id)) continue;
      r.acked.set(m.id, status);
      if (Math.random() < (o.redeliver ?? 0)) again.push(m);
    }
  }

  await Promise.all(Array.from({ length: o.connections }, connection));
  return r;
}

/** What a delivery run did wrong: answers Resend would not accept, messages never acknowledged, redeliveries applied again. */
export function driverProblems(d: DriverResult, name = "delivery"): string[] {
  return [
    ...d.unexpected.slice(0, 10).map((u) => `${name}: unexpected answer ${u}`),
    ...d.unacked.slice(0, 10).map((m) => `${name}: never acknowledged: ${m.id}`),
    ...d.appliedAgain.slice(0, 10).map((id) => `${name}: redelivery applied again: ${id}`),
  ];
}
