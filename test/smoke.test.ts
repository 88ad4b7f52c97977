import { afterEach, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "./helpers/app.ts";
import { type RunningDaemon, startDaemon, writeConfig } from "./helpers/daemon.ts";
import { expectSignedBounceSuppresses } from "./helpers/smoke.ts";

let daemon: RunningDaemon | undefined;
let tmp: ReturnType<typeof tempDir> | undefined;
afterEach(async () => {
  await daemon?.stop();
  tmp?.cleanup();
});

test("a real daemon turns a signed hard bounce into a suppression over real HTTP", async () => {
  tmp = tempDir();
  daemon = await startDaemon({ config: writeConfig(tmp.dir, join(tmp.dir, "s.db")) });
  await expectSignedBounceSuppresses(daemon.url);
});

test("the same with database.writerThread false: commits on the main thread", async () => {
  tmp = tempDir();
  const db = join(tmp.dir, "t.db");
  daemon = await startDaemon({
    config: writeConfig(tmp.dir, db, { database: { url: `file:${db}`, writerThread: false } }),
  });
  await expectSignedBounceSuppresses(daemon.url);
});
