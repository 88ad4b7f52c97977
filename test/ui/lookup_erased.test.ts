import { afterEach, expect, test } from "bun:test";
import { TOKEN } from "../helpers/config.ts";
import { type UiWorld, uiWorld } from "../helpers/ui.ts";

/** The status page's lookup of an address erased with keep-suppressed: suppressed, no history. */
let w: UiWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const csrfIn = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

test("the lookup says an erased address is still suppressed, and shows nothing personal of it", async () => {
  w = await uiWorld({ privacy: { hashKey: "test-hash-key-0123456789abcdef0123456789" } });
  const world = w;
  await world.api("PUT", "/v1/suppressions/gone@example.com", { reason: "complaint", note: "phoned in" });
  const erased = await world.api("DELETE", "/v1/suppressions/gone@example.com?erase=keep-suppressed");
  expect(erased.status).toBe(200);

  // Log in as a browser would: the login form's CSRF cookie, then the session cookie.
  const form = await world.app.request("/ui");
  const loginCookie = (form.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  const login = await world.app.request("/ui/login", {
    method: "POST",
    headers: { ...FORM, cookie: loginCookie },
    body: new URLSearchParams({ csrf: csrfIn(await form.text()), token: TOKEN }),
  });
  const cookie =
    (login.headers.getSetCookie().find((c) => c.startsWith("suppressd_session=")) ?? "").split(";")[0] ?? "";
  const page = await world.app.request("/ui", { headers: { cookie } });
  const res = await world.app.request("/ui/lookup", {
    method: "POST",
    headers: { ...FORM, cookie },
    body: new URLSearchParams({ csrf: csrfIn(await page.text()), email: "Gone@Example.com" }),
  });
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toContain('State: <strong class="bad">suppressed</strong> for <strong>complaint</strong>');
  expect(html).toContain("only a keyed hash of the address is kept");
  expect(html).not.toContain("phoned in");
});
