import type { Intent } from "../suppression/intents.ts";
import { addressHash } from "./erased.ts";
import type { Tx } from "./write_item.ts";
import * as SQL from "./writer_sql.ts";

/**
 * The addresses among `intents` erased with --keep-suppressed: each hashed with `privacy.hashKey`,
 * all looked up in one statement per batch. Without a key, none can have been.
 */
export async function erasedAmong(
  tx: Tx,
  hashKey: string | null,
  intents: readonly Intent[],
): Promise<Set<string>> {
  if (!hashKey) return new Set();
  const emails = [...new Set(intents.flatMap((i) => (i.kind === "invalid_address" ? [] : [i.email])))];
  if (emails.length === 0) return new Set();
  const byHash = new Map(emails.map((e) => [addressHash(hashKey, e), e]));
  const rows = (await tx.exec(SQL.SELECT_ERASED, [...byHash.keys()])).rows;
  return new Set(rows.map((r) => byHash.get(r.hash as string) as string));
}
