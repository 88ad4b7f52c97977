import { afterEach, describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { tableCounts } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { UI_TOKEN, type UiWorld, uiWorld } from "../helpers/ui.ts";

/**
 * The status page's access rules, in process (app.request): who gets a session, what the cookies
 * say, which posts are refused, and that none of it touches the database.
 */
const worlds: UiWorld[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});
async function world(overrides: Record<string, unknown> = {}) {
  const w = await uiWorld(overrides);
  worlds.push(w);
  return w;
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };

/** The login form's CSRF token and the cookie that carries it, as a browser would keep them. */
async function loginForm(w: UiWorld, path = "/ui") {
  const res = await w.app.request(path);
  const html = await res.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith("suppressd_login=")) ?? "";
  return { res, html, csrf, cookie: cookie.split(";")[0] ?? "" };
}

async function logIn(w: UiWorld, token = TOKEN, path = "/ui") {
  const form = await loginForm(w, path);
  const res = await w.app.request(`${path}/login`, {
    method: "POST",
    headers: { ...FORM, cookie: form.cookie },
    body: new URLSearchParams({ csrf: form.csrf, token }),
  });
  const set = res.headers.getSetCookie().find((c) => c.startsWith("suppressd_session=")) ?? "";
  return { res, set, cookie: set.split(";")[0] ?? "" };
}

/** The page with a session cookie, and the CSRF token its forms carry. */
async function dashboard(w: UiWorld, cookie: string) {
  const res = await w.app.request("/ui", { headers: { cookie } });
  const html = await res.text();
  return { res, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "" };
}

describe("logging in", () => {
  test("without a session: the login form, a SameSite=Strict HttpOnly CSRF cookie, strict headers, no figure", async () => {
    const w = await world();
    await w.api("PUT", "/v1/suppressions/someone@example.com", {});
    const { res, html, csrf, cookie } = await loginForm(w);
    expect(res.status).toBe(200);
    expect(csrf).toMatch(/^[\w-]{43}$/);
    expect(cookie).toBe(`suppressd_login=${csrf}`);
    const set = res.headers.getSetCookie()[0] ?? "";
    expect(set).toContain("HttpOnly");
    expect(set).toContain("SameSite=Strict");
    expect(set).toContain("Path=/ui");
    expect(set).not.toContain("Secure");
    expect(res.headers.get("content-security-policy")).toStartWith("default-src 'none'; style-src 'sha256-");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(html).not.toContain("someone@example.com");
    expect(html).not.toContain("Overview");
    expect(html).not.toContain("<script");
    for (const secret of [TOKEN, UI_TOKEN, SECRET]) expect(html).not.toContain(secret);
  });

  test("an API token or a ui.tokens token opens a session: 303 to the page, HttpOnly SameSite=Strict cookie with an expiry", async () => {
    const w = await world();
    for (const token of [TOKEN, UI_TOKEN]) {
      const { res, set, cookie } = await logIn(w, token);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/ui");
      expect(set).toMatch(
        /^suppressd_session=[\w-]{43}; Max-Age=43200; Path=\/ui; HttpOnly; SameSite=Strict$/,
      );
      // The login form's cookie has done its job.
      expect(res.headers.getSetCookie()).toContain("suppressd_login=; Max-Age=0; Path=/ui");
      const page = await dashboard(w, cookie);
      expect(page.res.status).toBe(200);
      expect(page.html).toContain('id="overview"');
      for (const secret of [TOKEN, UI_TOKEN, SECRET]) expect(page.html).not.toContain(secret);
    }
  });

  test.each([
    ["a wrong token", "not-a-token-0123456789", 401, "not one of api.tokens or ui.tokens"],
    ["a metrics-only token", "metrics-only-token-0123456789", 401, "not one of api.tokens or ui.tokens"],
    ["no token", "", 401, "not one of api.tokens or ui.tokens"],
  ])("%s is refused with 401 and the reason; no session", async (_, token, status, message) => {
    const w = await world({ metrics: { tokens: ["metrics-only-token-0123456789"] } });
    const before = await tableCounts(w.db);
    const { res, set } = await logIn(w, token);
    expect(res.status).toBe(status);
    expect(await res.text()).toContain(message);
    expect(set).toBe("");
    expect(await tableCounts(w.db)).toEqual(before);
  });

  test.each([
    ["no CSRF field", (_csrf: string) => ({}), {}],
    ["a CSRF field that is not the cookie's", (_csrf: string) => ({ csrf: "x".repeat(43) }), {}],
    [
      "a post another site made (Sec-Fetch-Site: cross-site)",
      (csrf: string) => ({ csrf }),
      { "sec-fetch-site": "cross-site" },
    ],
  ])("a login with %s is refused with 403, even with the right token", async (_, field, headers) => {
    const w = await world();
    const form = await loginForm(w);
    const res = await w.app.request("/ui/login", {
      method: "POST",
      headers: { ...FORM, ...headers, cookie: form.cookie },
      body: new URLSearchParams({ ...field(form.csrf), token: TOKEN }),
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("This form had expired or came from another page");
    expect(res.headers.getSetCookie().some((c) => c.startsWith("suppressd_session="))).toBe(false);
  });

  test("a login without the CSRF cookie is refused (a form posted from elsewhere carries none)", async () => {
    const w = await world();
    const form = await loginForm(w);
    const res = await w.app.request("/ui/login", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({ csrf: form.csrf, token: TOKEN }),
    });
    expect(res.status).toBe(403);
  });

  test("the cookie is Secure under TLS, or when ui.secureCookie says so (an HTTPS proxy)", async () => {
    for (const overrides of [
      { server: { tls: { cert: "/nonexistent/cert.pem", key: "/nonexistent/key.pem" } } },
      { ui: { tokens: [UI_TOKEN], secureCookie: true } },
    ]) {
      const w = await world(overrides);
      const form = await loginForm(w);
      expect(form.res.headers.getSetCookie()[0]).toContain("; Secure");
      const { set } = await logIn(w);
      expect(set).toContain("; Secure");
    }
  });
});

describe("sessions", () => {
  test("a session ends after ui.sessionHours: the page is the login form again", async () => {
    const w = await world({ ui: { sessionHours: 2 } });
    const { cookie } = await logIn(w);
    w.now.value += 2 * 3_600_000 - 1;
    expect((await dashboard(w, cookie)).html).toContain('id="overview"');
    w.now.value += 1;
    const after = await dashboard(w, cookie);
    expect(after.res.status).toBe(200);
    expect(after.html).toContain('name="token"');
    expect(after.html).not.toContain('id="overview"');
  });

  test("logout needs the session's CSRF token: without it 403 and still logged in; with it the session ends", async () => {
    const w = await world();
    const { cookie } = await logIn(w);
    const { csrf } = await dashboard(w, cookie);
    const refused = await w.app.request("/ui/logout", {
      method: "POST",
      headers: { ...FORM, cookie },
      body: new URLSearchParams({ csrf: "wrong" }),
    });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("you are still logged in");
    expect((await dashboard(w, cookie)).html).toContain('id="overview"');

    const res = await w.app.request("/ui/logout", {
      method: "POST",
      headers: { ...FORM, cookie },
      body: new URLSearchParams({ csrf }),
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/ui");
    expect(res.headers.getSetCookie()).toContain("suppressd_session=; Max-Age=0; Path=/ui");
    expect((await dashboard(w, cookie)).html).not.toContain('id="overview"');
  });

  test("a made-up session cookie opens nothing", async () => {
    const w = await world();
    const page = await dashboard(w, `suppressd_session=${"A".repeat(43)}`);
    expect(page.html).toContain('name="token"');
    expect(page.html).not.toContain('id="overview"');
  });
});

describe("looking up an address", () => {
  test("without a session: 401 and the login form; with one but no CSRF token: 403; nothing changes", async () => {
    const w = await world();
    await w.api("PUT", "/v1/suppressions/someone@example.com", {});
    const before = await tableCounts(w.db);
    const anonymous = await w.app.request("/ui/lookup", {
      method: "POST",
      headers: FORM,
      body: new URLSearchParams({ email: "someone@example.com" }),
    });
    expect(anonymous.status).toBe(401);
    const html = await anonymous.text();
    expect(html).toContain('name="token"');
    expect(html).not.toContain("manual");

    const { cookie } = await logIn(w);
    const forged = await w.app.request("/ui/lookup", {
      method: "POST",
      headers: { ...FORM, cookie },
      body: new URLSearchParams({ email: "someone@example.com" }),
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain("manual");
    expect(await tableCounts(w.db)).toEqual(before);
  });

  test("with the session's token: the address's state; not an address: 400 saying so", async () => {
    const w = await world();
    await w.api("PUT", "/v1/suppressions/someone@example.com", { note: "by hand" });
    const { cookie } = await logIn(w);
    const { csrf } = await dashboard(w, cookie);
    const lookup = (email: string) =>
      w.app.request("/ui/lookup", {
        method: "POST",
        headers: { ...FORM, cookie },
        body: new URLSearchParams({ csrf, email }),
      });
    const found = await lookup(" SomeOne@Example.com ");
    expect(found.status).toBe(200);
    const html = await found.text();
    expect(html).toContain("suppressed</strong>");
    expect(html).toContain("by hand");
    const bad = await lookup("not an address");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain("is not an email address");
  });
});

describe("configuration", () => {
  test("ui.enabled false: the path answers 404 like any unknown route", async () => {
    const w = await world({ ui: { enabled: false } });
    const res = await w.app.request("/ui");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not_found", message: "No route for GET /ui." });
  });

  test("ui.path moves the page, its forms and its cookies", async () => {
    const w = await world({ ui: { path: "/ops/status" } });
    expect((await w.app.request("/ui")).status).toBe(404);
    const form = await loginForm(w, "/ops/status");
    expect(form.html).toContain('action="/ops/status/login"');
    const { res, set } = await logIn(w, TOKEN, "/ops/status");
    expect(res.headers.get("location")).toBe("/ops/status");
    expect(set).toContain("Path=/ops/status");
  });

  test.each([
    ["/v1/ui", "must not be under /v1"],
    ["/metrics", "must not be under"],
    ["ui", "a path such as '/ui'"],
    ["/ui/", "a path such as '/ui'"],
  ])("ui.path %p is refused: %s", (path, message) => {
    const raw = {
      resend: { webhookSecrets: [SECRET] },
      api: { tokens: [TOKEN] },
      ui: { path },
    };
    expect(() => parseConfig(raw)).toThrow(message);
  });

  test("ui.tokens shorter than 16 characters are refused", () => {
    expect(() =>
      parseConfig({
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: [TOKEN] },
        ui: { tokens: ["short"] },
      }),
    ).toThrow("use at least 16 characters");
  });
});

describe("cached figures", () => {
  test("a page view renders the cached figures; they are recomputed once older than two refresh intervals", async () => {
    const w = await world({ ui: { refreshSeconds: 30 } });
    await w.api("PUT", "/v1/suppressions/first@example.com", {});
    const { cookie } = await logIn(w);
    const total = async () => /id="total-suppressed">([\d,]+)</.exec((await dashboard(w, cookie)).html)?.[1];
    expect(await total()).toBe("1");
    await w.api("PUT", "/v1/suppressions/second@example.com", {});
    // Same instant: the cached figures, not a new count per request.
    expect(await total()).toBe("1");
    w.now.value += 61_000;
    expect(await total()).toBe("2");
  });
});

describe("what the overview says", () => {
  test("a warning once no event arrived for longer than ui.quietMinutes, and before the first", async () => {
    const w = await world({ ui: { quietMinutes: 30, refreshSeconds: 30 } });
    const { cookie } = await logIn(w);
    expect((await dashboard(w, cookie)).html).toContain("No webhook event for ever");
    expect(
      (await w.webhook('{"type":"email.opened","created_at":"2026-01-01T00:00:00Z","data":{}}')).status,
    ).toBe(200);
    w.now.value += 61_000;
    expect((await dashboard(w, cookie)).html).not.toContain("No webhook event");
    w.now.value += 30 * 60_000;
    const late = (await dashboard(w, cookie)).html;
    expect(late).toContain("No webhook event for 31 min");
    expect(late).toContain("ui.quietMinutes");
  });

  test("with log.hashAddresses false, lists show addresses as the logs do: in clear", async () => {
    const w = await world({ log: { level: "error", requests: false, hashAddresses: false } });
    await w.api("PUT", "/v1/suppressions/plain@example.com", {});
    const { cookie } = await logIn(w);
    const { html } = await dashboard(w, cookie);
    expect(html).toContain("<code>plain@example.com</code>");
    expect(html).not.toContain("sha256:");
  });
});
