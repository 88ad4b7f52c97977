/**
 * The one error type the daemon raises on purpose. HTTP renders it as
 * `{"error": code, "message": message}` with `status`; the CLI prints the message and exits with
 * `exitCode`. Anything else that escapes is a bug and becomes a 500 / exit 70.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const badRequest = (code: string, message: string) => new AppError(400, code, message);
export const unauthorized = (code: string, message: string) => new AppError(401, code, message);
export const notFound = (code: string, message: string) => new AppError(404, code, message);
/** The database could not commit: the caller (Resend) must retry, so never a 2xx. */
export const unavailable = (message: string) => new AppError(503, "unavailable", message);
export const configError = (message: string) => new AppError(500, "config_invalid", message, 78);
