/**
 * Holds the write lock of a database file for a while, from a process of its own, as a backup
 * tool or a long import would: `bun hold_lock.ts FILE MS`. Prints one JSON line when it has the
 * lock and one when it let go.
 */
import { createClient } from "@libsql/client";

const [file, ms] = process.argv.slice(2);
if (!file || !ms) {
  process.stderr.write("usage: hold_lock.ts FILE MS\n");
  process.exit(2);
}
const db = createClient({ url: `file:${file}`, timeout: 10_000 });
// transaction("write") is BEGIN IMMEDIATE: it takes the write lock now, not at the first write.
const tx = await db.transaction("write");
process.stdout.write(`${JSON.stringify({ locked: Date.now() })}\n`);
await Bun.sleep(Number(ms));
await tx.rollback();
tx.close();
db.close();
process.stdout.write(`${JSON.stringify({ released: Date.now() })}\n`);
