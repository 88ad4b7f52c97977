import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { crashScenario } from "./helpers/crash.ts";
import { emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { sample } from "./helpers/verdict.ts";

const tmp = tempDir("suppressd-crash-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("crash", figures));
  tmp.cleanup();
});

test("kill -9 ten times under 64 connections: nothing acknowledged is lost, nothing applied twice, every suppression reaches both audiences", async () => {
  const r = await crashScenario({
    dir: tmp.dir,
    crashes: 10,
    connections: 64,
    upMs: [300, 1500],
    lists: ["list1", "list2"],
    createMissing: true,
    budgetMs: 90_000,
    maxMessages: 30_000,
  });
  Object.assign(figures, r.figures);

  expect(r.figures.crashes).toBe(10);
  expect(r.driver.unexpected).toEqual([]);
  expect(r.driver.unacked.map((m) => m.id)).toEqual([]);
  expect(r.driver.appliedAgain).toEqual([]);
  expect(r.drained, r.stall.join("\n")).toBe(true);
  expect(r.outbox.dead ?? 0).toBe(0);
  expect(sample(r.verdict.lost)).toEqual([]);
  expect(sample(r.verdict.duplicates)).toEqual([]);
  // The run did what it claims: load through every crash, and redeliveries answered duplicate.
  expect(r.figures.events).toBeGreaterThan(1000);
  expect(r.driver.redelivered).toBeGreaterThan(0);
}, 150_000);
