import { afterEach, describe, expect, test } from "bun:test";
import { reportSyncBatch } from "../../src/metrics/sync_report.ts";
import { TOKEN } from "../helpers/config.ts";
import { bounce, event, signedHeaders } from "../helpers/sign.ts";
import { observedApp, sample } from "./observed.ts";

const SCRAPE_TOKEN = "scrape-only-token-0123456789";
let t: Awaited<ReturnType<typeof observedApp>> | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });
const post = (body: string, headers: Record<string, string> = signedHeaders(body)) =>
  t?.request("/webhooks/resend", { method: "POST", body, headers }) as Promise<Response>;

async function scrape(token = TOKEN): Promise<string> {
  const res = (await t?.request("/metrics", { headers: auth(token) })) as Response;
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  return res.text();
}

describe("GET /metrics", () => {
  test("needs a token: an API token or a scrape-only metrics token, which opens nothing else", async () => {
    t = await observedApp({ metrics: { tokens: [SCRAPE_TOKEN] } });
    expect((await t.request("/metrics")).status).toBe(401);
    expect((await t.request("/metrics", { headers: auth("wrong-token-0123456789") })).status).toBe(401);
    await scrape(TOKEN);
    await scrape(SCRAPE_TOKEN);
    const api = await t.request("/v1/suppressions/a@example.com", { headers: auth(SCRAPE_TOKEN) });
    expect(api.status).toBe(401);
  });

  test("events by type and outcome, duplicates, signature failures, suppressions by reason", async () => {
    t = await observedApp();
    const hard = bounce("hard@example.com");
    const headers = signedHeaders(hard);
    expect((await post(hard, headers)).status).toBe(200);
    expect((await post(hard, headers)).status).toBe(200); // Resend's retry: a duplicate
    const open = event("email.opened", { to: ["x@example.com"] });
    expect((await post(open)).status).toBe(200);
    const complaint = event("email.complained", { to: ["c@example.com"] });
    expect((await post(complaint)).status).toBe(200);
    expect((await post(hard, { ...signedHeaders(hard), "svix-signature": "v1,AAAA" })).status).toBe(401);
    expect((await post(hard, { "content-type": "application/json" })).status).toBe(401);

    const text = await scrape();
    const events = (type: string, outcome: string) =>
      sample(text, `suppressd_webhook_events_total{type="${type}",outcome="${outcome}"}`);
    expect(events("email.bounced", "processed")).toBe(1);
    expect(events("email.bounced", "duplicate")).toBe(1);
    expect(events("email.opened", "ignored")).toBe(1);
    expect(events("email.complained", "processed")).toBe(1);
    expect(sample(text, "suppressd_webhook_duplicates_total")).toBe(1);
    expect(sample(text, "suppressd_webhook_signature_failures_total")).toBe(2);
    expect(sample(text, 'suppressd_suppressions{reason="hard_bounce"}')).toBe(1);
    expect(sample(text, 'suppressd_suppressions{reason="complaint"}')).toBe(1);
    expect(sample(text, 'suppressd_suppressions{reason="manual"}')).toBe(0);
    expect(sample(text, "suppressd_database_up")).toBe(1);
    expect(sample(text, "suppressd_last_event_received_timestamp_seconds")).toBeGreaterThan(0);
    const route = 'method="POST",route="/webhooks/resend"';
    expect(sample(text, `suppressd_http_requests_total{${route},status="200"}`)).toBe(4);
    expect(sample(text, `suppressd_http_requests_total{${route},status="401"}`)).toBe(2);
    expect(sample(text, `suppressd_http_request_duration_seconds_count{${route}}`)).toBe(6);
    expect(sample(text, `suppressd_http_request_duration_seconds_bucket{${route},le="+Inf"}`)).toBe(6);
  });

  test("outbox jobs by sink and status come from the sync_jobs table", async () => {
    t = await observedApp({
      sinks: [
        { type: "http", name: "crm", url: "http://127.0.0.1:9/{email}" },
        { type: "http", name: "erp", url: "http://127.0.0.1:9/{email}" },
      ],
    });
    for (const to of ["a@example.com", "b@example.com"]) expect((await post(bounce(to))).status).toBe(200);
    await t.db.writer.execute(
      "UPDATE sync_jobs SET status = 'dead' WHERE sink = 'erp' AND email = 'a@example.com'",
    );
    const text = await scrape();
    expect(sample(text, 'suppressd_outbox_jobs{sink="crm",status="pending"}')).toBe(2);
    expect(sample(text, 'suppressd_outbox_jobs{sink="erp",status="pending"}')).toBe(1);
    expect(sample(text, 'suppressd_outbox_jobs{sink="erp",status="dead"}')).toBe(1);
  });

  test("the sync worker's batch report becomes metrics and one log line without addresses", async () => {
    t = await observedApp();
    const { jsonLogger } = await import("../../src/log.ts");
    const lines: string[] = [];
    const log = jsonLogger("info", (l) => lines.push(l));
    reportSyncBatch(log, t.metrics, { sink: "mailchimp-main", jobs: 3, done: 2, retry: 1, durationMs: 420 });
    reportSyncBatch(log, t.metrics, {
      sink: "mailchimp-main",
      jobs: 5,
      done: 0,
      retry: 5,
      durationMs: 30_000,
      error: "timeout",
    });
    const text = await scrape();
    // Counted by jobs, not by whether the sink threw: a batch with a failed job is not "ok".
    expect(sample(text, 'suppressd_sync_batches_total{sink="mailchimp-main",result="partial"}')).toBe(1);
    expect(sample(text, 'suppressd_sync_batches_total{sink="mailchimp-main",result="error"}')).toBe(1);
    expect(sample(text, 'suppressd_sync_jobs_total{sink="mailchimp-main",outcome="done"}')).toBe(2);
    expect(sample(text, 'suppressd_sync_jobs_total{sink="mailchimp-main",outcome="retry"}')).toBe(6);
    expect(sample(text, 'suppressd_sync_batch_duration_seconds_count{sink="mailchimp-main"}')).toBe(2);
    expect(sample(text, 'suppressd_sync_batch_duration_seconds_bucket{sink="mailchimp-main",le="0.5"}')).toBe(
      1,
    );
    const logged = lines.map((l) => JSON.parse(l));
    expect(logged[0]).toMatchObject({
      level: "info",
      msg: "sync batch",
      sink: "mailchimp-main",
      jobs: 3,
      done: 2,
    });
    // The error itself goes to the worker's outage log (one line per sink, class and interval).
    expect(logged[1]).toMatchObject({ level: "info", retry: 5, duration_ms: 30000 });
  });

  test("odd event types do not create unbounded label values", async () => {
    t = await observedApp();
    t.metrics.webhook("type with spaces {}", "ignored");
    for (let i = 0; i < 100; i++) t.metrics.webhook(`future.type${i}`, "ignored");
    const text = await scrape();
    expect(sample(text, 'suppressd_webhook_events_total{type="invalid",outcome="ignored"}')).toBe(1);
    expect(sample(text, 'suppressd_webhook_events_total{type="other",outcome="ignored"}')).toBe(36);
  });

  test("past the 1,024 series the handles remember, every request is still counted in its own", async () => {
    t = await observedApp();
    // 1,500 distinct (method, route, status) triples fill and empty the handle cache; the third
    // round of one triple comes after the clear.
    for (let status = 0; status < 1_500; status++) t.metrics.request("GET", "/x", 1000 + status, 0.001);
    for (let round = 0; round < 3; round++) t.metrics.request("GET", "/x", 1000, 0.001);
    t.metrics.request("POST", "/x", 1000, 0.001);
    const text = await scrape();
    expect(sample(text, 'suppressd_http_requests_total{method="GET",route="/x",status="1000"}')).toBe(4);
    expect(sample(text, 'suppressd_http_requests_total{method="GET",route="/x",status="2499"}')).toBe(1);
    expect(sample(text, 'suppressd_http_requests_total{method="POST",route="/x",status="1000"}')).toBe(1);
    expect(sample(text, 'suppressd_http_request_duration_seconds_count{method="GET",route="/x"}')).toBe(
      1_503,
    );
  });
});
