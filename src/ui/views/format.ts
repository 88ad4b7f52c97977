import { logAddress } from "../../log.ts";

/** "2026-11-29 14:03 UTC": the page shows UTC like the logs, so the two can be compared. */
export function utc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** "3 h 5 min", "40 s": an age in words short enough for a table cell. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return `${Math.floor(h / 24)} days`;
}

export const num = (n: number) => n.toLocaleString("en-US");

/** How an address is shown in lists: as the logs write it (hashed), unless asked to reveal it. */
export function shownAddress(
  email: string,
  hash: boolean,
  reveal: string | null,
): { text: string; hidden: boolean } {
  const logged = logAddress(email, hash);
  if (!hash || reveal === logged) return { text: email, hidden: false };
  return { text: logged, hidden: true };
}

/** Who made a change: the API token's name (`token:NAME`), else its source (Resend, an import). */
export function who(source: string | null, actor: string | null): string {
  return actor ?? source ?? "";
}
