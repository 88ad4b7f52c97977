import { chunk } from "../util.ts";
import type { Tx, WriteItem } from "./write_item.ts";

const CHUNK = 500;

/** Quarantine keeps the bytes of newly claimed deliveries as received, with the reason. */
export async function quarantine(tx: Tx, live: readonly WriteItem[]): Promise<void> {
  const items = live.filter((i) => i.quarantine && i.claim === "new");
  for (const part of chunk(items, CHUNK)) {
    const rows = part.map((i) => ({
      svix_id: i.svixId as string,
      received_at: tx.now,
      reason: i.quarantine?.reason ?? "",
      body: i.quarantine?.body ?? new Uint8Array(),
      reprocessed_at: null,
    }));
    await tx.run(
      tx.build
        .insertInto("quarantine")
        .values(rows)
        .onConflict((oc) => oc.doNothing())
        .compile(),
    );
  }
}
