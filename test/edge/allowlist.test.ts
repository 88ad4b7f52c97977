import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";
import { startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { observedApp, sample } from "../observability/observed.ts";

let t: Awaited<ReturnType<typeof observedApp>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function deliver(from: string | null, extra: Record<string, string> = {}) {
  const body = bounce(`someone+${Math.random()}@example.com`);
  return (await t?.request(
    "/webhooks/resend",
    { method: "POST", body, headers: { ...signedHeaders(body), ...extra } },
    from,
  )) as Response;
}

async function forbiddenCount(): Promise<number | undefined> {
  const res = (await t?.request("/metrics", { headers: { authorization: `Bearer ${TOKEN}` } })) as Response;
  return sample(await res.text(), "suppressd_webhook_forbidden_ip_total");
}

describe('resend.allowedIps: "resend"', () => {
  test("Resend's addresses, IPv4 and IPv6, are let through", async () => {
    t = await observedApp({ resend: { allowedIps: "resend" } });
    for (const ip of ["44.228.126.217", "::ffff:54.148.139.208", "2600:1f24:64:8abc::17"]) {
      expect((await deliver(ip)).status).toBe(200);
    }
    expect((await t.counts()).suppressions).toBe(3);
  });

  test("anyone else gets 403 forbidden_ip, counted, and the database is unchanged", async () => {
    t = await observedApp({ resend: { allowedIps: "resend" }, log: { requests: true } });
    const before = await t.counts();
    for (const ip of ["203.0.113.9", "2600:1f24:64:9000::1", null]) {
      const res = await deliver(ip);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: "forbidden_ip",
        message: expect.stringContaining("resend.allowedIps"),
      });
    }
    expect(await t.counts()).toEqual(before);
    expect(await forbiddenCount()).toBe(3);
    const line = t.logs().find((l) => l.outcome === "forbidden_ip");
    expect(line).toMatchObject({ status: 403, ip: "203.0.113.9" });
  });

  test("the allowlist covers the webhook route only: the API answers from anywhere", async () => {
    t = await observedApp({ resend: { allowedIps: "resend" } });
    const res = await t.request(
      "/v1/suppressions/a%40example.com",
      { headers: { authorization: `Bearer ${TOKEN}` } },
      "203.0.113.9",
    );
    expect(res.status).toBe(404);
  });

  test("X-Forwarded-For from an untrusted peer is not believed", async () => {
    t = await observedApp({ resend: { allowedIps: "resend" } });
    expect((await deliver("203.0.113.9", { "x-forwarded-for": "44.228.126.217" })).status).toBe(403);
  });
});

describe("behind a trusted proxy (server.trustProxy)", () => {
  test("the right-most untrusted X-Forwarded-For hop is the client", async () => {
    t = await observedApp({
      server: { trustProxy: ["loopback"] },
      resend: { allowedIps: ["resend", "198.51.100.0/24"] },
    });
    expect((await deliver("127.0.0.1", { "x-forwarded-for": "44.228.126.217" })).status).toBe(200);
    expect((await deliver("127.0.0.1", { "x-forwarded-for": "198.51.100.20" })).status).toBe(200);
    // The client prepends a Resend address: the proxy appends the real one, which is the client.
    const spoof = await deliver("127.0.0.1", { "x-forwarded-for": "44.228.126.217, 203.0.113.9" });
    expect(spoof.status).toBe(403);
    // Without the header the proxy itself is the client, and it is not on the allowlist.
    expect((await deliver("127.0.0.1")).status).toBe(403);
    expect(await forbiddenCount()).toBe(2);
  });
});

describe("configuration", () => {
  const base = { resend: { webhookSecrets: [SECRET] }, api: { tokens: [TOKEN] } };
  test("a malformed address or CIDR stops the start with the field path", () => {
    expect(() => parseConfig({ ...base, resend: { ...base.resend, allowedIps: ["1.2.3.4/33"] } })).toThrow(
      /resend\.allowedIps\.0: "1\.2\.3\.4\/33" is not an IPv4\/IPv6 address/,
    );
    expect(() => parseConfig({ ...base, server: { trustProxy: ["nginx"] } })).toThrow(
      /server\.trustProxy\.0/,
    );
    expect(() => parseConfig({ ...base, resend: { ...base.resend, allowedIps: [] } })).toThrow(/allowedIps/);
    expect(parseConfig({ ...base, resend: { ...base.resend, allowedIps: "resend" } }).resend.allowedIps).toBe(
      "resend",
    );
  });
});

describe("over a real socket", () => {
  const tmp = tempDir();
  afterAll(() => tmp.cleanup());

  test("the socket's peer address reaches the allowlist (127.0.0.1 is not Resend)", async () => {
    const dbFile = join(tmp.dir, "s.db");
    const daemon = await startDaemon({
      config: writeConfig(tmp.dir, dbFile, {
        resend: { webhookSecrets: [SECRET], allowedIps: "resend" },
        server: { host: "127.0.0.1", port: 0 },
      }),
    });
    try {
      const body = bounce("real@example.com");
      const res = await fetch(`${daemon.url}/webhooks/resend`, {
        method: "POST",
        body,
        headers: { ...signedHeaders(body), "x-forwarded-for": "44.228.126.217" },
      });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { message: string }).message).toContain("127.0.0.1");
    } finally {
      expect(await daemon.stop()).toBe(0);
    }
  });
});
