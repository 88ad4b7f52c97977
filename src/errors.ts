/**
 * Exit codes, the same for every command (sysexits.h where one fits):
 * 0 success · 1 `check`: the address is suppressed; `status`: a sink is failing or jobs are dead
 * · 2 usage error · 65 `import`: some rows were not imported (EX_DATAERR) · 69 the daemon or
 * database is unavailable · 70 internal error · 73 an output file cannot be created · 78
 * configuration error.
 */
export const EXIT = {
  ok: 0,
  suppressed: 1,
  attention: 1,
  usage: 2,
  data: 65,
  unavailable: 69,
  internal: 70,
  cantCreate: 73,
  config: 78,
} as const;

/**
 * Every kind of error raised on purpose, with what HTTP answers and what the CLI exits with: the
 * one table both read. A refused request is the caller's to fix (exit 2 on the command line);
 * `unavailable` asks to retry later, never a 2xx (Resend retries on 5xx).
 */
export const ERROR_KINDS = {
  bad_request: { status: 400, exit: EXIT.usage },
  unauthorized: { status: 401, exit: EXIT.usage },
  forbidden: { status: 403, exit: EXIT.usage },
  not_found: { status: 404, exit: EXIT.usage },
  conflict: { status: 409, exit: EXIT.usage },
  too_large: { status: 413, exit: EXIT.usage },
  unavailable: { status: 503, exit: EXIT.unavailable },
  config: { status: 500, exit: EXIT.config },
  cannot_create: { status: 500, exit: EXIT.cantCreate },
  internal: { status: 500, exit: EXIT.internal },
} as const satisfies Record<string, { status: number; exit: number }>;

export type ErrorKind = keyof typeof ERROR_KINDS;

/**
 * The one error type the daemon raises on purpose. HTTP renders it as
 * `{"error": code, "message": message}` with `status`; the CLI prints the message and exits with
 * `exitCode`; both come from its kind. Anything else that escapes is a bug and becomes a 500 /
 * exit 70.
 */
export class AppError extends Error {
  readonly status: number;
  readonly exitCode: number;

  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_KINDS[kind].status;
    this.exitCode = ERROR_KINDS[kind].exit;
  }
}

export const badRequest = (code: string, message: string) => new AppError("bad_request", code, message);
export const unauthorized = (code: string, message: string) => new AppError("unauthorized", code, message);
export const forbidden = (code: string, message: string) => new AppError("forbidden", code, message);
export const notFound = (code: string, message: string) => new AppError("not_found", code, message);
export const conflict = (code: string, message: string) => new AppError("conflict", code, message);
/** The database could not commit: the caller (Resend) must retry, so never a 2xx. */
export const unavailable = (message: string, code = "unavailable") =>
  new AppError("unavailable", code, message);
export const configError = (message: string) => new AppError("config", "config_invalid", message);
/** A command-line mistake: wrong arguments or options. */
export const usageError = (message: string) => new AppError("bad_request", "usage", message);
