/**
 * One CSV line (RFC 4180). Cells that a spreadsheet would run as a formula (starting with = + - @,
 * a tab or a carriage return) get a leading apostrophe: OWASP's advice against CSV injection.
 */
export function csvLine(cells: readonly string[]): string {
  return `${cells.map(csvCell).join(",")}\n`;
}

export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
