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

const ADDRESS = "printf('user%07d@domain%d.example.com', i, i % 97)";
const REASON = `CASE i % 10 WHEN 0 THEN 'complaint' WHEN 1 THEN 'soft_bounce_limit'
  WHEN 2 THEN 'unsubscribe' WHEN 3 THEN 'provider_suppressed' ELSE 'hard_bounce' END`;
const T0 = Date.UTC(2025, 0, 1);
const TIME = `${T0} + i * 10`;

/**
 * What each seeded row holds, per table and column, as SQL over the CTE's `i`. The schema changes
 * while the project grows, so the INSERTs are built from PRAGMA table_info: a column missing here
 * is NULL if nullable, left out if it has a default or is the rowid, and otherwise an error that
 * names it. A table missing from the database is skipped.
 */
const COLUMNS: Record<string, Record<string, string>> = {
  suppressions: {
    email: ADDRESS,
    suppressed: "1",
    reason: REASON,
    first_suppressed_at: TIME,
    suppressed_at: TIME,
    last_event_at: TIME,
    updated_at: TIME,
  },
  suppression_reasons: {
    email: ADDRESS,
    reason: REASON,
    source: "'resend'",
    active: "1",
    suppressed_at: TIME,
    // before migration 006
    since: TIME,
    last_event_at: TIME,
  },
  suppression_events: {
    email: ADDRESS,
    decision: "'suppressed'",
    reason: REASON,
    event_type: "'email.bounced'",
    source: "'resend'",
    svix_id: "'msg_seed_' || i",
    occurred_at: TIME,
    recorded_at: TIME,
  },
};

interface ColumnInfo {
  name: string;
  type: string;
  notnull: number;
  dflt_value: unknown;
  pk: number;
}

/**
 * Creates the schema through the project's own openDatabase/migrate (from `root`, the source being
 * measured), then fills `suppressions` with `count` addresses, plus the per-reason state and one
 * history row per address, as every real suppression has. Each chunk is one INSERT … SELECT over a
 * recursive CTE: SQLite generates the rows itself, nothing crosses into JS per row. Returns seconds.
 */
export async function seedSuppressions(
  dbFile: string,
  count: number,
  root = resolve(import.meta.dir, "../.."),
  chunk = 200_000,
  /** The first index to seed: bench/scale.ts grows one database step by step. */
  start = 0,
): Promise<number> {
  const started = performance.now();
  const { migrate, openDatabase }: DbModule = await import(join(root, "src/db/client.ts"));
  const db = await openDatabase({ url: `file:${dbFile}` });
  try {
    await migrate(db);
    const inserts: string[] = [];
    for (const [table, known] of Object.entries(COLUMNS)) {
      const info = (await db.writer.execute(`PRAGMA table_info(${table})`)).rows as unknown as ColumnInfo[];
      if (info.length === 0) continue;
      const names: string[] = [];
      const values: string[] = [];
      for (const c of info) {
        const value = known[c.name];
        if (value !== undefined) {
          names.push(c.name);
          values.push(value);
        } else if (c.pk === 1 && c.type.toUpperCase() === "INTEGER") {
          // the rowid: SQLite numbers it
        } else if (c.dflt_value !== null) {
          // its default
        } else if (c.notnull === 0) {
          names.push(c.name);
          values.push("NULL");
        } else {
          throw new Error(`bench/lib/seed.ts: no value for ${table}.${c.name} (NOT NULL); add it to COLUMNS`);
        }
      }
      inserts.push(`INSERT INTO ${table} (${names.join(", ")}) SELECT ${values.join(", ")} FROM n`);
    }
    for (let from = start; from < count; from += chunk) {
      const to = Math.min(count, from + chunk) - 1;
      const rows = `WITH RECURSIVE n(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM n WHERE i < ${to})`;
      await db.writer.exclusive((c) =>
        c.batch(
          inserts.map((insert) => `${rows} ${insert}`),
          "write",
        ),
      );
    }
    await db.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return (performance.now() - started) / 1000;
}
