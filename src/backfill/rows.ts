import type { Db } from "../db/client.ts";
import { type KnownReason, knownReasons } from "../db/import_cursor.ts";
import type { WriteQueue } from "../db/writer.ts";
import { normalizeAddress } from "../events/address.ts";
import type { Intent } from "../suppression/intents.ts";
import { type Source, sourceOf } from "../suppression/sources.ts";
import type { Reason } from "../suppression/types.ts";

/** One address a service says must not be mailed. */
export interface BackfillRow {
  email: string;
  reason: Reason;
  /**
   * When the service says it happened; null when it does not say (a Resend contact's
   * `unsubscribed` has no time): the row is then written at the time it is read, and only when
   * the address is not already suppressed for this reason by this source.
   */
  at: number | null;
  note?: string;
}

export interface WriteTarget {
  db: Db;
  writer: WriteQueue;
  /** Recorded in the history; its prefix names the source (see events/sources.ts). */
  eventType: string;
  /** The sinks the rows came from: they hear nothing of these changes (no echo). */
  skipSinks: readonly string[];
  now?: () => number;
}

export interface RowStats {
  read: number;
  /** Addresses whose state changed (newly suppressed, or a stronger reason). */
  written: number;
  /** Rows suppressd already knew, at that time or later: not written again. */
  known: number;
  invalid: number;
}

export function emptyStats(): RowStats {
  return { read: 0, written: 0, known: 0, invalid: 0 };
}

/**
 * Writes one page of rows through the writer, skipping what is already known so that a second
 * run, or a page read again after an interruption, writes nothing (no history row either). A row
 * is known when this source's row for the reason is dated at or after it, or an API lift of
 * everything is (the policy would keep the address lifted anyway).
 */
export async function writeRows(target: WriteTarget, rows: BackfillRow[], stats: RowStats): Promise<void> {
  const now = (target.now ?? Date.now)();
  const source = sourceOf(target.eventType);
  stats.read += rows.length;
  const byKey = new Map<string, BackfillRow>();
  for (const r of rows) {
    const email = normalizeAddress(r.email);
    if (email === null) {
      stats.invalid++;
      continue;
    }
    const key = `${email}\n${r.reason}`;
    const prev = byKey.get(key);
    if (prev && (prev.at ?? now) >= (r.at ?? now)) {
      stats.known++;
      continue;
    }
    if (prev) stats.known++;
    byKey.set(key, { ...r, email });
  }
  const fresh = [...byKey.values()];
  const known = await knownReasons(target.db, [...new Set(fresh.map((r) => r.email))]);
  const intents: Intent[] = [];
  for (const r of fresh) {
    if (isKnown(known.get(r.email) ?? [], r, source)) {
      stats.known++;
      continue;
    }
    intents.push({
      kind: "suppress",
      email: r.email,
      reason: r.reason,
      eventType: target.eventType,
      occurredAt: Math.min(r.at ?? now, now),
      ...(r.note ? { note: r.note.slice(0, 500) } : {}),
    });
  }
  if (intents.length === 0) return;
  const result = await target.writer.submit({
    claim: "none",
    svixId: null,
    type: target.eventType,
    status: "processed",
    occurredAt: now,
    intents,
    skipSinks: target.skipSinks,
  });
  stats.written += result.changed;
  stats.known += intents.length - result.changed;
}

/**
 * The rows that writing would change something for (see writeRows): not already recorded by this
 * source at that time or later, nor lifted by an API call made after them. What reconcile counts
 * as drift, so that `--fix` leaves none behind.
 */
export async function unknownRows(db: Db, rows: BackfillRow[], eventType: string): Promise<BackfillRow[]> {
  const source = sourceOf(eventType);
  const out: BackfillRow[] = [];
  for (let i = 0; i < rows.length; i += 5000) {
    const part = rows.slice(i, i + 5000).map((r) => ({ ...r, email: normalizeAddress(r.email) ?? "" }));
    const known = await knownReasons(db, [...new Set(part.map((r) => r.email))]);
    out.push(...part.filter((r) => r.email !== "" && !isKnown(known.get(r.email) ?? [], r, source)));
  }
  return out;
}

function isKnown(rows: KnownReason[], r: BackfillRow, source: Source): boolean {
  return rows.some((k) => {
    if (k.reason === "*") return r.at !== null && (k.liftedAt ?? -Infinity) >= r.at;
    if (k.reason !== r.reason || k.source !== source) return false;
    if (r.at === null) return k.active;
    return Math.max(k.suppressedAt ?? -Infinity, k.liftedAt ?? -Infinity) >= r.at;
  });
}
