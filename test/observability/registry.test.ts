import { describe, expect, test } from "bun:test";
import { Registry } from "../../src/metrics/registry.ts";

describe("Prometheus text exposition", () => {
  test("counters and gauges: HELP, TYPE, one line per label set, escaped values", async () => {
    const r = new Registry();
    const c = r.counter("x_total", "Things\\done\nhere.", ["kind"]);
    c.inc({ kind: 'a"b\\c\nd' });
    c.inc({ kind: "plain" }, 2);
    const g = r.gauge("y", "A gauge.");
    g.set(undefined, 1.5);
    expect(await r.render()).toBe(
      [
        "# HELP x_total Things\\\\done\\nhere.",
        "# TYPE x_total counter",
        'x_total{kind="a\\"b\\\\c\\nd"} 1',
        'x_total{kind="plain"} 2',
        "# HELP y A gauge.",
        "# TYPE y gauge",
        "y 1.5",
        "",
      ].join("\n"),
    );
  });

  test("histogram buckets are cumulative, end with +Inf, and +Inf equals _count", async () => {
    const r = new Registry();
    const h = r.histogram("lat_seconds", "Latency.", ["route"], [0.1, 1]);
    for (const v of [0.05, 0.1, 0.5, 3]) h.observe({ route: "/a" }, v);
    const text = await r.render();
    expect(text).toContain('lat_seconds_bucket{route="/a",le="0.1"} 2');
    expect(text).toContain('lat_seconds_bucket{route="/a",le="1"} 3');
    expect(text).toContain('lat_seconds_bucket{route="/a",le="+Inf"} 4');
    expect(text).toContain('lat_seconds_sum{route="/a"} 3.65');
    expect(text).toContain('lat_seconds_count{route="/a"} 4');
    expect(text.endsWith("\n")).toBe(true);
  });

  test("a counter cannot go down, a name is registered once, collectors run before render", async () => {
    const r = new Registry();
    const c = r.counter("n_total", "N.");
    expect(() => c.inc(undefined, -1)).toThrow();
    expect(() => r.counter("n_total", "again")).toThrow();
    expect(() => r.gauge("bad name", "x")).toThrow();
    const g = r.gauge("g", "G.", ["k"]);
    g.set({ k: "old" }, 1);
    r.onCollect(async () => {
      g.clear();
      g.set({ k: "new" }, 2);
    });
    const text = await r.render();
    expect(text).not.toContain('k="old"');
    expect(text).toContain('g{k="new"} 2');
  });
});
