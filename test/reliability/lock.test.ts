import { expect, test } from "bun:test";
import { add } from "./helpers/figures.ts";
import { lockProblems, lockScenario } from "./helpers/lock.ts";
import { scenarioFile } from "./helpers/suite.ts";

const { dir, figures } = scenarioFile("lock");

// The writer's wait (database.lockWaitMs, 10 s by default) set to 3 s, and the locks scaled with
// it: the same two cases (a lock well inside the wait, one well past it) without 12 s of waiting.
// bench/soak.ts runs them at the default, with 3 s and 12 s locks.
const LOCK_WAIT_MS = 3000;
const SHORT = 1000;
const LONG = 6000;

test("another process holds the write lock for a third of the writer's wait, under load: deliveries wait for it (none gets 503), every 200 is committed, everything recovers", async () => {
  const locks = [SHORT];
  const r = await lockScenario({
    dir,
    connections: 64,
    locks,
    lists: ["list1"],
    lockWaitMs: LOCK_WAIT_MS,
  });
  add(figures, r.figures);

  expect(lockProblems(r, locks)).toEqual([]);
  // Well inside the wait: a wait, never a 503.
  expect(r.driver.refusals).toEqual([]);
}, 90_000);

test("a lock twice the writer's wait, after a short one: 503s, then Resend's retries go through and the outbox drains", async () => {
  // Once found stuck here for good: the daemon kept the write lock itself after the long lock
  // (a cached prepared statement that hit SQLITE_BUSY held it), every delivery got 503 until a
  // restart. Dropped in 0916234; this keeps it from coming back.
  const locks = [SHORT, LONG];
  const r = await lockScenario({
    dir,
    connections: 64,
    locks,
    lists: ["list1"],
    lockWaitMs: LOCK_WAIT_MS,
  });
  add(figures, r.figures);

  expect(lockProblems(r, locks)).toEqual([]);
  // Past the wait, deliveries are refused (so the setting is honoured), and none of them was lost.
  expect(r.figures.extra.answered_503).toBeGreaterThan(0);
  // The wait counts from a delivery's arrival: once a delivery queued behind a batch that was itself
  // waiting got 200 after both waits (~6 s with a 3 s setting). The margin is for a loaded machine.
  expect(r.figures.extra.slowest_200_ms).toBeLessThan(LOCK_WAIT_MS + 2000);
}, 150_000);
