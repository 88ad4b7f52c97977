import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, type RunningDaemon, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir();
const daemons: RunningDaemon[] = [];
let audience: ReturnType<typeof Bun.serve> | undefined;
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
  audience?.stop(true);
});
afterAll(() => tmp.cleanup());

test("two daemons on one database never send one job twice", async () => {
  // An audience API that takes its time, so the two workers' claims overlap in time.
  const received = new Map<string, number>();
  audience = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const email = decodeURIComponent(new URL(req.url).pathname.split("/").pop() ?? "");
      received.set(email, (received.get(email) ?? 0) + 1);
      await Bun.sleep(15);
      return new Response(null, { status: 204 });
    },
  });
  const config = writeConfig(tmp.dir, join(tmp.dir, "shared.db"), {
    sinks: [
      {
        type: "http",
        name: "crm",
        method: "PUT",
        url: `http://127.0.0.1:${audience.port}/c/{{email}}`,
        concurrency: 8,
      },
    ],
    sync: { pollMs: 50, claimSize: 7, claimsInFlight: 3 },
  });
  daemons.push(await startDaemon({ config }), await startDaemon({ config }));
  const emails = Array.from({ length: 300 }, (_, i) => `t${i}@example.com`);
  await Promise.all(
    emails.map(async (e, i) => {
      const body = bounce(e);
      const d = daemons[i % 2] as RunningDaemon;
      const res = await fetch(`${d.url}/webhooks/resend`, {
        method: "POST",
        body,
        headers: signedHeaders(body),
      });
      expect(res.status).toBe(200);
    }),
  );
  const deadline = Date.now() + 25_000;
  for (;;) {
    const res = await fetch(`${daemons[0]?.url}/v1/sync/jobs?limit=1`, { headers: authHeaders() });
    const { counts } = (await res.json()) as { counts: Record<string, number> };
    if (counts.pending === 0 && counts.running === 0 && received.size === emails.length) break;
    if (Date.now() > deadline)
      throw new Error(`not done: ${JSON.stringify(counts)}, ${received.size} received`);
    await Bun.sleep(50);
  }
  expect([...received.values()].every((n) => n === 1)).toBe(true);
  // Both took part: the claims really were contended.
  const sent = daemons.map((d) => (d.stdout().match(/"msg":"sync batch"/g) ?? []).length);
  expect(sent.every((n) => n > 0)).toBe(true);
}, 45_000);
