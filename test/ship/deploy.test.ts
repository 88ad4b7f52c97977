import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { ROOT } from "../helpers/daemon.ts";

const unitText = readFileSync(join(ROOT, "deploy/suppressd.service"), "utf8");
const tmp = tempDir("suppressd-deploy-");
afterAll(() => tmp.cleanup());

/** `Key=value` lines of the unit (a key may repeat). */
function directives(key: string): string[] {
  return unitText
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

test("deploy/config.json is valid once its two placeholders are filled, and refused before", () => {
  const raw = JSON.parse(readFileSync(join(ROOT, "deploy/config.json"), "utf8"));
  expect(() => parseConfig(raw)).toThrow(/webhookSecrets[\s\S]*api\.tokens/);
  const config = parseConfig({
    ...raw,
    resend: { ...raw.resend, webhookSecrets: [SECRET] },
    api: { ...raw.api, tokens: [TOKEN] },
  });
  // The database lives in the unit's StateDirectory, which the service's dynamic user owns.
  expect(config.database.url).toBe(`file:/var/lib/${directives("StateDirectory")[0]}/suppressd.db`);
});

test("the unit reads the config as a credential and gives SIGTERM time to drain", () => {
  const [credential] = directives("LoadCredential");
  expect(credential).toBe("config.json:/etc/suppressd/config.json");
  expect(directives("ExecStart")[0]).toBe(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd's syntax, not JavaScript's.
    "/usr/local/bin/suppressd serve --config ${CREDENTIALS_DIRECTORY}/config.json",
  );
  expect(directives("DynamicUser")).toEqual(["yes"]);
  // suppressd's own stop deadline is 10 s (src/cli/serve.ts); systemd must wait longer.
  expect(Number(directives("TimeoutStopSec")[0])).toBeGreaterThan(10);
  // The JIT needs writable+executable memory.
  expect(directives("MemoryDenyWriteExecute")).toEqual([]);
});

test("systemd-analyze verify accepts the unit (where systemd is installed)", () => {
  const analyze = Bun.which("systemd-analyze");
  if (!analyze) return;
  // verify checks that ExecStart's binary exists: point it at one that does.
  const unit = join(tmp.dir, "suppressd.service");
  writeFileSync(unit, unitText.replace("/usr/local/bin/suppressd", process.execPath));
  const out = Bun.spawnSync([analyze, "verify", unit]);
  // Only complaints about our unit count (the host's other units are not ours to judge).
  expect(out.stderr.toString()).not.toContain("suppressd.service");
  expect(out.exitCode).toBe(0);
});
