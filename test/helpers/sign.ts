import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Webhook } from "svix";
import { SECRET } from "./config.ts";

export const FIXTURES = join(import.meta.dir, "../fixtures/resend");

/** Every sample body in test/fixtures/resend, by file name without `.json`. */
export function fixtures(): Record<string, string> {
  return Object.fromEntries(
    readdirSync(FIXTURES)
      .filter((f) => f.endsWith(".json"))
      .map((f) => [f.replace(/\.json$/, ""), readFileSync(join(FIXTURES, f), "utf8")]),
  );
}

export function fixture(name: string): string {
  return readFileSync(join(FIXTURES, `${name}.json`), "utf8");
}

let counter = 0;
export function newId(): string {
  return `msg_test_${process.pid}_${Date.now()}_${++counter}`;
}

/** Headers Resend (Svix) would send for `body`, signed with `secret` at `at`. */
export function signedHeaders(body: string, opts: { id?: string; secret?: string; at?: Date } = {}) {
  const id = opts.id ?? newId();
  const at = opts.at ?? new Date();
  return {
    "content-type": "application/json",
    "svix-id": id,
    "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
    "svix-signature": new Webhook(opts.secret ?? SECRET).sign(id, at, body),
  };
}

/** A Resend event body: `{type, created_at, data}`. */
export function event(
  type: string,
  data: Record<string, unknown>,
  createdAt = new Date().toISOString(),
): string {
  return JSON.stringify({ type, created_at: createdAt, data });
}

export function bounce(to: string, type = "Permanent", createdAt?: string): string {
  return event("email.bounced", { to: [to], bounce: { type, message: "test" } }, createdAt);
}
