import type { Kysely } from "kysely";
import type { Database } from "./schema.ts";

/** Reading back stored deliveries: the quarantine, for `events reprocess` and `events list`. */

export interface QuarantinedRow {
  svix_id: string;
  received_at: number;
  reason: string;
  body: ArrayBuffer | Uint8Array;
  type: string | null;
}

/** Quarantined deliveries not yet reprocessed, oldest first, after the keyset position `after`. */
export async function quarantinedPage(
  db: Kysely<Database>,
  after: { at: number; id: string } | null,
  limit: number,
): Promise<QuarantinedRow[]> {
  let q = db
    .selectFrom("quarantine as q")
    .leftJoin("webhook_events as w", "w.svix_id", "q.svix_id")
    .select(["q.svix_id", "q.received_at", "q.reason", "q.body", "w.type"])
    .where("q.reprocessed_at", "is", null);
  if (after) {
    q = q.where((eb) =>
      eb.or([
        eb("q.received_at", ">", after.at),
        eb.and([eb("q.received_at", "=", after.at), eb("q.svix_id", ">", after.id)]),
      ]),
    );
  }
  return (await q.orderBy("q.received_at").orderBy("q.svix_id").limit(limit).execute()) as QuarantinedRow[];
}
