import { createApp } from "../../src/http/app.ts";
import { jsonLogger } from "../../src/log.ts";
import { Metrics } from "../../src/metrics/metrics.ts";
import { makeApp, type TestApp } from "../helpers/app.ts";

/**
 * A test app whose log lines are captured and whose metrics registry is at hand. The database,
 * writer and clock are makeApp's; only the app is rebuilt with an observable logger and registry.
 */
export async function observedApp(overrides: Record<string, unknown> = {}) {
  const t: TestApp = await makeApp(overrides);
  const lines: string[] = [];
  const metrics = new Metrics({ db: t.db.read, cacheMs: 0 });
  const app = createApp({
    config: t.config,
    db: t.db,
    writer: t.writer,
    clock: () => t.now.value,
    metrics,
    log: jsonLogger("debug", (l) => lines.push(l)),
  });
  return {
    ...t,
    app,
    metrics,
    /** Captured log lines, parsed. */
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    raw: () => lines.join(""),
    request: (path: string, init?: RequestInit, remoteAddress: string | null = "127.0.0.1") =>
      Promise.resolve(app.request(path, init, { remoteAddress })),
  };
}

/** The value of one sample line in a Prometheus text body, or undefined. */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
