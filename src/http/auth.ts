import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { unauthorized } from "../errors.ts";

/** What a route behind `bearerAuth` knows: the name of the token that was presented. */
export type AuthEnv = { Variables: { tokenName: string } };

/**
 * Bearer-token check for the API. Tokens are compared as SHA-256 digests with timingSafeEqual, so
 * neither their content nor their length leaks through timing; every configured token is tried.
 * The matching token's name is set as `tokenName`, so changes can record who made them.
 */
export function bearerAuth(tokens: readonly { name: string; token: string }[]): MiddlewareHandler<AuthEnv> {
  const digests = tokens.map((t) => ({ name: t.name, digest: digest(t.token) }));
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
    let name: string | null = null;
    for (const d of digests) if (timingSafeEqual(d.digest, given) && name === null) name = d.name;
    if (name === null) throw unauthorized("unauthorized", "The API token is not one of api.tokens.");
    c.set("tokenName", name);
    await next();
  };
}

function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}
