import type { Context } from "hono";
import type { z } from "zod";
import { AppError, badRequest } from "../errors.ts";

/** The request body as JSON, or a 400 that says what is wrong with it. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text().catch(cutShort);
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest("invalid_json", `The body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * For a body read that failed: a client that hung up before its body arrived (Bun rejects the
 * read with an AbortError) is a 400 in the request log, not an internal error to page anyone about.
 */
export function cutShort(e: unknown): never {
  if ((e as Error)?.name === "AbortError") {
    throw new AppError(
      400,
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
