import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { makeApp } from "../helpers/app.ts";
import { ROOT } from "../helpers/daemon.ts";

/**
 * The README's API table is where a user learns what the daemon answers: every route the app
 * serves must be in it (`/v1/sync/jobs` and `/metrics` were once missing). Routes come from the
 * app itself, so a new one fails here until it is documented.
 */
test("every route of createApp is in the README's API table", async () => {
  const t = await makeApp();
  try {
    const routes = [
      ...new Set(t.app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`)),
    ];
    expect(routes.length).toBeGreaterThan(10);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const table = readme.slice(readme.indexOf("## HTTP API"), readme.indexOf("## Command line"));
    // A row names a route as `METHOD /path`, the path's parameters in braces, a query or the
    // closing backtick right after it.
    const missing = routes.filter((r) => {
      const written = r.replace(/:(\w+)/g, "{$1}");
      return !table.includes(`\`${written}\``) && !table.includes(`\`${written}?`);
    });
    expect(missing).toEqual([]);
  } finally {
    await t.close();
  }
});
