import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { instancesProblems, instancesScenario } from "./helpers/instances.ts";

const tmp = tempDir("suppressd-instances-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("instances", figures));
  tmp.cleanup();
});

test("two daemons on one database file: every message delivered to both has one effect, and no job is sent twice", async () => {
  const r = await instancesScenario({
    dir: tmp.dir,
    messages: 3000,
    connections: 32,
    lists: ["list1", "list2"],
    budgetMs: 60_000,
  });
  Object.assign(figures, r.figures);

  expect(instancesProblems(r)).toEqual([]);
  // Both workers took part (from their "sync batch" log lines): reported, not asserted.
}, 120_000);
