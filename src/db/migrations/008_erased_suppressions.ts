import { type Kysely, sql } from "kysely";

// Frozen in time: never import application code here.
// `forget EMAIL --keep-suppressed` (an erasure request from someone who must still never be mailed)
// deletes every row that names the address and keeps only this one: an HMAC-SHA256 of the address
// under privacy.hashKey (hex), the reason, and when it was erased. A keyed hash, not a bare one: a
// bare SHA-256 of an address is reversed by hashing a list of addresses. The hash is the primary
// key (WITHOUT ROWID), so every "is it suppressed?" read adds one index lookup, and the writer one
// lookup per batch for all its addresses.
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE TABLE erased_suppressions (
    hash TEXT PRIMARY KEY NOT NULL,
    reason TEXT NOT NULL,
    erased_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE erased_suppressions`.execute(db);
}
