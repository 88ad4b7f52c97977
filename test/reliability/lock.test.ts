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

test("another process holds the write lock for 3 s under load: deliveries wait or get 503, never 200 without a commit, and everything recovers", async () => {
  const r = await lockScenario({ dir: tmp.dir, connections: 64, locks: [3000], lists: ["list1"] });
  add(figures, r.figures);

  expect(lockProblems(r, [3000])).toEqual([]);
}, 90_000);

// BUG (the writer thread, since 745def3): a 3 s lock is shorter than the 10 s the writer waits for
// one, so every delivery should wait and none get 503 (README: "retried in the background for up
// to 10 s"). With the outbox busy, deliveries waited ~10 s and a few dozen got 503 "locked by
// another process" after the holder had let go: the writer thread and the sync worker's outbox
// statements (main thread, reader connection) now contend for the write lock through SQLite's
// sleeping busy handler, and the writer loses for seconds. Without a sink the same run waits 3 s
// and answers no 503. Harmless for the data (Resend retries), but a longer ingest outage than the
// lock, and more than documented.
test.todo("a 3 s lock with the outbox busy: deliveries wait for it and none gets 503", async () => {
  const r = await lockScenario({ dir: tmp.dir, connections: 64, locks: [3000], lists: ["list1"] });
  expect(r.driver.refusals).toEqual([]);
  expect(r.driver.failures["503"] ?? 0).toBe(0);
}, 90_000);
