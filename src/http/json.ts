import type { Context } from "hono";
import { badRequest } from "../errors.ts";

/** The request body as JSON, or a 400 that says what is wrong with it. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest("invalid_json", `The body is not valid JSON: ${(e as Error).message}`);
  }
}
