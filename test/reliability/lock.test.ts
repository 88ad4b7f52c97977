import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { add, emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { lockScenario } from "./helpers/lock.ts";
import { sample } from "./helpers/verdict.ts";

const tmp = tempDir("suppressd-lock-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("lock", figures));
  tmp.cleanup();
});

test("another process holds the write lock for 3 s under load: deliveries wait or get 503, never 200 without a commit, and everything recovers", async () => {
  const r = await lockScenario({ dir: tmp.dir, connections: 64, locks: [3000], lists: ["list1"] });
  add(figures, r.figures);

  expect(r.holders.map((h) => h.exit)).toEqual([0]);
  expect(r.holders[0]?.held).toBeGreaterThanOrEqual(3000);
  expect(r.driver.unexpected).toEqual([]);
  expect(r.driver.unacked.map((m) => m.id)).toEqual([]);
  expect(r.driver.appliedAgain).toEqual([]);
  expect(sample(r.verdict.lost)).toEqual([]);
  expect(sample(r.verdict.duplicates)).toEqual([]);
  expect(r.drained).toBe(true);
  expect(r.outbox.dead ?? 0).toBe(0);
}, 90_000);
