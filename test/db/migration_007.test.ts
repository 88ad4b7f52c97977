import { expect, test } from "bun:test";
import { join } from "node:path";
import { Kysely } from "kysely";
import { migrate, openDatabase } from "../../src/db/client.ts";
import { LibsqlDialect } from "../../src/db/dialect.ts";
import { readCursor, saveCursor } from "../../src/db/import_cursor.ts";
import * as m007 from "../../src/db/migrations/007_import_cursors.ts";
import { tempDir } from "../helpers/app.ts";

test("migration 007: import_cursors keeps one position per listing and scope; down() drops it", async () => {
  const tmp = tempDir();
  const db = await openDatabase({ url: `file:${join(tmp.dir, "m.db")}` });
  try {
    await migrate(db);
    const fresh = await readCursor(db, "mailchimp.cleaned", "news/aud1");
    expect(fresh).toEqual({
      source: "mailchimp.cleaned",
      scope: "news/aud1",
      cursor: null,
      passStartedAt: null,
      lastCompleteAt: null,
      rows: 0,
    });
    await saveCursor(db, { ...fresh, cursor: "980", passStartedAt: 5, rows: 1000 }, 6);
    await saveCursor(db, { ...fresh, cursor: "1960", passStartedAt: 5, rows: 2000 }, 7);
    await saveCursor(db, { ...fresh, scope: "news/aud2", rows: 3 }, 7);
    expect(await readCursor(db, "mailchimp.cleaned", "news/aud1")).toMatchObject({
      cursor: "1960",
      rows: 2000,
    });
    expect(await readCursor(db, "mailchimp.cleaned", "news/aud2")).toMatchObject({ cursor: null, rows: 3 });
    await db.writer.exclusive((client) =>
      m007.down(new Kysely<unknown>({ dialect: new LibsqlDialect(client) })),
    );
    const left = await db.reader.execute("SELECT name FROM sqlite_master WHERE name = 'import_cursors'");
    expect(left.rows.length).toBe(0);
  } finally {
    db.close();
    tmp.cleanup();
  }
});
