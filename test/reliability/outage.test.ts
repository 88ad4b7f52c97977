import { expect, test } from "bun:test";
import { add } from "./helpers/figures.ts";
import { outageProblems, outageScenario } from "./helpers/outage.ts";
import { scenarioFile } from "./helpers/suite.ts";

const { dir, figures } = scenarioFile("outage");

test("Mailchimp down (503 pages, hangs past the timeout, a 429 storm, answers after the timeout): webhooks keep getting 200 and everything arrives after it heals", async () => {
  const r = await outageScenario({ dir, phaseMs: 1500, perPhase: 60, lists: ["list1", "list2"] });
  add(figures, r.figures);

  expect(outageProblems(r)).toEqual([]);
  // The jobs really went through the outage: they failed and were retried, not sent once by luck.
  expect(r.retried).toBeGreaterThan(0);
}, 60_000);
