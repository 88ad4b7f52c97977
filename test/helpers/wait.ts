/**
 * Polls `done` until it holds. After `timeoutMs` it throws naming `what`, so a wait for something
 * that never happens fails the test with a reason instead of hanging it until the runner's
 * timeout. The deadline is generous on purpose: it bounds a wait, it does not time anything.
 */
export async function waitUntil(
  what: string,
  done: () => boolean | Promise<boolean>,
  { timeoutMs = 15_000, everyMs = 5 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting until ${what}`);
    await Bun.sleep(everyMs);
  }
}
