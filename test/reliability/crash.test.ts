import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { crashProblems, crashScenario } from "./helpers/crash.ts";
import { emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";

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
    maxMessages: 150_000,
  });
  Object.assign(figures, r.figures);

  expect(crashProblems(r)).toEqual([]);
  expect(r.figures.crashes).toBe(10);
  // The run did what it claims: load through every crash, and redeliveries answered duplicate.
  expect(r.figures.events).toBeGreaterThan(1000);
  expect(r.driver.redelivered).toBeGreaterThan(0);
}, 150_000);
