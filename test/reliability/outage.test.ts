import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { add, emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { outageProblems, outageScenario } from "./helpers/outage.ts";

const tmp = tempDir("suppressd-outage-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("outage", figures));
  tmp.cleanup();
});

test("Mailchimp down (503 pages, hangs past the timeout, a 429 storm, answers after the timeout): webhooks keep getting 200 and everything arrives after it heals", async () => {
  const r = await outageScenario({ dir: tmp.dir, phaseMs: 1500, perPhase: 60, lists: ["list1", "list2"] });
  add(figures, r.figures);

  expect(outageProblems(r)).toEqual([]);
  // The jobs really went through the outage: they failed and were retried, not sent once by luck.
  expect(r.retried).toBeGreaterThan(0);
}, 60_000);
