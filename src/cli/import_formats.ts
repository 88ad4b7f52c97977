import { normalizeAddress } from "../events/address.ts";
import type { Reason } from "../suppression/types.ts";
import { usageError } from "./command.ts";
import { KNOWN_REASONS, reasonFromWord } from "./import_reasons.ts";

/**
 * The files people really have, recognised by their header row: what `suppressd import` reads and
 * how each row becomes an address, a reason, a time and a note.
 */

/** What one data row turned into. */
export type RowResult =
  | { ok: true; email: string; reason: Reason; at: number | null; note: string | null }
  | { ok: false; kind: "invalid" | "unknown_reason"; why: string };

export interface Format {
  /** Said to the operator: "format: …". */
  name: string;
  /** false: the first line is already a row (a plain list). */
  header: boolean;
  row(cells: string[], defaultReason: Reason): RowResult;
}

/** Notes longer than this are refused, so a stray column cannot fill the history. */
const MAX_NOTE = 2000;

/** Resend's `origin` (suppression.added and the suppression list), as the webhook policy maps it. */
const RESEND_ORIGINS: Record<string, Reason> = {
  bounce: "hard_bounce",
  complaint: "complaint",
  manual: "provider_suppressed",
};

/**
 * Picks the format from the first row. Throws a usage error for a file we must not import (a
 * Mailchimp export of subscribed members) or cannot read (no email column).
 */
export function detectFormat(first: string[], fileName = ""): Format {
  const names = first.map((c) =>
    c
      .replace(/^\uFEFF/, "")
      .trim()
      .toLowerCase(),
  );
  const col = (...want: string[]) => {
    for (const w of want) if (names.includes(w)) return names.indexOf(w);
    return -1;
  };
  const get = (cells: string[], i: number) => (i < 0 ? "" : (cells[i] ?? "").trim());

  // Mailchimp's audience export: "Email Address", merge fields, then MEMBER_RATING, OPTIN_TIME, …,
  // UNSUB_TIME/UNSUB_CAMPAIGN_TITLE/UNSUB_CAMPAIGN_ID/UNSUB_REASON/UNSUB_REASON_OTHER (unsubscribed_*)
  // or CLEAN_TIME/CLEAN_CAMPAIGN_TITLE/CLEAN_CAMPAIGN_ID (cleaned_*) or LAST_CHANGED (subscribed_*),
  // then LEID, EUID, NOTES, TAGS.
  const mcEmail = col("email address");
  if (mcEmail >= 0 && (col("leid") >= 0 || col("euid") >= 0 || col("member_rating") >= 0)) {
    const unsub = col("unsub_time");
    const clean = col("clean_time");
    if (unsub >= 0) {
      const why = col("unsub_reason");
      const other = col("unsub_reason_other");
      return {
        name: "Mailchimp unsubscribed members export (rows become unsubscribe, at UNSUB_TIME)",
        header: true,
        row: (cells) => {
          const reasonText = [get(cells, why), get(cells, other)].filter(Boolean).join(": ");
          return mapped(
            get(cells, mcEmail),
            "unsubscribe",
            get(cells, unsub),
            `Mailchimp unsubscribed${reasonText ? `: ${reasonText}` : ""}`,
          );
        },
      };
    }
    if (clean >= 0) {
      const campaign = col("clean_campaign_title");
      return {
        name: "Mailchimp cleaned members export (rows become hard_bounce, at CLEAN_TIME)",
        header: true,
        row: (cells) => {
          const title = get(cells, campaign);
          return mapped(
            get(cells, mcEmail),
            "hard_bounce",
            get(cells, clean),
            `Mailchimp cleaned${title ? ` (campaign ${title})` : ""}`,
          );
        },
      };
    }
    throw usageError(
      `${fileName || "this file"} is a Mailchimp export of subscribed members: they may be mailed, so nothing in it is imported. Import the unsubscribed_*.csv and cleaned_*.csv files of the export (or the export's zip as it is).`,
    );
  }

  // Resend's suppression list: id, email, origin, source_id, created_at (the suppression object).
  const email = col("email", "email_address", "email address", "e-mail");
  const origin = col("origin");
  if (email >= 0 && origin >= 0 && col("source_id") >= 0) {
    const created = col("created_at");
    return {
      name: "Resend suppression list (origin bounce → hard_bounce, complaint → complaint, manual → provider_suppressed)",
      header: true,
      row: (cells) => {
        const word = get(cells, origin).toLowerCase();
        const reason = RESEND_ORIGINS[word];
        if (reason === undefined) {
          return {
            ok: false,
            kind: "unknown_reason",
            why: `unknown origin ${JSON.stringify(word.slice(0, 50))} (known: bounce, complaint, manual)`,
          };
        }
        return mapped(
          get(cells, email),
          reason,
          get(cells, created),
          `Resend suppression list (origin ${word})`,
        );
      },
    };
  }

  // Our own export, or any list with an email column.
  if (email >= 0) {
    const reasonCol = col("reason");
    const note = col("note", "notes");
    const at = col("suppressed_at", "created_at", "date");
    return {
      name: "CSV with an email column (reason, note, suppressed_at or created_at are read when present)",
      header: true,
      row: (cells, defaultReason) => {
        const word = unneutralize(get(cells, reasonCol));
        const reason = word === "" ? defaultReason : reasonFromWord(word);
        if (reason === null) {
          return {
            ok: false,
            kind: "unknown_reason",
            why: `unknown reason ${JSON.stringify(word.slice(0, 50))} (${KNOWN_REASONS})`,
          };
        }
        return mapped(
          unneutralize(get(cells, email)),
          reason,
          get(cells, at),
          unneutralize(get(cells, note)) || null,
        );
      },
    };
  }

  // No header at all: one address per line.
  if (names.length === 1 && normalizeAddress(first[0] ?? "") !== null) {
    return {
      name: "plain list, one address per line (reason from --reason, else imported)",
      header: false,
      row: (cells, defaultReason) => {
        if (cells.slice(1).some((c) => c.trim() !== "")) {
          return {
            ok: false,
            kind: "invalid",
            why: "more than one value on the line (a plain list has one address per line)",
          };
        }
        return mapped(get(cells, 0), defaultReason, "", null);
      },
    };
  }

  throw usageError(
    `cannot tell what ${fileName || "this file"} is: the first line should be a header naming an email column ('email', 'Email Address'), or an address (a plain list). Found: ${first.join(",").slice(0, 200)}`,
  );
}

function mapped(raw: string, reason: Reason, when: string, note: string | null): RowResult {
  if (raw === "") return { ok: false, kind: "invalid", why: "no email" };
  const email = normalizeAddress(raw);
  if (email === null)
    return {
      ok: false,
      kind: "invalid",
      why: `${JSON.stringify(raw.slice(0, 100))} is not an email address`,
    };
  if (note !== null && note.length > MAX_NOTE)
    return { ok: false, kind: "invalid", why: `note is longer than ${MAX_NOTE} characters` };
  let at: number | null = null;
  if (when !== "") {
    at = parseIsoTime(when);
    if (at === null)
      return {
        ok: false,
        kind: "invalid",
        why: `${JSON.stringify(when.slice(0, 50))} is not an ISO 8601 date or time`,
      };
  }
  return { ok: true, email, reason, at, note };
}

/**
 * Undoes the apostrophe `export` (and spreadsheets) put before a cell that would run as a formula,
 * so an exported list imports back to the same addresses and notes. Export adds one before any
 * run of apostrophes that ends in such a character; one is removed here.
 */
function unneutralize(value: string): string {
  return /^'+[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * ISO 8601 date or date-time (also Postgres' `2023-02-22 23:41:11.89+00` and Mailchimp's
 * `2024-02-01 09:00:00`); no zone means UTC.
 */
export function parseIsoTime(value: string): number | null {
  const m = ISO_TIME.exec(value);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return null;
  if (h === undefined) return day.getTime();
  if (Number(h) > 23 || Number(mi) > 59 || Number(s ?? 0) > 59) return null;
  let offset = "Z";
  if (zone && zone.toUpperCase() !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    offset = `${zone[0]}${digits.slice(0, 2)}:${digits.slice(2) || "00"}`;
  }
  const ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s ?? "00"}${(frac ?? "").slice(0, 4)}${offset}`);
  return Number.isNaN(ms) ? null : ms;
}
