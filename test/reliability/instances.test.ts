import { expect, test } from "bun:test";
import { instancesProblems, instancesScenario } from "./helpers/instances.ts";
import { scenarioFile } from "./helpers/suite.ts";

const { dir, figures } = scenarioFile("instances");

test("two daemons on one database file: every message delivered to both has one effect, and no job is sent twice", async () => {
  const r = await instancesScenario({
    dir,
    messages: 3000,
    connections: 32,
    lists: ["list1", "list2"],
    budgetMs: 60_000,
  });
  Object.assign(figures, r.figures);

  expect(instancesProblems(r)).toEqual([]);
  // Both workers took part (from their "sync batch" log lines): reported, not asserted.
}, 120_000);
