import type { SuppressionTable } from "../db/schema.ts";
import { iso } from "../util.ts";

/**
 * One CSV line (RFC 4180). Cells that a spreadsheet would run as a formula (starting with = + - @,
 * a tab or a carriage return) get a leading apostrophe: OWASP's advice against CSV injection. A
 * value that already starts with apostrophes before such a character gets one more, so `import`,
 * which removes one, reads back exactly what was exported (`'=x@y.com` is an address of its own).
 */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(",")}\n`;
}

export function csvCell(value: string): string {
  const safe = /^'*[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The columns of a suppression list export, the same for the API and `suppressd export`. */
export const SUPPRESSION_CSV_HEADER = [
  "email",
  "reason",
  "first_suppressed_at",
  "suppressed_at",
  "updated_at",
  "note",
];

export function suppressionCsvRow(row: SuppressionTable): string {
  return csvLine([
    row.email,
    row.reason,
    iso(row.first_suppressed_at),
    iso(row.suppressed_at),
    iso(row.updated_at),
    row.note ?? "",
  ]);
}
