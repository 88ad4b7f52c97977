import type { Context } from "hono";
import type { z } from "zod";
import { AppError, badRequest } from "../errors.ts";

/** The request body as JSON, or a 400 that says what is wrong with it. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text().catch(cutShort);
  if (text.trim() === "") return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw badRequest("invalid_json", `The body is not valid JSON: ${(e as Error).message}`);
  }
  const path = illFormedAt(value);
  if (path !== null) {
    throw badRequest(
      "invalid_text",
      `${path || "body"}: contains a lone UTF-16 surrogate (a "\\ud800"-style escape without its pair, ` +
        "as when text is cut in the middle of an emoji); send well-formed Unicode text.",
    );
  }
  return value;
}

/**
 * Where the first string (or key) holding a lone surrogate is, as `a.b.0`; null when there is none.
 * Such text has no UTF-8 form: stored, it would read back as something else. Walked with a stack,
 * not recursion (a body may be nested thousands deep), and the path is spelled only when found.
 */
export function illFormedAt(root: unknown): string | null {
  type Step = { key: string; up: Step | null } | null;
  const spell = (s: Step): string => {
    const keys: string[] = [];
    for (let at = s; at; at = at.up) keys.push(at.key);
    return keys.reverse().join(".").slice(0, 200).toWellFormed();
  };
  const stack: [unknown, Step][] = [[root, null]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [value, step] = next;
    if (typeof value === "string") {
      if (!value.isWellFormed()) return spell(step);
    } else if (value !== null && typeof value === "object") {
      for (const [key, v] of Object.entries(value)) {
        if (!key.isWellFormed()) return spell({ key, up: step });
        stack.push([v, { key, up: step }]);
      }
    }
  }
  return null;
}

/**
 * For a body read that failed: a client that hung up before its body arrived (Bun rejects the
 * read with an AbortError) is a 400 in the request log, not an internal error to page anyone about.
 */
export function cutShort(e: unknown): never {
  if ((e as Error)?.name === "AbortError") {
    throw badRequest(
      "body_incomplete",
      "The connection closed before the whole body arrived; nothing was stored.",
    );
  }
  throw e;
}

/** `value` checked against `schema`, or a 400 naming each field that is wrong. */
export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ");
    throw badRequest("invalid_request", detail);
  }
  return result.data;
}

/**
 * A webhook's body, at most `limit` bytes (`server.bodyLimitBytes`), else 413. A declared
 * Content-Length is checked before anything is read; a chunked body is counted as it arrives and
 * refused as soon as it passes the limit. A client that hung up before its body arrived is a 400.
 */
export function readBody(req: Request, limit: number): Promise<Uint8Array> {
  const length = req.headers.get("content-length");
  if (length !== null && !req.headers.has("transfer-encoding")) {
    if (Number.parseInt(length, 10) > limit) tooLarge(limit);
    // Not an async function, and bytes() rather than a view over arrayBuffer(): this runs for
    // every delivery, and each promise and wrapper it allocates brings the main thread's next
    // garbage-collection pause closer (issue 14).
    return req.bytes().catch(cutShort);
  }
  return readChunked(req, limit);
}

async function readChunked(req: Request, limit: number): Promise<Uint8Array> {
  if (req.body === null) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read().catch(cutShort);
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): never {
  throw new AppError(
    "too_large",
    "payload_too_large",
    `Webhook bodies are limited to ${limit} bytes (server.bodyLimitBytes).`,
  );
}
