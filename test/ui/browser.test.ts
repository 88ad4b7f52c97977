import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { type Listener, listen } from "../../src/http/serve.ts";
import { logAddress } from "../../src/log.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { populate, UI_TOKEN, type UiWorld, uiWorld } from "../helpers/ui.ts";

/**
 * The status page in a real browser: Debian's chromium (.ci/run installs it) driven by
 * playwright-core, launched once for the file. Each section is checked against the database.
 * Screenshots go to a temporary folder, or to docs/ for the README with
 * `UI_SCREENSHOTS=docs ./node_modules/.bin/bun test test/ui/browser.test.ts` (so a plain test run
 * leaves the work tree clean).
 */
const CHROMIUM = "/usr/bin/chromium";
const DOCS =
  process.env.UI_SCREENSHOTS === "docs"
    ? join(import.meta.dir, "../../docs")
    : mkdtempSync(join(tmpdir(), "suppressd-screens-"));
const DAY = 86_400_000;

let w: UiWorld;
let server: Listener;
let context: BrowserContext;
let page: Page;
let profile: string;

beforeAll(async () => {
  w = await uiWorld();
  await populate(w);
  await w.stats.refresh();
  server = await listen((req) => w.app.fetch(req, { remoteAddress: "127.0.0.1" }), {
    host: "127.0.0.1",
    port: 0,
    maxBodyBytes: 1 << 20,
    tls: null,
  });
  profile = mkdtempSync(join(tmpdir(), "suppressd-chromium-"));
  // A persistent context on a fresh profile directory: nothing of a previous run is reused.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
}, 60_000);

afterAll(async () => {
  await context?.close();
  await server?.stop();
  await w?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (process.env.UI_SCREENSHOTS !== "docs") rmSync(DOCS, { recursive: true, force: true });
});

const url = (path = "/ui") => `${server.url}${path}`;

/** Text of a table's cells, row by row. */
async function cells(selector: string): Promise<string[][]> {
  return page.$$eval(`${selector} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => (c.textContent ?? "").trim())),
  );
}

test("without a session only the login form is served: no figure, no address, no token", async () => {
  const res = await page.goto(url());
  expect(res?.status()).toBe(200);
  const html = await page.content();
  expect(await page.locator("form input[name=token]").count()).toBe(1);
  expect(await page.locator("#overview, #sinks, #changes, table").count()).toBe(0);
  for (const secret of [TOKEN, UI_TOKEN, SECRET, "example.com", "hard_bounce"])
    expect(html).not.toContain(secret);
  // The token field is labelled, and reachable from the keyboard.
  expect(await page.getByLabel("Token").count()).toBe(1);
});

test("a wrong token is refused with the reason; the right one (typed, Enter) opens the page", async () => {
  await page.goto(url());
  await page.getByLabel("Token").fill("not-a-token-at-all-000");
  await page.keyboard.press("Enter");
  await page.waitForLoadState();
  expect(await page.getByRole("alert").textContent()).toContain("not one of api.tokens or ui.tokens");
  expect(await page.locator("#overview").count()).toBe(0);

  await page.getByLabel("Token").fill(UI_TOKEN);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#overview");
  const cookie = (await context.cookies()).find((c) => c.name === "suppressd_session");
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/ui" });
});

test("the overview matches the database: reasons, the last 24 h by type and outcome, last event", async () => {
  await page.goto(url());
  const byReason = await w.rows<{ reason: string; n: number }>(
    "SELECT reason, count(*) AS n FROM suppressions WHERE suppressed = 1 GROUP BY reason",
  );
  const shown: Record<string, number> = Object.fromEntries(
    (await cells("#by-reason")).map(([r, n]) => [r, Number(n)]),
  );
  for (const r of byReason) expect(shown[r.reason]).toBe(Number(r.n));
  expect(Object.values(shown).reduce((a, b) => a + b, 0)).toBe(byReason.reduce((a, r) => a + Number(r.n), 0));
  expect(await page.textContent("#total-suppressed")).toBe(
    String(byReason.reduce((a, r) => a + Number(r.n), 0)),
  );

  const events = await w.rows<{ type: string; status: string; n: number }>(
    "SELECT type, status, count(*) AS n FROM webhook_events WHERE received_at >= ? GROUP BY type, status",
    [w.now.value - DAY],
  );
  const table = await cells("#events-24h");
  const columns = ["processed", "ignored", "quarantined"];
  expect(table.length).toBe(new Set(events.map((e) => e.type)).size);
  for (const e of events) {
    const row = table.find((r) => r[0] === e.type);
    expect(row?.[1 + columns.indexOf(e.status)]).toBe(String(e.n));
  }
  expect(events.some((e) => e.status === "quarantined")).toBe(true);

  const [last] = await w.rows<{ type: string }>(
    "SELECT type FROM webhook_events ORDER BY received_at DESC, rowid DESC LIMIT 1",
  );
  expect(await page.textContent("#last-event")).toContain(last?.type ?? "?");
  // One delivery was signed with a wrong secret.
  expect(await page.textContent("#signature-failures")).toStartWith("1");
  expect(await page.locator(".warn").count()).toBe(0);
});

test("the chart's figures are the history's suppressions and lifts per day", async () => {
  await page.goto(url());
  const perDay = await w.rows<{ day: string; decision: string; n: number }>(
    `SELECT date(recorded_at / 1000, 'unixepoch') AS day, decision, count(*) AS n FROM suppression_events
     WHERE decision IN ('suppressed', 'lifted') GROUP BY day, decision`,
  );
  const table = await cells("figure table");
  expect(table.length).toBe(30);
  for (const p of perDay) {
    const row = table.find((r) => r[0] === p.day);
    expect(row?.[p.decision === "suppressed" ? 1 : 2]).toBe(String(p.n));
  }
  const svg = page.locator("figure svg[role=img]");
  expect(await svg.getAttribute("aria-labelledby")).toBe("chart-title");
  expect(await page.locator("figure svg rect.added").count()).toBe(30);
});

test("sinks: state, last error and backlog as GET /v1/status and the outbox say", async () => {
  await page.goto(url());
  const status = (await (await w.api("GET", "/v1/status")).json()) as {
    sinks: {
      name: string;
      state: string;
      pending: number;
      running: number;
      dead: number;
      last_error: { message: string };
    }[];
  };
  const crm = status.sinks.find((s) => s.name === "crm");
  const [jobs] = await w.rows<{ pending: number; dead: number }>(
    `SELECT sum(status IN ('pending', 'running')) AS pending, sum(status = 'dead') AS dead FROM sync_jobs WHERE sink = 'crm'`,
  );
  const [row] = await cells("#sink-table");
  expect(row?.[0]).toContain("crm");
  expect(row?.[1]).toBe(crm?.state ?? "?");
  expect(crm?.state).toBe("failing");
  expect(row?.[2]).toBe(String(jobs?.pending));
  expect(Number(jobs?.pending)).toBeGreaterThan(0);
  expect(row?.[3]).toBe(String(jobs?.dead ?? 0));
  expect(row?.[5]).toContain(crm?.last_error.message ?? "?");
  expect(row?.[6]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
});

test("recent changes and quarantine show addresses hashed as in the logs until one is revealed", async () => {
  await page.goto(url());
  const changes = await w.rows<{ email: string; decision: string; by: string }>(
    `SELECT email, decision, coalesce(actor, source) AS by FROM suppression_events WHERE decision IN ('suppressed', 'lifted') ORDER BY id DESC LIMIT 25`,
  );
  const table = await cells("#changes-table");
  expect(table.map((r) => [r[1]?.replace(/\s*show$/, ""), r[2], r[5]])).toEqual(
    changes.map((c) => [logAddress(c.email), c.decision, c.by]),
  );
  const quarantine = await cells("#quarantine-table");
  expect(quarantine[0]?.[1]).toBe("contact.updated");
  expect(quarantine[0]?.[3]).toContain(logAddress("odd@example.com"));
  let html = await page.content();
  for (const c of changes) expect(html).not.toContain(c.email);
  expect(html).not.toContain("odd@example.com");

  // Reveal the newest change's address: it, and only it, is shown in clear.
  await page.locator("#changes-table a", { hasText: "show" }).first().click();
  await page.waitForLoadState();
  html = await page.content();
  expect(html).toContain(changes[0]?.email ?? "?");
  expect(html).not.toContain("odd@example.com");
  for (const secret of [TOKEN, UI_TOKEN, SECRET]) expect(html).not.toContain(secret);
});

test("looking up an address shows its state, its reasons and its whole history, lifts included", async () => {
  await page.goto(url());
  await page.getByLabel("Email address").fill("Lifted@Example.com");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#history-table");
  expect(await page.textContent("#state")).toContain("not suppressed (lifted)");
  const history = await w.rows<{ decision: string; event_type: string; by: string }>(
    `SELECT decision, event_type, coalesce(actor, source) AS by FROM suppression_events
     WHERE email = ? ORDER BY occurred_at DESC, id DESC`,
    ["lifted@example.com"],
  );
  const rows = await cells("#history-table");
  expect(rows.map((r) => [r[1], r[3]?.split(/\s/)[0], r[4]])).toEqual(
    history.map((h) => [h.decision, h.event_type, h.by]),
  );
  expect(history.map((h) => h.decision)).toContain("lifted");
  const reasons = await w.rows<{ reason: string; source: string; active: number }>(
    "SELECT reason, source, active FROM suppression_reasons WHERE email = ?",
    ["lifted@example.com"],
  );
  expect(reasons.length).toBeGreaterThan(0);
  const shownReasons = await cells("#reasons-table");
  expect(shownReasons.map((r) => [r[0], r[1], r[2]]).sort()).toEqual(
    reasons.map((r) => [r.reason, r.source, r.active ? "yes" : "no, lifted"]).sort(),
  );

  await page.getByLabel("Email address").fill("manual@example.com");
  await page.getByRole("button", { name: "Look up" }).click();
  await page.waitForSelector("#history-table");
  expect(await page.textContent("#state")).toContain("suppressed for manual");
  expect(await page.textContent("#history-table")).toContain("asked by phone");
  // The API change names the token that made it.
  const [put] = await w.rows<{ actor: string }>(
    "SELECT actor FROM suppression_events WHERE email = ? AND event_type = 'api.put'",
    ["manual@example.com"],
  );
  expect(put?.actor).toBeTruthy();
  expect((await cells("#history-table"))[0]?.[4]).toBe(put?.actor ?? "?");
});

test("screenshots at desktop and phone widths (docs/)", async () => {
  await page.goto(url());
  await page.screenshot({ path: join(DOCS, "ui-desktop.png"), fullPage: true });
  const phone = await context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await phone.goto(url());
  // Nothing wider than the phone but the tables, which scroll inside their own box.
  const overflow = Number(await phone.evaluate("document.documentElement.scrollWidth"));
  expect(overflow).toBeLessThanOrEqual(390);
  await phone.screenshot({ path: join(DOCS, "ui-phone.png"), fullPage: true });
  await phone.close();
});

test("logging out ends the session: the old cookie opens nothing", async () => {
  await page.goto(url());
  const cookie = (await context.cookies()).find((c) => c.name === "suppressd_session");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.waitForSelector("input[name=token]");
  expect((await context.cookies()).find((c) => c.name === "suppressd_session")).toBeUndefined();
  const replay = await fetch(url(), { headers: { cookie: `suppressd_session=${cookie?.value}` } });
  const html = await replay.text();
  expect(html).toContain('name="token"');
  expect(html).not.toContain("example.com");
});
