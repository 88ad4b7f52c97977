import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "./helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "./helpers/daemon.ts";
import { fixture, signedHeaders } from "./helpers/sign.ts";

let daemon: RunningDaemon | undefined;
const tmp = tempDir();
afterEach(async () => {
  await daemon?.stop();
  tmp.cleanup();
});

test("a real daemon turns a signed hard bounce into a suppression over real HTTP", async () => {
  daemon = await startDaemon({ config: writeConfig(tmp.dir, join(tmp.dir, "s.db")) });
  const body = fixture("email.bounced.permanent");
  const res = await fetch(`${daemon.url}/webhooks/resend`, {
    method: "POST",
    body,
    headers: signedHeaders(body),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: "processed" });
  const got = await fetch(`${daemon.url}/v1/suppressions/delivered@example.com`, { headers: authHeaders() });
  expect(got.status).toBe(200);
  expect(((await got.json()) as { reason: string }).reason).toBe("hard_bounce");
});
