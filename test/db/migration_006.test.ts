import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Kysely } from "kysely";
import { Migrator } from "kysely/migration";
import { type Db, migrate, openDatabase } from "../../src/db/client.ts";
import { LibsqlDialect } from "../../src/db/dialect.ts";
import * as m006 from "../../src/db/migrations/006_reason_sources.ts";
import { migrations } from "../../src/db/migrations/index.ts";
import { Writer } from "../../src/db/writer.ts";
import { parseResendEvent } from "../../src/events/resend.ts";
import { tempDir } from "../helpers/app.ts";
import { testConfig } from "../helpers/config.ts";
import { event, newId } from "../helpers/sign.ts";

const MIN = 60_000;
const T0 = Date.parse("2026-02-01T00:00:00Z");

const opened: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

/** A database file brought up to migration 003 only: the schema the landed version wrote. */
async function landed(): Promise<Db> {
  const tmp = tempDir();
  const db = await openDatabase(testConfig(`file:${join(tmp.dir, "old.db")}`).database);
  opened.push(async () => {
    db.close();
    tmp.cleanup();
  });
  // The schema as it landed before 006: later migrations (008 needs 006 first) come after it.
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < "006"));
  await db.writer.exclusive(async (client) => {
    const migrator = new Migrator({
      db: new Kysely<unknown>({ dialect: new LibsqlDialect(client) }),
      provider: { getMigrations: async () => before },
    });
    const { error } = await migrator.migrateToLatest();
    if (error) throw error;
  });
  return db;
}

async function rows(db: Db, sql: string): Promise<Record<string, unknown>[]> {
  const result = await db.reader.execute(sql);
  return result.rows.map((r) => Object.fromEntries(result.columns.map((c) => [c, r[c]])));
}

/** Rows as the landed writer left them: (email, reason, active, since, last_event_at) + history. */
async function plant(db: Db) {
  const reasons: [string, string, number, number | null, number][] = [
    ["contact@x.com", "unsubscribe", 1, T0, T0 + MIN],
    ["api@x.com", "unsubscribe", 1, T0, T0],
    ["lifted@x.com", "hard_bounce", 0, T0, T0 + 10 * MIN],
    ["lifted@x.com", "provider_suppressed", 0, null, T0 + 10 * MIN],
    // What the Math.min bug could leave: a lift recorded with a `since` after it.
    ["odd@x.com", "unsubscribe", 0, T0 + 20 * MIN, T0 + 10 * MIN],
    ["deleted@x.com", "complaint", 0, T0, T0 + 5 * MIN],
    ["deleted@x.com", "*", 0, null, T0 + 5 * MIN],
  ];
  const history: [string, string, string, string, number][] = [
    ["contact@x.com", "suppressed", "unsubscribe", "contact.updated", T0],
    ["contact@x.com", "already_suppressed", "unsubscribe", "contact.updated", T0 + MIN],
    ["api@x.com", "suppressed", "unsubscribe", "api.put", T0],
    ["lifted@x.com", "suppressed", "hard_bounce", "email.bounced", T0],
    ["lifted@x.com", "lifted", "hard_bounce", "suppression.removed", T0 + 10 * MIN],
    ["deleted@x.com", "suppressed", "complaint", "email.complained", T0],
    ["deleted@x.com", "lifted", "complaint", "api.delete", T0 + 5 * MIN],
  ];
  for (const [email, reason, active, since, at] of reasons)
    await db.writer.execute({
      sql: "INSERT INTO suppression_reasons (email, reason, active, since, last_event_at) VALUES (?, ?, ?, ?, ?)",
      args: [email, reason, active, since, at],
    });
  for (const [email, decision, reason, type, at] of history)
    await db.writer.execute({
      sql: `INSERT INTO suppression_events (email, decision, reason, event_type, svix_id, occurred_at, recorded_at, note)
            VALUES (?, ?, ?, ?, NULL, ?, ?, NULL)`,
      args: [email, decision, reason, type, at, at],
    });
  for (const [email, suppressed, reason] of [
    ["contact@x.com", 1, "unsubscribe"],
    ["api@x.com", 1, "unsubscribe"],
    ["lifted@x.com", 0, "hard_bounce"],
    ["deleted@x.com", 0, "complaint"],
  ] as const)
    await db.writer.execute({
      sql: `INSERT INTO suppressions (email, suppressed, reason, first_suppressed_at, suppressed_at, last_event_at, updated_at, note)
            VALUES (?, ?, ?, ?, ?, ?, ?, NULL)`,
      args: [email, suppressed, reason, T0, T0, T0, T0],
    });
}

describe("migration 006: reasons per source", () => {
  test("carries every row over with the same state, and infers its source from the history", async () => {
    const db = await landed();
    await plant(db);
    expect(await migrate(db)).toEqual(Object.keys(migrations).filter((name) => name >= "006"));
    expect(
      await rows(
        db,
        "SELECT email, reason, source, active, suppressed_at, lifted_at FROM suppression_reasons ORDER BY email, reason",
      ),
    ).toEqual([
      {
        email: "api@x.com",
        reason: "unsubscribe",
        source: "api",
        active: 1,
        suppressed_at: T0,
        lifted_at: null,
      },
      {
        email: "contact@x.com",
        reason: "unsubscribe",
        source: "resend_contact",
        active: 1,
        suppressed_at: T0 + MIN,
        lifted_at: null,
      },
      {
        email: "deleted@x.com",
        reason: "*",
        source: "api",
        active: 0,
        suppressed_at: null,
        lifted_at: T0 + 5 * MIN,
      },
      {
        email: "deleted@x.com",
        reason: "complaint",
        source: "resend",
        active: 0,
        suppressed_at: T0,
        lifted_at: T0 + 5 * MIN,
      },
      {
        email: "lifted@x.com",
        reason: "hard_bounce",
        source: "resend",
        active: 0,
        suppressed_at: T0,
        lifted_at: T0 + 10 * MIN,
      },
      {
        email: "lifted@x.com",
        reason: "provider_suppressed",
        source: "resend",
        active: 0,
        suppressed_at: null,
        lifted_at: T0 + 10 * MIN,
      },
      {
        email: "odd@x.com",
        reason: "unsubscribe",
        source: "resend_contact",
        active: 0,
        suppressed_at: null,
        lifted_at: T0 + 10 * MIN,
      },
    ]);
    expect(
      (await rows(db, "SELECT DISTINCT event_type, source FROM suppression_events ORDER BY event_type")).map(
        (r) => [r.event_type, r.source],
      ),
    ).toEqual([
      ["api.delete", "api"],
      ["api.put", "api"],
      ["contact.updated", "resend_contact"],
      ["email.bounced", "resend"],
      ["email.complained", "resend"],
      ["suppression.removed", "resend"],
    ]);
  });

  test("afterwards contact.updated false lifts the contact's unsubscribe, not the API's", async () => {
    const db = await landed();
    await plant(db);
    await migrate(db);
    const writer = new Writer(db, { softBounce: { count: 3, days: 14 }, sinks: [] });
    opened.unshift(() => writer.close());
    for (const email of ["contact@x.com", "api@x.com"]) {
      const parsed = parseResendEvent(
        event(
          "contact.updated",
          { id: "c", email, unsubscribed: false },
          new Date(T0 + 30 * MIN).toISOString(),
        ),
      );
      if (parsed.outcome !== "act") throw new Error("not acted on");
      await writer.submit({
        claim: "new",
        svixId: newId(),
        type: parsed.type,
        status: "processed",
        occurredAt: parsed.occurredAt,
        intents: parsed.intents,
      });
    }
    expect(
      (
        await rows(
          db,
          "SELECT email, suppressed FROM suppressions WHERE email IN ('contact@x.com', 'api@x.com') ORDER BY email",
        )
      ).map((r) => [r.email, r.suppressed]),
    ).toEqual([
      ["api@x.com", 1],
      ["contact@x.com", 0],
    ]);
  });

  test("down() restores the landed shape", async () => {
    const db = await landed();
    await plant(db);
    await migrate(db);
    await db.writer.exclusive((client) =>
      m006.down(new Kysely<unknown>({ dialect: new LibsqlDialect(client) })),
    );
    expect(
      await rows(
        db,
        "SELECT email, reason, active, since, last_event_at FROM suppression_reasons WHERE email = 'lifted@x.com' ORDER BY reason",
      ),
    ).toEqual([
      { email: "lifted@x.com", reason: "hard_bounce", active: 0, since: T0, last_event_at: T0 + 10 * MIN },
      {
        email: "lifted@x.com",
        reason: "provider_suppressed",
        active: 0,
        since: null,
        last_event_at: T0 + 10 * MIN,
      },
    ]);
    const columns = await rows(db, "SELECT name FROM pragma_table_info('suppression_events')");
    expect(columns.map((c) => c.name)).not.toContain("source");
  });
});
