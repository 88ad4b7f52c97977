import { expect, test } from "bun:test";
import { crashProblems, crashScenario } from "./helpers/crash.ts";
import { scenarioFile } from "./helpers/suite.ts";

const { dir, figures } = scenarioFile("crash");

test("kill -9 ten times under 64 connections: nothing acknowledged is lost, nothing applied twice, every suppression reaches both audiences", async () => {
  const r = await crashScenario({
    dir,
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
