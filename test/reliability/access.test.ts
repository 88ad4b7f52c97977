import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { runCli } from "../cli/run.ts";
import { FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp, tempDir } from "../helpers/app.ts";
import { OTHER_SECRET, SECRET, TOKEN } from "../helpers/config.ts";
import { BUN, ROOT, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { emptyFigures, summaryLine } from "./helpers/figures.ts";

/**
 * Who may do what, and what never leaks. What exists elsewhere and is not repeated here:
 * test/http/auth.test.ts (a table of bad Authorization headers on the suppression routes),
 * test/observability/request_log.test.ts (a daemon's output on a plain run holds no secret, token,
 * signature or clear address), test/cli/commands.test.ts (config errors exit 78).
 */
const tmp = tempDir("suppressd-access-");
let tried = 0;
afterAll(() => {
  console.log(summaryLine("access", { ...emptyFigures(), hostile: tried }));
  tmp.cleanup();
});

const SCRAPE = "scrape-only-token-0123456789abcdef";
/** Routes anyone may call: a new one must be added here on purpose, or the test fails. */
const PUBLIC = new Set([
  "GET /healthz",
  "GET /readyz",
  "POST /webhooks/resend",
  // Authenticated by the secret in the path (404 otherwise: test/http/mailchimp_webhook.test.ts).
  "GET /webhooks/mailchimp/:secret",
  "POST /webhooks/mailchimp/:secret",
]);
/** The status page: its own login (test/ui/auth.test.ts); without a session, the login form only. */
const UI = new Set(["GET /ui", "POST /ui/login", "POST /ui/logout", "POST /ui/lookup"]);

describe("every route, as the app lists them", () => {
  test("every /v1 route and /metrics answer 401 without a valid token; no other route exists unguarded", async () => {
    const t = await makeApp({ metrics: { tokens: [SCRAPE] } });
    try {
      await t.api("PUT", "/v1/suppressions/kept@x.com", {});
      const routes = [
        ...new Set(t.app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${r.path}`)),
      ];
      const guarded = routes.filter((r) => !PUBLIC.has(r) && !UI.has(r));
      expect(routes.filter((r) => PUBLIC.has(r)).sort()).toEqual([...PUBLIC].sort());
      expect(routes.filter((r) => UI.has(r)).sort()).toEqual([...UI].sort());
      for (const r of guarded) expect(r).toMatch(/^[A-Z]+ \/(v1\/|metrics$)/);
      // What the README documents, at least (the enumeration itself must not come back empty).
      for (const known of ["GET /v1/suppressions/:email", "POST /v1/sync/jobs/retry", "GET /metrics"])
        expect(guarded).toContain(known);

      const before = await t.counts();
      const credentials: [string, Record<string, string>][] = [
        ["no token", {}],
        ["a wrong token", { authorization: "Bearer wrong-token-0123456789abcdef" }],
        ["the webhook secret as a token", { authorization: `Bearer ${SECRET}` }],
        ["a scrape-only token", { authorization: `Bearer ${SCRAPE}` }],
      ];
      for (const route of guarded) {
        const [method, pattern] = route.split(" ") as [string, string];
        const path = pattern.replace(":email", "kept@x.com").replace(/:\w+/g, "x");
        for (const [name, headers] of credentials) {
          if (pattern === "/metrics" && name === "a scrape-only token") continue;
          for (const m of method === "GET" ? ["GET", "HEAD"] : [method]) {
            tried++;
            const res = await t.app.request(path, {
              method: m,
              headers: { "content-type": "application/json", ...headers },
              ...(m === "GET" || m === "HEAD"
                ? {}
                : { body: JSON.stringify({ emails: ["kept@x.com"], all: true }) }),
            });
            expect(`${m} ${path} with ${name}: ${res.status}`).toBe(`${m} ${path} with ${name}: 401`);
          }
        }
      }
      // Not even an API token in a header opens the status page: it wants its session cookie.
      for (const route of UI) {
        const [method, path] = route.split(" ") as [string, string];
        for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
          tried++;
          const res = await t.app.request(path, {
            method,
            headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
            ...(method === "POST" ? { body: "email=kept%40x.com&csrf=x&token=" } : {}),
          });
          const html = await res.text();
          expect(`${route}: ${[200, 303, 401, 403].includes(res.status)}`).toBe(`${route}: true`);
          expect(html).not.toContain("kept@x.com");
          expect(res.headers.getSetCookie().some((c) => c.startsWith("suppressd_session="))).toBe(false);
        }
      }
      expect(await t.counts()).toEqual(before);
    } finally {
      await t.close();
    }
  });
});

describe("secrets and tokens never appear in logs or error bodies", () => {
  test("a daemon run with a failing Mailchimp key, an echoing audience API, bad requests, a reload and a broken reload", async () => {
    const dir = join(tmp.dir, "secrets");
    mkdirSync(dir);
    const fake = FakeMailchimp.start();
    const mailchimpKey = "feedfacefeedfacefeedfacefeedface-us19"; // not the fake's key: 401 on every call
    const crmToken = "crm-secret-token-0123456789abcdef";
    const dbToken = "db-auth-token-0123456789abcdef";
    // An audience API that answers 500 and echoes the request (URL and headers) in its body.
    const echo = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) =>
        new Response(`failed ${req.url} ${JSON.stringify(Object.fromEntries(req.headers))}`, { status: 500 }),
    });
    const env = {
      MC_KEY: mailchimpKey,
      CRM_AUTH: `Bearer ${crmToken}`,
      CRM_URL: `http://127.0.0.1:${echo.port}/contacts/{{email}}?key=${crmToken}`,
    };
    const settings = (tokens: string[]) => ({
      log: { level: "debug", requests: true },
      database: { url: `file:${join(dir, "s.db")}`, authToken: dbToken },
      resend: { webhookSecrets: [SECRET, OTHER_SECRET] },
      api: { tokens },
      metrics: { tokens: [SCRAPE] },
      sync: { pollMs: 100 },
      sinks: [
        { type: "mailchimp", name: "mc", apiKey: "env:MC_KEY", listIds: ["list1"], baseUrl: fake.url },
        { type: "http", name: "crm", url: "env:CRM_URL", headers: { Authorization: "env:CRM_AUTH" } },
      ],
    });
    const config = writeConfig(dir, join(dir, "s.db"), settings([TOKEN]));
    let daemon: RunningDaemon | undefined;
    const bodies: string[] = [];
    try {
      daemon = await startDaemon({ config, env });
      const d = daemon;
      const call = async (path: string, init: RequestInit = {}) => {
        tried++;
        const res = await fetch(`${d.url}${path}`, init);
        const text = await res.text();
        if (res.status >= 400) bodies.push(text);
        return { status: res.status, text };
      };
      const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
      const body = bounce("leak@example.com");
      const headers = signedHeaders(body);
      expect((await call("/webhooks/resend", { method: "POST", body, headers })).status).toBe(200);
      await call("/webhooks/resend", { method: "POST", body: `${body} `, headers });
      await call("/webhooks/resend", {
        method: "POST",
        body,
        headers: { ...headers, "svix-timestamp": "1" },
      });
      await call("/v1/suppressions/leak@example.com", { headers: { authorization: `Bearer ${TOKEN}x` } });
      await call("/v1/suppressions/leak@example.com", { headers: { authorization: `Bearer ${SCRAPE}` } });
      await call("/metrics", { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
      await call("/v1/suppressions/not-an-address", { headers: auth });
      await call("/v1/suppressions/x@example.com", {
        method: "PUT",
        headers: auth,
        body: '{"reason": "nope"}',
      });
      await call("/v1/suppressions/check", { method: "POST", headers: auth, body: "{not json" });
      await call("/v1/sync/jobs/retry", { method: "POST", headers: auth, body: "[]" });
      // Let both sinks fail at least once: Mailchimp refuses the key, the CRM echoes the request.
      for (let i = 0; i < 100; i++) {
        const jobs = JSON.parse((await call("/v1/sync/jobs", { headers: auth })).text) as {
          items: { sink: string; last_error: string | null }[];
        };
        if (jobs.items.filter((j) => j.last_error !== null).length >= 2) break;
        await Bun.sleep(100);
      }
      const jobs = await call("/v1/sync/jobs", { headers: auth });
      expect(jobs.text).toContain("rejected the API key");
      expect(jobs.text).toContain("answered 500");
      bodies.push(
        jobs.text,
        (await call("/metrics", { headers: { authorization: `Bearer ${SCRAPE}` } })).text,
      );
      // A reload that adds a token, then one whose new token is too short to be accepted.
      writeConfig(dir, join(dir, "s.db"), settings([TOKEN, "rotated-token-0123456789abcdef"]));
      d.proc.kill("SIGHUP");
      await waitFor(d, "reloaded webhook secrets");
      writeConfig(dir, join(dir, "s.db"), settings([TOKEN, "tiny-secret"]));
      d.proc.kill("SIGHUP");
      await waitFor(d, "reload failed");
      expect(await d.stop()).toBe(0);
    } finally {
      if (daemon?.proc.exitCode === null) await daemon.kill();
      echo.stop(true);
      fake.stop();
    }
    // A start that fails on the same kind of config says what is wrong without quoting it.
    const failed = await runCli(["serve", "--config", config], { env });
    expect(failed.code).toBe(78);
    expect(failed.stderr).toContain("api.tokens.1");

    const output = `${daemon.stdout()}${daemon.stderr()}${failed.stdout}${failed.stderr}`;
    const everywhere = `${output}\n${bodies.join("\n")}`;
    const secrets = [
      SECRET,
      SECRET.slice("whsec_".length),
      OTHER_SECRET.slice("whsec_".length),
      TOKEN,
      SCRAPE,
      "rotated-token-0123456789abcdef",
      "tiny-secret",
      mailchimpKey,
      mailchimpKey.split("-")[0] as string,
      dbToken,
      // The echoing API's answer is excerpted in the job's error: without the CRM token in it.
      crmToken,
      ...base64Forms(`user:${mailchimpKey}`),
    ];
    for (const s of secrets) expect(everywhere).not.toContain(s);
  }, 60_000);
});

// An HTTP sink's error keeps an excerpt of the audience API's answer; an API that echoes the
// request must not put the sink's own credential (header or URL) into last_error or the log.
test("an HTTP sink's error never holds a credential the audience API echoed back", async () => {
  const secret = "crm-secret-token-0123456789abcdef";
  const echo = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) =>
      new Response(`bad ${req.url} ${req.headers.get("authorization")}`, {
        status: req.url.includes("fail") ? 400 : 500,
      }),
  });
  try {
    const job = (email: string) => ({
      id: 1,
      sink: "crm",
      email,
      action: "suppress" as const,
      reason: "hard_bounce" as const,
      event_type: "email.bounced",
      occurred_at: 0,
      attempts: 0,
      created_at: 0,
    });
    const sink = new HttpSink(
      parseConfig({
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: [TOKEN] },
        sinks: [
          {
            type: "http",
            name: "crm",
            url: `http://127.0.0.1:${echo.port}/{{email}}?key=${secret}`,
            headers: { Authorization: `Bearer ${secret}` },
          },
        ],
      }).sinks[0] as HttpSinkConfig,
    );
    for (const email of ["retry@x.com", "fail@x.com"]) {
      const outcome = (await sink.send([job(email)], new AbortController().signal)).get(1);
      expect(outcome?.kind).not.toBe("done");
      expect(JSON.stringify(outcome)).not.toContain(secret);
    }
  } finally {
    echo.stop(true);
  }
});

describe("files", () => {
  test("the database, its -wal and -shm, and the development credentials are owner-only, even under umask 000", async () => {
    const dir = join(tmp.dir, "modes");
    mkdirSync(dir);
    const dbFile = join(dir, "fresh/deeper/s.db");
    const umask0 = ["sh", "-c", 'umask 000; exec "$0" "$@"', BUN, join(ROOT, "src/main.ts")];
    const daemon = await startDaemon({ config: writeConfig(dir, dbFile), cmd: umask0 });
    try {
      const body = bounce("mode@example.com");
      tried++;
      const res = await fetch(`${daemon.url}/webhooks/resend`, {
        method: "POST",
        body,
        headers: signedHeaders(body),
      });
      expect(res.status).toBe(200);
      for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`])
        expect(`${f}: ${(statSync(f).mode & 0o777).toString(8)}`).toBe(`${f}: 600`);
      expect((statSync(join(dir, "fresh/deeper")).mode & 0o777).toString(8)).toBe("700");
    } finally {
      await daemon.stop();
    }

    // Development mode (no config file): its credentials file and database too.
    const dev = join(tmp.dir, "dev");
    mkdirSync(dev);
    const proc = Bun.spawn([...umask0, "serve"], {
      cwd: dev,
      env: { ...cleanEnv(), SUPPRESSD_PORT: "0" },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      const err = await readUntil(proc.stderr, "DEVELOPMENT MODE");
      expect(err).toContain("loopback only");
      for (const f of ["data/dev/credentials.json", "data/dev/suppressd.db"])
        expect(`${f}: ${(statSync(join(dev, f)).mode & 0o777).toString(8)}`).toBe(`${f}: 600`);
      for (const d of ["data", "data/dev"])
        expect(`${d}: ${(statSync(join(dev, d)).mode & 0o777).toString(8)}`).toBe(`${d}: 700`);
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
  }, 30_000);
});

describe("no start without credentials, unless in development mode", () => {
  test("an empty or missing secret or token list in a config file stops serve with exit 78 and the key to set", async () => {
    const dir = join(tmp.dir, "empty");
    mkdirSync(dir);
    const cases: [string, Record<string, unknown>, string][] = [
      ["no webhook secret", { resend: { webhookSecrets: [] } }, "resend.webhookSecrets"],
      ["an empty webhook secret", { resend: { webhookSecrets: [""] } }, "resend.webhookSecrets.0"],
      ["no API token", { api: { tokens: [] } }, "api.tokens"],
      ["an empty API token", { api: { tokens: [""] } }, "api.tokens.0"],
      ["no api section at all", { api: undefined }, "api"],
      ["a token from an unset variable", { api: { tokens: ["env:ACCESS_TEST_UNSET"] } }, "ACCESS_TEST_UNSET"],
    ];
    const results = await Promise.all(
      cases.map(([, overrides], i) => {
        const sub = join(dir, String(i));
        mkdirSync(sub);
        // `api: undefined` leaves the section out of the file altogether.
        return runCli(["serve", "--config", writeConfig(sub, join(sub, "s.db"), overrides)]);
      }),
    );
    for (const [i, [name, , key]] of cases.entries()) {
      tried++;
      const r = results[i] as { code: number; stderr: string };
      expect(`${name}: ${r.code}`).toBe(`${name}: 78`);
      expect(r.stderr).toContain(key);
    }
    // SUPPRESSD_CONFIG naming a missing file is an error too, never a silent development instance.
    const missing = await runCli(["serve"], { cwd: dir, env: { SUPPRESSD_CONFIG: join(dir, "nope.json") } });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain("No configuration file");
  }, 30_000);
});

/** Every base64 form of `text` at the three byte alignments, without the edges that depend on neighbours. */
function base64Forms(text: string): string[] {
  return [0, 1, 2].map((pad) =>
    Buffer.from(`${"x".repeat(pad)}${text}`)
      .toString("base64")
      .slice(4, -4),
  );
}

function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("SUPPRESSD_")),
  ) as Record<string, string>;
}

async function readUntil(stream: ReadableStream<Uint8Array>, marker: string): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  const deadline = Date.now() + 20_000;
  for await (const chunk of stream) {
    text += dec.decode(chunk, { stream: true });
    if (text.includes(marker) || Date.now() > deadline) break;
  }
  return text;
}

async function waitFor(d: RunningDaemon, msg: string) {
  for (let i = 0; i < 250 && !d.stdout().includes(msg); i++) await Bun.sleep(20);
  expect(d.stdout()).toContain(msg);
}
