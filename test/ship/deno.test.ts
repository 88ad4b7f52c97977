import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { ROOT, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { expectSignedBounceSuppresses } from "../helpers/smoke.ts";
import { statusPageOf } from "../helpers/ui.ts";

/** Deno from the npm registry (a dev dependency), so CI needs nothing else. */
const DENO = join(ROOT, "node_modules/.bin/deno");
const tmp = tempDir("suppressd-deno-");
afterAll(() => tmp.cleanup());

test("`deno task start` runs the daemon from source: one webhook, one check, clean stop", async () => {
  const daemon = await startDaemon({
    cmd: [DENO, "task", "--quiet", "start"],
    config: writeConfig(tmp.dir, join(tmp.dir, "s.db")),
  });
  try {
    await expectSignedBounceSuppresses(daemon.url);
    expect(daemon.stdout()).toContain('"msg":"suppressd started"');
    // The status page (Hono JSX) is compiled in: log in and see the suppression counted.
    const ui = await statusPageOf(daemon.url);
    expect(ui.status).toBe(200);
    expect(ui.html).toMatch(/<th scope="row">hard_bounce<\/th><td class="n">1<\/td>/);
    expect(ui.csp).toContain("style-src 'sha256-");
  } finally {
    // deno task passes SIGTERM on to the daemon, which drains and exits 0.
    expect(await daemon.stop()).toBe(0);
  }
  expect(daemon.stdout()).toContain('"msg":"stopped"');
}, 60_000);

test("under Deno, hints name Deno, not npx: `deno task start` must not send anyone to npx", () => {
  const out = Bun.spawnSync(
    [DENO, "run", "-A", "src/main.ts", "serve", "--config", join(tmp.dir, "none.json")],
    { cwd: ROOT },
  );
  expect(out.exitCode).toBe(78);
  const err = out.stderr.toString();
  expect(err).toContain("`./node_modules/.bin/deno run -A src/main.ts config example > config.json`");
  expect(err).not.toContain("npx");
}, 60_000);
