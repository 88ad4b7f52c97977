import { expect, test } from "bun:test";
import { join } from "node:path";
import { sql } from "kysely";
import { migrate, openDatabase } from "../../src/db/client.ts";
import { type WriteItem, Writer } from "../../src/db/writer.ts";
import { tempDir } from "../helpers/app.ts";

const T0 = Date.parse("2026-03-01T00:00:00Z");

function item(email: string, eventType: string, at: number, skipSinks?: string[]): WriteItem {
  return {
    claim: "none",
    svixId: null,
    type: eventType,
    status: "processed",
    occurredAt: at,
    intents: [{ kind: "suppress", email, reason: "unsubscribe", eventType, occurredAt: at }],
    ...(skipSinks ? { skipSinks } : {}),
  };
}

test("skipSinks: the sink a change came from gets no job and keeps its waiting one; every other sink gets its job", async () => {
  const tmp = tempDir();
  const db = await openDatabase({ url: `file:${join(tmp.dir, "w.db")}` });
  await migrate(db);
  const writer = new Writer(db, {
    softBounce: { count: 3, days: 14 },
    sinks: [
      { name: "newsletter", lifts: true },
      { name: "crm", lifts: false },
    ],
    clock: () => T0,
  });
  const jobs = async () =>
    (
      await sql<{ sink: string; email: string; event_type: string; status: string }>`
        SELECT sink, email, event_type, status FROM sync_jobs ORDER BY id`.execute(db.read)
    ).rows.map((j) => `${j.sink} ${j.email} ${j.event_type} ${j.status}`);
  try {
    // An API suppression and its lift leave a lift job waiting for the newsletter; then Mailchimp
    // itself says the address unsubscribed.
    await writer.submit({
      ...item("a@example.com", "api.put", T0 - 10),
      intents: [
        {
          kind: "suppress",
          email: "a@example.com",
          reason: "manual",
          eventType: "api.put",
          occurredAt: T0 - 10,
        },
      ],
    });
    await writer.submit({
      ...item("a@example.com", "api.delete", T0 - 5),
      intents: [
        { kind: "lift", email: "a@example.com", reasons: "*", eventType: "api.delete", occurredAt: T0 - 5 },
      ],
    });
    const r = await writer.submit(item("a@example.com", "mailchimp.backfill", T0, ["newsletter"]));
    expect(r.changed).toBe(1);
    await writer.submit(item("b@example.com", "mailchimp.backfill", T0, ["newsletter"]));
    await writer.submit(item("c@example.com", "import", T0));
    expect(await jobs()).toEqual([
      "newsletter a@example.com api.put superseded",
      "crm a@example.com api.put superseded",
      "newsletter a@example.com api.delete pending",
      "crm a@example.com mailchimp.backfill pending",
      "crm b@example.com mailchimp.backfill pending",
      "newsletter c@example.com import pending",
      "crm c@example.com import pending",
    ]);
    // The reason is recorded under its source.
    const reasons = await sql<{ source: string }>`SELECT source FROM suppression_reasons
      WHERE email = 'b@example.com'`.execute(db.read);
    expect(reasons.rows.map((x) => x.source)).toEqual(["mailchimp"]);
  } finally {
    await writer.close();
    db.close();
    tmp.cleanup();
  }
});
