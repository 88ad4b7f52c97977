import { join, resolve } from "node:path";

type DbModule = typeof import("../../src/db/client.ts");

/**
 * The seeded addresses: `user0000042@domain42.example.com`. Index `i` in [0, count) exists; any
 * `i` ≥ count has the same shape and does not (bench/lua/lookup.lua builds both). Zero-padding
 * keeps the primary-key order equal to insertion order, so seeding appends to the B-trees.
 */
export function seededAddress(i: number): string {
  return `user${String(i).padStart(7, "0")}@domain${i % 97}.example.com`;
}

const ADDRESS_SQL = "printf('user%07d@domain%d.example.com', i, i % 97)";
const REASON_SQL = `CASE i % 10 WHEN 0 THEN 'complaint' WHEN 1 THEN 'soft_bounce_limit'
  WHEN 2 THEN 'unsubscribe' WHEN 3 THEN 'provider_suppressed' ELSE 'hard_bounce' END`;

/**
 * Creates the schema through the project's own openDatabase/migrate (from `root`), then fills `suppressions`
 * (and one history row per address, as every real suppression has) with `count` addresses.
 * Each chunk is one INSERT … SELECT over a recursive CTE: SQLite generates the rows itself, so
 * nothing crosses the JS boundary per row. Returns the seconds it took.
 */
export async function seedSuppressions(
  dbFile: string,
  count: number,
  root = resolve(import.meta.dir, "../.."),
  chunk = 200_000,
): Promise<number> {
  const started = performance.now();
  // The schema of the source being measured (see sourceRoot), not necessarily the working tree's.
  const { migrate, openDatabase }: DbModule = await import(join(root, "src/db/client.ts"));
  const db = await openDatabase({ url: `file:${dbFile}` });
  try {
    await migrate(db);
    const t0 = Date.UTC(2025, 0, 1);
    for (let from = 0; from < count; from += chunk) {
      const to = Math.min(count, from + chunk) - 1;
      const rows = `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})`;
      await db.writer.batch(
        [
          `${rows} INSERT INTO suppressions (email, suppressed, reason, first_suppressed_at, suppressed_at,
             last_event_at, updated_at, lifted_reasons, note)
           SELECT ${ADDRESS_SQL}, 1, ${REASON_SQL}, ${t0} + i * 10, ${t0} + i * 10, ${t0} + i * 10,
             ${t0} + i * 10, NULL, NULL FROM n`,
          `${rows} INSERT INTO suppression_events (email, decision, reason, event_type, svix_id,
             occurred_at, recorded_at, note)
           SELECT ${ADDRESS_SQL}, 'suppressed', ${REASON_SQL}, 'email.bounced', 'msg_seed_' || i,
             ${t0} + i * 10, ${t0} + i * 10, NULL FROM n`,
        ],
        "write",
      );
    }
    await db.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return (performance.now() - started) / 1000;
}
