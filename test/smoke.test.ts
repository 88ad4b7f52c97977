import { afterEach, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "./helpers/app.ts";
import { type RunningDaemon, startDaemon, writeConfig } from "./helpers/daemon.ts";
import { expectSignedBounceSuppresses } from "./helpers/smoke.ts";

let daemon: RunningDaemon | undefined;
const tmp = tempDir();
afterEach(async () => {
  await daemon?.stop();
  tmp.cleanup();
});

test("a real daemon turns a signed hard bounce into a suppression over real HTTP", async () => {
  daemon = await startDaemon({ config: writeConfig(tmp.dir, join(tmp.dir, "s.db")) });
  await expectSignedBounceSuppresses(daemon.url);
});
