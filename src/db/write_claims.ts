import type { Tx, WriteItem } from "./write_item.ts";
import * as SQL from "./writer_sql.ts";

/**
 * Idempotency: the primary key on svix_id decides which deliveries are new, here and in any other
 * process sharing the database. Within a batch the first delivery of an id wins; a second copy is
 * a duplicate. `reprocess` takes a quarantined event over. Returns, per item, whether it goes on.
 */
export async function claim(tx: Tx, items: readonly WriteItem[]): Promise<boolean[]> {
  const claimed = new Set<string>();
  const fresh = items.filter((i) => i.claim === "new" && i.svixId !== null);
  if (fresh.length > 0) {
    const rows = uniqueBy(fresh, (i) => i.svixId as string).map((i) => [
      i.svixId,
      i.type,
      i.status,
      i.occurredAt,
    ]);
    for (const r of (await tx.exec(SQL.CLAIM_EVENTS, rows, tx.now)).rows) claimed.add(r.svix_id as string);
  }
  for (const i of items.filter((i) => i.claim === "reprocess")) {
    if (await takeOver(tx, i)) claimed.add(i.svixId as string);
  }
  return items.map((i) => {
    if (i.claim === "none") return true;
    if (!claimed.has(i.svixId as string)) return false;
    claimed.delete(i.svixId as string); // a second copy in the same batch is a duplicate
    return true;
  });
}

/** A quarantined event becomes `item`'s status; false when it is no longer quarantined. */
async function takeOver(tx: Tx, item: WriteItem): Promise<boolean> {
  const id = item.svixId as string;
  const q = tx.build
    .updateTable("webhook_events")
    .set({ type: item.type, status: item.status, occurred_at: item.occurredAt })
    .where("svix_id", "=", id)
    .where("status", "=", "quarantined")
    .returning("svix_id")
    .compile();
  if ((await tx.run(q)).rows.length === 0) return false;
  if (item.status !== "quarantined") {
    await tx.run(
      tx.build.updateTable("quarantine").set({ reprocessed_at: tx.now }).where("svix_id", "=", id).compile(),
    );
  }
  return true;
}

function uniqueBy<T>(list: T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return list.filter((t) => !seen.has(key(t)) && seen.add(key(t)));
}
