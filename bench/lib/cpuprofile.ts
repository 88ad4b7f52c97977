import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { ROOT } from "./servers.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** CPU time sampled on the JS thread (samples × interval). */
  totalMs: number;
  /** Self time by function, largest first. */
  functions: { name: string; where: string; ms: number; pct: number }[];
  /** Self time by package or source folder (node_modules/<pkg>, src/<dir>, native). */
  areas: { area: string; ms: number; pct: number }[];
  /** Inclusive time of the frames whose names are given (e.g. a route handler, the commit). */
  inclusive: Record<string, number>;
}

/** Self time per function and per area from a Chrome-format .cpuprofile (what `bun --cpu-prof` writes). */
export function summarizeProfile(path: string, inclusiveOf: string[] = []): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Count samples, not timeDeltas: the profiler does not sample an idle thread, so the delta of
  // the first sample after a wait would charge the whole wait to whatever ran next.
  const deltas = [...profile.timeDeltas].sort((a, b) => a - b);
  const intervalMs = (deltas[Math.floor(deltas.length / 2)] ?? 1000) / 1000;
  const self = new Map<number, number>();
  for (const id of profile.samples) self.set(id, (self.get(id) ?? 0) + intervalMs);
  const totalMs = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const area = new Map<string, number>();
  const incl = new Map<string, number>();
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${shorten(url)}:${lineNumber + 1}` : "";
    const name = functionName || "(anonymous)";
    const key = `${name}@${where}`;
    const entry = fn.get(key) ?? { name, where, ms: 0 };
    entry.ms += t;
    fn.set(key, entry);
    const a = areaOf(url, name);
    area.set(a, (area.get(a) ?? 0) + t);
    // Count each sample once per distinct wanted frame on its stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame.functionName ?? "";
      if (inclusiveOf.includes(f) && !seen.has(f)) {
        seen.add(f);
        incl.set(f, (incl.get(f) ?? 0) + t);
      }
    }
  }
  const pct = (v: number) => (100 * v) / totalMs;
  return {
    totalMs,
    functions: [...fn.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 25)
      .map((f) => ({ ...f, pct: pct(f.ms) })),
    areas: [...area.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ area: k, ms: v, pct: pct(v) })),
    inclusive: Object.fromEntries([...incl.entries()].map(([k, v]) => [k, pct(v)])),
  };
}

function shorten(url: string): string {
  const path = url.replace(/^file:\/\//, "");
  // A --rev run executes bench/out/rev-<sha>/src/…: report it as src/…
  return path.startsWith(ROOT) ? relative(ROOT, path).replace(/^bench\/out\/rev-[0-9a-f]+\//, "") : path;
}

function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith("(") ? name : "native / runtime";
  const path = shorten(url);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  if (pkg) return pkg;
  const src = /^(src|bench)\/([^/]+)/.exec(path);
  if (src) return `${src[1]}/${src[2]}`;
  return path.startsWith("/") || path.includes(":") ? "runtime (builtins)" : path;
}
