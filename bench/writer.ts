/**
 * The Writer alone, without HTTP: how long one group commit of a bench-mix batch takes on its
 * thread (statements, and the fsync with `--synchronous FULL`). Under the HTTP bench the 64
 * connections wait on exactly this, so it bounds ingest (bench/README.md, "Ideas measured").
 *
 *   bun bench/writer.ts [--batch 40] [--batches 400] [--synchronous FULL|OFF] [--mix bench|real]
 *                       [--connection native|client]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { migrate, openDatabase } from "../src/db/client.ts";
import { compileOnly } from "../src/db/dialect.ts";
import { NativeConnection } from "../src/db/native.ts";
import { NativeTxRunner } from "../src/db/native_tx.ts";
import type { Database } from "../src/db/schema.ts";
import { type WriteItem, Writer } from "../src/db/writer.ts";
import { parseResendEvent } from "../src/events/resend.ts";
import { kindOf, type Mix, resendBody } from "./lib/payloads.ts";

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "40" },
    batches: { type: "string", default: "400" },
    synchronous: { type: "string", default: "FULL" },
    mix: { type: "string", default: "bench" },
    connection: { type: "string", default: "native" },
  },
});
const batch = Number(values.batch);
const batches = Number(values.batches);
const synchronous = values.synchronous as "FULL" | "OFF";

const dir = mkdtempSync(join(tmpdir(), "bench-writer-"));
const file = join(dir, "w.db");
const db = await openDatabase({ url: `file:${file}` });
await migrate(db);
const rules = { softBounce: { count: 3, days: 7 }, sinks: [] };
// --connection client: @libsql/client on the Db's write connection (the CLI's Writer);
// native: the Writer thread's connection with cached statements (src/db/native_tx.ts).
const native = new NativeConnection(file, {
  busyTimeoutMs: 5000,
  setup: `PRAGMA synchronous=${synchronous}`,
});
const writer =
  values.connection === "native"
    ? new Writer({ connection: new NativeTxRunner(native), build: compileOnly<Database>() }, rules)
    : new Writer(db, rules);
await db.writer.execute(`PRAGMA synchronous=${synchronous}`);

let n = 0;
function item(): WriteItem {
  const i = n++;
  const parsed = parseResendEvent(resendBody(kindOf(i, values.mix as Mix), i, new Date()));
  if (parsed.outcome === "quarantine") throw new Error(parsed.reason);
  return {
    claim: "new",
    svixId: `msg_${i}`,
    type: parsed.type,
    status: parsed.outcome === "act" ? "processed" : "ignored",
    occurredAt: parsed.occurredAt,
    intents: parsed.outcome === "act" ? parsed.intents : [],
  };
}

const times: number[] = [];
for (let b = 0; b < batches + 20; b++) {
  const items = Array.from({ length: batch }, item);
  const t0 = performance.now();
  await Promise.all(items.map((i) => writer.submit(i)));
  if (b >= 20) times.push(performance.now() - t0);
}
await writer.close();
native.close();
db.close();
rmSync(dir, { recursive: true, force: true });
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] as number;
const mean = times.reduce((a, b) => a + b, 0) / times.length;
console.log(
  JSON.stringify({
    batch,
    synchronous,
    mix: values.mix,
    connection: values.connection,
    batchMs: { p50: +at(0.5).toFixed(3), p99: +at(0.99).toFixed(3), mean: +mean.toFixed(3) },
    usPerEvent: +((mean * 1000) / batch).toFixed(1),
  }),
);
