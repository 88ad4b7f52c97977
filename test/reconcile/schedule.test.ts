import { expect, test } from "bun:test";
import { createApp } from "../../src/http/app.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { ReconcileSchedule } from "../../src/reconcile/schedule.ts";
import { FAKE_KEY, FakeMailchimp } from "../fakes/mailchimp.ts";
import { makeApp } from "../helpers/app.ts";
import { TOKEN } from "../helpers/config.ts";

test("reconcile.everyHours: a run reports drift to the log (counts, no addresses), /metrics and GET /v1/status, and repairs nothing", async () => {
  const mc = FakeMailchimp.start({ lists: ["aud1"] });
  const t = await makeApp({
    reconcile: { everyHours: 24 },
    sinks: [{ type: "mailchimp", name: "newsletter", apiKey: FAKE_KEY, listIds: ["aud1"], baseUrl: mc.url }],
  });
  try {
    await t.api("PUT", "/v1/suppressions/kept@example.com", { reason: "manual" });
    mc.addMember("aud1", "kept@example.com", "subscribed");
    mc.addMember("aud1", "gone@example.com", "cleaned");
    const lines: string[] = [];
    const metrics = new Metrics({ db: t.db.read });
    const schedule = new ReconcileSchedule({
      config: t.config,
      db: t.db,
      writer: t.writer,
      log: { log: (level, msg) => lines.push(`${level} ${msg}`) },
      registry: metrics.registry,
      sleep: () => Promise.resolve(),
    });
    const before = await t.counts();
    const app = createApp({
      config: t.config,
      db: t.db,
      writer: t.writer,
      clock: Date.now,
      metrics,
      reconcile: schedule,
    });
    const status = async () =>
      (await (await app.request("/v1/status", { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
        reconcile: unknown;
      };
    expect((await status()).reconcile).toBeNull();

    await schedule.runOnce();
    expect(lines).toEqual([
      "warn reconcile mailchimp newsletter/aud1: 1 suppressed here but mailable there, 1 not mailable there but not suppressed here (run `suppressd reconcile --fix`)",
    ]);
    const text = await metrics.registry.render();
    expect(text).toContain(
      'suppressd_reconcile_drift{target="mailchimp newsletter/aud1",direction="here_not_there"} 1',
    );
    expect(text).toContain(
      'suppressd_reconcile_drift{target="mailchimp newsletter/aud1",direction="there_not_here"} 1',
    );
    expect(text).toMatch(/suppressd_reconcile_last_run_timestamp_seconds\{ok="1"\} \d+/);
    expect((await status()).reconcile).toMatchObject({
      ok: true,
      error: null,
      targets: [{ target: "mailchimp newsletter/aud1", here_not_there: 1, there_not_here: 1 }],
    });
    expect(await t.counts()).toEqual(before);
    expect(mc.stats.statusWrites).toEqual([]);

    // A failing run is reported as such, and the service being down stops nothing else.
    mc.mode = "down";
    await schedule.runOnce();
    expect(lines.at(-1)).toStartWith("error reconcile failed: sink newsletter:");
    expect((await status()).reconcile).toMatchObject({ ok: false });
  } finally {
    mc.stop();
    await t.close();
  }
}, 60_000);
