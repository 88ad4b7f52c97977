import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/app.ts";
import { authHeaders, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";
import { runCli } from "./run.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

test("an import beside a running daemon: both commit, no webhook is refused", async () => {
  const config = writeConfig(tmp.dir, join(tmp.dir, "s.db"));
  const daemon = await startDaemon({ config });
  try {
    const file = join(tmp.dir, "list.csv");
    const rows = ["email"];
    for (let i = 0; i < 5000; i++) rows.push(`imported${i}@example.com`);
    writeFileSync(file, rows.join("\n"));

    let finished = false;
    const importing = runCli(["import", "--config", config, file]).finally(() => {
      finished = true;
    });
    // Webhooks keep arriving for as long as the import runs (and at least 40 of them).
    const statuses: number[] = [];
    for (let i = 0; i < 40 || (!finished && i < 5000); i++) {
      const body = bounce(`hook${i}@example.com`);
      const res = await fetch(`${daemon.url}/webhooks/resend`, {
        method: "POST",
        body,
        headers: signedHeaders(body),
      });
      statuses.push(res.status);
    }
    const r = await importing;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("imported 5000,");
    expect(statuses.every((s) => s === 200)).toBe(true);
    for (const email of ["imported4999@example.com", `hook${statuses.length - 1}@example.com`]) {
      const got = await fetch(`${daemon.url}/v1/suppressions/${email}`, { headers: authHeaders() });
      expect(got.status).toBe(200);
    }
  } finally {
    await daemon.stop();
  }
});
