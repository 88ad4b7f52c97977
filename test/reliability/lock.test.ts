import { afterAll, expect, test } from "bun:test";
import { tempDir } from "../helpers/app.ts";
import { add, emptyFigures, type Figures, summaryLine } from "./helpers/figures.ts";
import { lockProblems, lockScenario } from "./helpers/lock.ts";

const tmp = tempDir("suppressd-lock-");
const figures: Figures = emptyFigures();
afterAll(() => {
  console.log(summaryLine("lock", figures));
  tmp.cleanup();
});

test("another process holds the write lock for 3 s under load: deliveries wait for it (none gets 503), every 200 is committed, everything recovers", async () => {
  const r = await lockScenario({ dir: tmp.dir, connections: 64, locks: [3000], lists: ["list1"] });
  add(figures, r.figures);

  expect(lockProblems(r, [3000])).toEqual([]);
  // 3 s is well inside the 10 s the writer waits for a lock (README): a wait, never a 503.
  expect(r.driver.refusals).toEqual([]);
}, 90_000);

test("a lock past the writer's 10 s wait, after a 3 s one: 503s, then Resend's retries go through and the outbox drains", async () => {
  // Once found stuck here for good: the daemon kept the write lock itself after the long lock
  // (a cached prepared statement that hit SQLITE_BUSY held it), every delivery got 503 until a
  // restart. Dropped in 0916234; this keeps it from coming back.
  const locks = [3000, 12_000];
  const r = await lockScenario({ dir: tmp.dir, connections: 64, locks, lists: ["list1"] });
  add(figures, r.figures);

  expect(lockProblems(r, locks)).toEqual([]);
}, 150_000);
