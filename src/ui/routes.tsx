/** @jsxImportSource hono/jsx */
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Config } from "../config/schema.ts";
import type { Db } from "../db/client.ts";
import { addressHash, findErased } from "../db/erased.ts";
import { findSuppression, historyOf } from "../db/queries.ts";
import { reasonsOf } from "../db/ui_queries.ts";
import { normalizeAddress } from "../events/address.ts";
import type { Metrics } from "../metrics/metrics.ts";
import { isOneOf, randomToken, type Session, Sessions, sameSecret } from "./session.ts";
import { processCounters, type UiStats } from "./stats.ts";
import { CSP } from "./style.ts";
import { Dashboard } from "./views/dashboard.tsx";
import { ErrorPage, Layout, LoginPage, TopBar } from "./views/layout.tsx";
import { Lookup } from "./views/lookup.tsx";

export interface UiDeps {
  config: Config;
  db: Db;
  clock: () => number;
  metrics: Metrics;
  stats: UiStats;
}

const SESSION_COOKIE = "suppressd_session";
/** Holds the login form's CSRF token until there is a session (double submit). */
const LOGIN_COOKIE = "suppressd_login";

type Env = { Variables: { session: Session | null; sessionId: string | undefined } };

/**
 * The read-only status page, mounted at `ui.path`. Only GET renders; the three POSTs (login,
 * logout, lookup) carry a CSRF token bound to the login cookie or the session, and only login
 * and logout change anything: the session store in memory. Without a session every route answers
 * with the login form and no figure.
 */
export function uiRoutes(deps: UiDeps) {
  const { config } = deps;
  const base = config.ui.path;
  const sessions = new Sessions(config.ui.sessionHours * 3_600_000, deps.clock);
  const secure = config.ui.secureCookie ?? config.server.tls !== null;
  const cookie = { path: base, httpOnly: true, secure, sameSite: "Strict" } as const;

  /** The login form, with a CSRF token the browser also holds in a cookie it sends back. */
  const login = (c: Context<Env>, status: 200 | 401 | 403, error: string | null) => {
    const existing = getCookie(c, LOGIN_COOKIE);
    const csrf = existing && /^[\w-]{43}$/.test(existing) ? existing : randomToken();
    setCookie(c, LOGIN_COOKIE, csrf, { ...cookie, maxAge: 3600 });
    return c.html(<LoginPage base={base} csrf={csrf} error={error} />, status);
  };

  const refused = (c: Context<Env>, message: string) =>
    c.html(<ErrorPage base={base} status={403} message={message} />, 403);

  /** A post from another site (the browser says so) or without the right token is refused. */
  const csrfOk = (c: Context<Env>, given: unknown, expected: string | undefined) => {
    const site = c.req.header("sec-fetch-site");
    if (site && site !== "same-origin" && site !== "none") return false;
    return typeof given === "string" && !!expected && sameSecret(given, expected);
  };

  const app = new Hono<Env>();
  app.use("*", async (c, next) => {
    const started = performance.now();
    const id = getCookie(c, SESSION_COOKIE);
    c.set("sessionId", id);
    c.set("session", sessions.get(id));
    await next();
    c.header("content-security-policy", CSP);
    c.header("x-content-type-options", "nosniff");
    c.header("x-frame-options", "DENY");
    c.header("referrer-policy", "no-referrer");
    c.header("cache-control", "no-store");
    // What a page view cost this process, for bench/ui.ts and the browser's network panel.
    c.header("server-timing", `app;dur=${(performance.now() - started).toFixed(2)}`);
  });

  app.get("/", async (c) => {
    const session = c.get("session");
    if (!session) return login(c, 200, null);
    const snapshot = await deps.stats.snapshot();
    const reveal = /^sha256:[0-9a-f]{16}$/.exec(c.req.query("reveal") ?? "")?.[0] ?? null;
    return c.html(
      <Layout title="suppressd status" header={<TopBar base={base} csrf={session.csrf} />}>
        <Dashboard
          base={base}
          csrf={session.csrf}
          snapshot={snapshot}
          now={deps.clock()}
          quietMinutes={config.ui.quietMinutes}
          refreshSeconds={config.ui.refreshSeconds}
          hashAddresses={config.log.hashAddresses}
          reveal={reveal}
          {...processCounters(deps.metrics)}
        />
      </Layout>,
    );
  });

  app.post("/login", async (c) => {
    const form = await c.req.parseBody();
    if (!csrfOk(c, form.csrf, getCookie(c, LOGIN_COOKIE)))
      return login(c, 403, "This form had expired or came from another page. Log in again.");
    const tokens = [...config.api.tokens, ...config.ui.tokens];
    if (typeof form.token !== "string" || !isOneOf(form.token.trim(), tokens))
      return login(c, 401, "That token is not one of api.tokens or ui.tokens in the configuration.");
    sessions.end(c.get("sessionId"));
    const { id } = sessions.create();
    setCookie(c, SESSION_COOKIE, id, { ...cookie, maxAge: config.ui.sessionHours * 3600 });
    deleteCookie(c, LOGIN_COOKIE, { path: base, secure });
    return c.redirect(base, 303);
  });

  app.post("/logout", async (c) => {
    const session = c.get("session");
    if (!session) return c.redirect(base, 303);
    const form = await c.req.parseBody();
    if (!csrfOk(c, form.csrf, session.csrf))
      return refused(c, "This logout did not come from the status page; you are still logged in.");
    sessions.end(c.get("sessionId"));
    deleteCookie(c, SESSION_COOKIE, { path: base, secure });
    return c.redirect(base, 303);
  });

  app.post("/lookup", async (c) => {
    const session = c.get("session");
    if (!session) return login(c, 401, "Log in to look up an address.");
    const form = await c.req.parseBody();
    if (!csrfOk(c, form.csrf, session.csrf))
      return refused(c, "This lookup did not come from the status page. Use the form on the page.");
    const typed = typeof form.email === "string" ? form.email.slice(0, 1000) : "";
    const email = normalizeAddress(typed);
    const db = deps.db.read;
    const [row, reasons, history] = email
      ? await Promise.all([findSuppression(db, email), reasonsOf(db, email), historyOf(db, email, 500)])
      : [undefined, [], []];
    // Erased with --keep-suppressed: no row, only its keyed hash, which still suppresses it.
    const key = deps.config.privacy.hashKey;
    const erased =
      email && key && row?.suppressed !== 1 ? await findErased(deps.db, addressHash(key, email)) : undefined;
    return c.html(
      <Layout title="suppressd: look up" header={<TopBar base={base} csrf={session.csrf} />}>
        <Lookup
          base={base}
          csrf={session.csrf}
          typed={typed}
          email={email}
          row={row}
          reasons={reasons}
          history={history}
          erased={erased}
        />
      </Layout>,
      email ? 200 : 400,
    );
  });

  return app;
}
