import { afterAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { openDatabase } from "../../src/db/client.ts";
import { tempDir } from "../helpers/app.ts";
import { ROOT, startDaemon, writeConfig } from "../helpers/daemon.ts";
import { bounce, signedHeaders } from "../helpers/sign.ts";

const tmp = tempDir("suppressd-sigterm-");
afterAll(() => tmp.cleanup());

const LOOPS = 8;
/** Deliveries answered 200 before SIGTERM is sent; the loops keep posting through the stop. */
const BEFORE_SIGTERM = 150;
/** Per loop, so the test ends even if the daemon never stops. */
const MAX_PER_LOOP = 2_000;

/** The same source under both runtimes: Bun.serve and Deno.serve drain differently underneath. */
const RUNTIMES: [string, string[] | undefined][] = [
  ["Bun", undefined],
  ["Deno", [join(ROOT, "node_modules/.bin/deno"), "run", "-A", join(ROOT, "src/main.ts")]],
];

test.each(RUNTIMES)(
  "SIGTERM under load on %s: exit 0, and every delivery answered 200 is in the database",
  async (name, cmd) => {
    const dir = join(tmp.dir, name);
    mkdirSync(dir);
    const dbFile = join(dir, "s.db");
    const daemon = await startDaemon({
      ...(cmd ? { cmd } : {}),
      config: writeConfig(dir, dbFile, { log: { level: "info", requests: false } }),
    });
    const acked: string[] = [];
    const refused: string[] = [];
    let signalled = false;

    const loop = async (n: number) => {
      for (let i = 0; i < MAX_PER_LOOP && daemon.proc.exitCode === null; i++) {
        const body = bounce(`load-${n}-${i}@example.com`);
        const headers = signedHeaders(body);
        try {
          const res = await fetch(`${daemon.url}/webhooks/resend`, { method: "POST", body, headers });
          await res.arrayBuffer();
          if (res.status === 200) acked.push(headers["svix-id"]);
          else refused.push(`${res.status}`);
        } catch {
          // The listener is closed: Resend would retry this delivery later.
          if (signalled) return;
          refused.push("connection error before SIGTERM");
        }
        if (!signalled && acked.length >= BEFORE_SIGTERM) {
          signalled = true;
          daemon.proc.kill("SIGTERM");
        }
      }
    };
    await Promise.all(Array.from({ length: LOOPS }, (_, n) => loop(n)));
    const exitCode = await daemon.proc.exited;

    expect(signalled).toBe(true);
    expect(exitCode).toBe(0);
    expect(daemon.stdout()).toContain('"msg":"stopped"');
    // Connections refused after SIGTERM are fine (Resend retries). An answer other than 200 is not:
    // the listener drains its requests before the writer closes, so none of them meets a 503.
    expect(refused).toEqual([]);

    const db = await openDatabase({ url: `file:${dbFile}` });
    try {
      const stored = new Set<string>();
      const rows = await db.reader.execute("SELECT svix_id FROM webhook_events");
      for (const r of rows.rows) stored.add(r.svix_id as string);
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      const suppressed = await db.reader.execute(
        "SELECT count(*) AS n FROM suppressions WHERE suppressed = 1",
      );
      expect(Number(suppressed.rows[0]?.n)).toBeGreaterThanOrEqual(acked.length);
    } finally {
      db.close();
    }
  },
  60_000,
);
