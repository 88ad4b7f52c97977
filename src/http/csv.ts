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
