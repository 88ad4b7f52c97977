import { AppError } from "../errors.ts";

/**
 * How every route answers an error: an AppError as its status with `{error, message}`; anything
 * else is a 500 that says it was logged, after `unexpected` logged it. Hono's `onError` (app.ts)
 * and the Resend webhook route, which bypasses Hono, both answer through it.
 */
export function errorAnswer(
  err: unknown,
  unexpected: (err: unknown) => void,
): { status: number; body: { error: string; message: string } } {
  if (err instanceof AppError) return { status: err.status, body: { error: err.code, message: err.message } };
  unexpected(err);
  return { status: 500, body: { error: "internal", message: "Internal error; it has been logged." } };
}
