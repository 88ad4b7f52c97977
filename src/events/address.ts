/**
 * Turns a recipient as Resend writes it (`"Jane <Jane@X.com>"`, `" bob@x.com "`) into the key we
 * store: the bare address, trimmed, NFC-normalised and lowercased. Returns null for anything that
 * is not an address, so the caller can record it without suppressing a wrong key.
 */
export function normalizeAddress(raw: unknown): string | null {
  // A lone surrogate (JSON allows `"\ud800x@example.com"`) has no UTF-8 form, so no mail system
  // can carry it: it is not an address.
  if (typeof raw !== "string" || raw.length > 1000 || !raw.isWellFormed()) return null;
  let value = raw.trim();
  const angle = /<([^<>]*)>\s*$/.exec(value);
  if (angle?.[1] !== undefined) value = angle[1].trim();
  value = value.normalize("NFC").toLowerCase();
  return isAddress(value) ? value : null;
}

// RFC 5321 limits: 64 octets of local part, 254 in all. Quoted local parts and IP literals are
// not accepted: no mailbox provider hands them out and they are a favourite of injection attempts.
const FORBIDDEN = /[\s<>()[\]\\,;:"@\p{Cc}]/u;

function isAddress(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.lastIndexOf("@");
  if (at < 1 || at !== value.indexOf("@")) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (new TextEncoder().encode(local).length > 64 || FORBIDDEN.test(local)) return false;
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return false;
  const labels = domain.split(".");
  if (labels.length < 2) return false;
  return labels.every((l) => l.length > 0 && l.length <= 63 && !FORBIDDEN.test(l) && !/^-|-$/.test(l));
}

/** The recipient list of an `email.*` event: `data.to` may be an array or, in old payloads, a string. */
export function recipients(to: unknown): unknown[] {
  if (Array.isArray(to)) return to;
  if (typeof to === "string") return to.split(",");
  return [];
}
