import { type ImportCursor, readCursor, saveCursor } from "../db/import_cursor.ts";
import type { Progress } from "./progress.ts";
import { type BackfillRow, type RowStats, type WriteTarget, writeRows } from "./rows.ts";

/** A page of a service's listing. */
export interface Page {
  rows: BackfillRow[];
  /** Where the next page starts; null: this was the last page of the pass. */
  next: string | null;
  /** How many rows the listing holds, when the service says. */
  total?: number;
}

/** One listing read page by page: Resend's suppressions, an audience's cleaned members, … */
export interface Listing {
  source: string;
  scope: string;
  /** For progress lines and the summary. */
  label: string;
  /** Reads the page at `cursor` (null: the first). `cursor` tells when the last pass began. */
  page(at: string | null, cursor: ImportCursor): Promise<Page>;
}

export interface PassResult {
  label: string;
  stats: RowStats;
  complete: boolean;
  /** The pass went on from where an interrupted run had stopped. */
  resumed: boolean;
}

/**
 * Reads a listing from where the last run stopped (its cursor in `import_cursors`), writes each
 * page through the writer, then saves the position. `stop()` is asked between pages (Ctrl-C):
 * the pass ends after the page in hand is written, and the next run goes on from there. A pass
 * that reaches the end records when it began, which the next pass may use to read less.
 */
export async function runPass(
  target: WriteTarget,
  listing: Listing,
  stats: RowStats,
  opts: { progress?: Progress; stop?: () => boolean; now?: () => number } = {},
): Promise<PassResult> {
  const now = opts.now ?? Date.now;
  const cursor = await readCursor(target.db, listing.source, listing.scope);
  const resumed = cursor.passStartedAt !== null;
  if (!resumed) {
    cursor.passStartedAt = now();
    cursor.cursor = null;
    cursor.rows = 0;
  }
  for (;;) {
    if (opts.stop?.()) {
      opts.progress?.finish();
      return { label: listing.label, stats, complete: false, resumed };
    }
    const page = await listing.page(cursor.cursor, cursor);
    await writeRows(target, page.rows, stats);
    cursor.rows += page.rows.length;
    opts.progress?.update(listing.label, cursor.rows, page.total ?? null, stats.written);
    if (page.next === null) {
      cursor.lastCompleteAt = cursor.passStartedAt;
      cursor.passStartedAt = null;
      cursor.cursor = null;
      await saveCursor(target.db, cursor, now());
      opts.progress?.finish();
      return { label: listing.label, stats, complete: true, resumed };
    }
    cursor.cursor = page.next;
    await saveCursor(target.db, cursor, now());
  }
}
