import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { instancesScenario } from "./helpers/instances.ts";
import { sample } from "./helpers/verdict.ts";

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

  for (const d of r.drivers) {
    expect(d.unexpected).toEqual([]);
    expect(d.unacked.map((m) => m.id)).toEqual([]);
    expect(d.appliedAgain).toEqual([]);
  }
  // Exactly one of the two applied each message; the other answered "duplicate".
  expect(sample(r.notOnce)).toEqual([]);
  expect(r.drained, r.stall.join("\n")).toBe(true);
  expect(sample(r.verdict.lost)).toEqual([]);
  expect(sample(r.verdict.duplicates)).toEqual([]);
  // Mailchimp never failed (no 429 either), so no job had a reason to be sent again: one attempt
  // each, and one status write per member and audience. Every member had to be written at least
  // once to become unsubscribed, so as many writes as members means none was written twice.
  expect(r.throttled).toBe(0);
  expect(r.attemptedTwice).toBe(0);
  expect(r.writes.got).toBe(r.writes.once);
}, 120_000);
