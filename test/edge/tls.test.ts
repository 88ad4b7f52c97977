import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runCli } from "../cli/run.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET } from "../helpers/config.ts";
import { authHeaders, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir();
const cert = join(tmp.dir, "cert.pem");
const key = join(tmp.dir, "key.pem");

beforeAll(() => {
  // A self-signed certificate for 127.0.0.1, made the way an operator would try it out.
  const made = Bun.spawnSync([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
});
afterAll(() => tmp.cleanup());

describe("server.tls", () => {
  test("serves HTTPS with the configured certificate, webhooks and API included", async () => {
    const config = writeConfig(tmp.dir, join(tmp.dir, "s.db"), {
      server: { host: "127.0.0.1", port: 0, tls: { cert, key } },
    });
    // The helper's readiness probe cannot know our CA: let it through for the start only.
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    let daemon: Awaited<ReturnType<typeof startDaemon>>;
    try {
      daemon = await startDaemon({ config });
    } finally {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    }
    try {
      expect(daemon.url).toStartWith("https://127.0.0.1:");
      const trust = { tls: { ca: await Bun.file(cert).text() } } as RequestInit;
      const body = bounce("tls@example.com");
      const res = await fetch(`${daemon.url}/webhooks/resend`, {
        ...trust,
        method: "POST",
        body,
        headers: signedHeaders(body),
      });
      expect(res.status).toBe(200);
      const got = await fetch(`${daemon.url}/v1/suppressions/tls%40example.com`, {
        ...trust,
        headers: authHeaders(),
      });
      expect(got.status).toBe(200);
      // A client that does not trust the certificate is refused by TLS itself.
      await expect(fetch(`${daemon.url}/healthz`)).rejects.toThrow();
      // Plain HTTP to the TLS port gets no HTTP answer.
      const plain = await fetch(`${daemon.url.replace("https:", "http:")}/healthz`).then(
        (r) => r.status,
        () => "refused",
      );
      expect(plain).not.toBe(200);
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });

  test("a missing certificate stops the start with the key to fix (exit 78)", async () => {
    const config = join(tmp.dir, "missing.json");
    await Bun.write(
      config,
      JSON.stringify({
        server: { port: 0, tls: { cert: join(tmp.dir, "nope.pem"), key } },
        database: { url: `file:${join(tmp.dir, "m.db")}` },
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: ["test-token-0123456789abcdef"] },
      }),
    );
    const r = await runCli(["serve", "--config", config]);
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("server.tls.cert: cannot read");
    expect(r.stderr).toContain("ENOENT");
  });
});
