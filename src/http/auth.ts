import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { unauthorized } from "../errors.ts";

/**
 * Bearer-token check for the API. Tokens are compared as SHA-256 digests with timingSafeEqual, so
 * neither their content nor their length leaks through timing; every configured token is tried.
 */
export function bearerAuth(tokens: readonly string[]): MiddlewareHandler {
  const digests = tokens.map(digest);
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1]) {
      throw unauthorized(
        "unauthorized",
        "Send the API token as 'Authorization: Bearer <token>' (api.tokens in the config).",
      );
    }
    const given = digest(match[1]);
    let ok = false;
    for (const d of digests) ok = timingSafeEqual(d, given) || ok;
    if (!ok) throw unauthorized("unauthorized", "The API token is not one of api.tokens.");
    await next();
  };
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
