import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { add, emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { outageScenario } from "./helpers/outage.ts";
import { sample } from "./helpers/verdict.ts";

const tmp = tempDir("suppressd-outage-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("outage", figures));
  tmp.cleanup();
});

test("Mailchimp down (503 pages, hangs past the timeout, a 429 storm, answers after the timeout): webhooks keep getting 200 and everything arrives after it heals", async () => {
  const r = await outageScenario({ dir: tmp.dir, phaseMs: 1500, perPhase: 60, lists: ["list1", "list2"] });
  add(figures, r.figures);

  expect(r.refused).toEqual([]);
  expect(r.drained).toBe(true);
  expect(r.outbox.dead ?? 0).toBe(0);
  expect(sample(r.verdict.lost)).toEqual([]);
  expect(sample(r.verdict.duplicates)).toEqual([]);
  // The jobs really went through the outage: they failed and were retried, not sent once by luck.
  expect(r.retried).toBeGreaterThan(0);
  // Never anything but "unsubscribed"; every member written at least once, and at most once per
  // attempt of its job (an attempt whose answer came too late may have written it: that is the
  // legitimate second write; two writes in one attempt would be a job sent twice).
  expect(r.writes.statuses).toEqual(["unsubscribed"]);
  expect(r.writes.got).toBeGreaterThanOrEqual(r.writes.atLeast);
  expect(r.writes.got).toBeLessThanOrEqual(r.writes.atMost);
}, 60_000);
