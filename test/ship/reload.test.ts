import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { OTHER_SECRET, SECRET, TOKEN } from "../helpers/config.ts";
import { type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir("suppressd-reload-");
afterAll(() => tmp.cleanup());

const NEW_TOKEN = "rotated-token-0123456789abcdef";
const SCRAPE_TOKEN = "scrape-token-0123456789abcdef";

async function post(url: string, body: string, secret: string): Promise<number> {
  const res = await fetch(`${url}/webhooks/resend`, {
    method: "POST",
    body,
    headers: signedHeaders(body, { secret }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Waits for the daemon to log `msg` for the `nth` time (bounded, not a timing assertion). */
async function logged(daemon: RunningDaemon, msg: string, nth = 1): Promise<Record<string, unknown>> {
  for (let i = 0; i < 500; i++) {
    const lines = daemon
      .stdout()
      .split("\n")
      .filter((l) => l.includes(`"msg":"${msg}"`));
    if (lines.length >= nth) return JSON.parse(lines[nth - 1] as string);
    await Bun.sleep(20);
  }
  throw new Error(`never logged '${msg}': ${daemon.stdout()}${daemon.stderr()}`);
}

test("SIGHUP adds a webhook secret and API and metrics tokens without dropping a delivery", async () => {
  const write = (overrides: Record<string, unknown>) =>
    writeConfig(tmp.dir, join(tmp.dir, "s.db"), overrides);
  const daemon = await startDaemon({ config: write({}) });
  try {
    expect(await post(daemon.url, bounce("before@example.com"), OTHER_SECRET)).toBe(401);
    const scrapeBefore = await fetch(`${daemon.url}/metrics`, {
      headers: { authorization: `Bearer ${SCRAPE_TOKEN}` },
    });
    expect(scrapeBefore.status).toBe(401);

    // Deliveries signed with the old secret keep flowing while the secrets are swapped.
    let reloaded = false;
    const statuses: number[] = [];
    const loop = async (n: number) => {
      for (let i = 0; i < 1_000 && !reloaded; i++) {
        statuses.push(await post(daemon.url, bounce(`during-${n}-${i}@example.com`), SECRET));
      }
    };
    const loops = Promise.all([0, 1, 2, 3].map(loop));
    write({
      resend: { webhookSecrets: [SECRET, OTHER_SECRET] },
      api: { tokens: [TOKEN, NEW_TOKEN] },
      metrics: { tokens: [SCRAPE_TOKEN] },
      policy: { softBounce: { count: 5 } },
    });
    daemon.proc.kill("SIGHUP");
    const line = await logged(daemon, "reloaded webhook secrets, API tokens and sink settings");
    reloaded = true;
    await loops;

    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(line).toMatchObject({
      webhook_secrets: 2,
      api_tokens: 2,
      ignored_until_restart: ["policy.softBounce"],
    });
    expect(await post(daemon.url, bounce("after@example.com"), OTHER_SECRET)).toBe(200);
    expect(await post(daemon.url, bounce("old@example.com"), SECRET)).toBe(200);
    const got = await fetch(`${daemon.url}/v1/suppressions/after@example.com`, {
      headers: { authorization: `Bearer ${NEW_TOKEN}` },
    });
    expect(got.status).toBe(200);
    const scrape = await fetch(`${daemon.url}/metrics`, {
      headers: { authorization: `Bearer ${SCRAPE_TOKEN}` },
    });
    expect(scrape.status).toBe(200);

    // A broken file changes nothing: the daemon logs why and keeps the running credentials.
    write({ resend: { webhookSecrets: ["not-a-resend-secret"] } });
    daemon.proc.kill("SIGHUP");
    const failed = await logged(daemon, "reload failed; still running with the previous secrets and tokens");
    expect(String(failed.error)).toContain("resend.webhookSecrets.0");
    expect(await post(daemon.url, bounce("still@example.com"), OTHER_SECRET)).toBe(200);

    for (const secret of [SECRET, OTHER_SECRET, TOKEN, NEW_TOKEN, SCRAPE_TOKEN]) {
      expect(daemon.stdout() + daemon.stderr()).not.toContain(secret);
    }
  } finally {
    expect(await daemon.stop()).toBe(0);
  }
}, 60_000);
