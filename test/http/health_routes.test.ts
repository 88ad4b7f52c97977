import { afterEach, describe, expect, test } from "bun:test";
import { makeApp, type TestApp } from "../helpers/app.ts";

const apps: TestApp[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});
async function app() {
  const t = await makeApp();
  apps.push(t);
  return t;
}

describe("health", () => {
  test("/healthz and /readyz answer without a token", async () => {
    const t = await app();
    const health = await t.app.request("/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await t.app.request("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  test("/readyz answers 503 when the database does not", async () => {
    const t = await makeApp();
    await t.writer.close();
    t.db.close();
    try {
      const res = await t.app.request("/readyz");
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ error: "unavailable", message: expect.any(String) });
      expect((await t.app.request("/healthz")).status).toBe(200);
    } finally {
      await t.close().catch(() => {});
    }
  });

  test("an unknown route is a JSON 404", async () => {
    const t = await app();
    const res = await t.app.request("/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not_found", message: expect.any(String) });
  });
});
