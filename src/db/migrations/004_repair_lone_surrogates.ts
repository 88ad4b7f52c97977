import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
//
// Versions before this one sent text to SQLite as JSON for `json_each`, and SQLite's JSON reader
// stores a lone-surrogate escape (`"\ud800x@example.com"`, a note cut in the middle of an emoji)
// as the bytes ED A0..BF xx, which are not UTF-8. libsql panics and aborts the process on every
// read of such a value, so each value is read here only as a BLOB and rewritten with U+FFFD for
// each surrogate: the text the fixed writer would have stored for it.
//
// Only these three-byte sequences are looked for: they are the only invalid UTF-8 that path could
// write (bound parameters reach SQLite through libsql's own conversion, which replaces them).
// The scan reads each text column once and returns only values with an ED byte, so it stays
// cheap on a large database; it runs once, as a migration, at the first start of this version.

export async function up(db: Kysely<unknown>): Promise<void> {
  const tables = await sql<{ name: string }>`SELECT name FROM sqlite_schema
    WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'kysely_%'`.execute(db);
  for (const { name: table } of tables.rows) {
    const columns = await sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})
      WHERE upper(type) = 'TEXT'`.execute(db);
    for (const { name: column } of columns.rows) await repairColumn(db, table, column);
  }
}

async function repairColumn(db: Kysely<unknown>, table: string, column: string) {
  const t = sql.table(table);
  const c = sql.ref(column);
  const found = await sql<{ b: ArrayBuffer }>`SELECT DISTINCT CAST(${c} AS BLOB) AS b FROM ${t}
    WHERE instr(CAST(${c} AS BLOB), X'ED') > 0`.execute(db);
  for (const { b } of found.rows) {
    const bytes = new Uint8Array(b);
    const text = repaired(bytes);
    if (text === null) continue;
    // OR IGNORE: two addresses that differed only in which lone surrogate they held are the same
    // text once repaired; the row already there is kept and the other one, which no request could
    // ever reach (an address with a lone surrogate is no address), is dropped below.
    await sql`UPDATE OR IGNORE ${t} SET ${c} = ${text} WHERE CAST(${c} AS BLOB) = ${bytes}`.execute(db);
    await sql`DELETE FROM ${t} WHERE CAST(${c} AS BLOB) = ${bytes}`.execute(db);
  }
}

/** The text with every encoded surrogate (ED A0..BF xx) as U+FFFD; null when there is none. */
export function repaired(bytes: Uint8Array): string | null {
  const out: number[] = [];
  let changed = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i] as number;
    const next = bytes[i + 1] ?? 0;
    if (byte === 0xed && next >= 0xa0 && next <= 0xbf && i + 2 < bytes.length) {
      out.push(0xef, 0xbf, 0xbd);
      i += 2;
      changed = true;
    } else out.push(byte);
  }
  return changed ? new TextDecoder().decode(new Uint8Array(out)) : null;
}
