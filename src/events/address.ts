/**
 * Turns a recipient as Resend writes it (`"Jane <Jane@X.com>"`, `" bob@x.com "`) into the key we
 * store: the bare address, trimmed, NFC-normalised and lowercased. Returns null for anything that
 * is not an address, so the caller can record it without suppressing a wrong key.
 */
export function normalizeAddress(raw: unknown): string | null {
  // A lone surrogate (JSON allows `"\ud800x@example.com"`) has no UTF-8 form, so no mail system
  // can carry it: it is not an address.
  if (typeof raw !== "string" || raw.length > 1000 || !raw.isWellFormed()) return null;
  // Every delivery and lookup comes through here, so the common case (ASCII, no display name)
  // allocates nothing but the lowercased key: main-thread allocation paces garbage-collection
  // pauses (issue 14). test/events/address.test.ts holds it to the plain reading, step by step.
  let value = raw.trim();
  // Trimmed, so the display-name form can only end in ">".
  if (value.endsWith(">")) {
    const angle = /<([^<>]*)>$/.exec(value);
    if (angle?.[1] !== undefined) value = angle[1].trim();
  }
  if (NON_ASCII.test(value)) value = value.normalize("NFC");
  value = value.toLowerCase();
  return isAddress(value) ? value : null;
}

/** Anything but printable ASCII: the only text that may need NFC or have a longer UTF-8 form. */
const NON_ASCII = /[^ -~]/;

// RFC 5321 limits: 64 octets of local part, 254 in all. Quoted local parts and IP literals are
// not accepted: no mailbox provider hands them out and they are a favourite of injection attempts.
// "." is not among them, so testing a whole domain tests each of its labels.
const FORBIDDEN = /[\s<>()[\]\\,;:"@\p{Cc}]/u;

function isAddress(value: string): boolean {
  if (value.length > 254) return false;
  const at = value.lastIndexOf("@");
  if (at < 1 || at !== value.indexOf("@")) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (utf8Length(local) > 64 || FORBIDDEN.test(local)) return false;
  if (local.startsWith(".") || local.endsWith(".") || local.includes("..")) return false;
  if (FORBIDDEN.test(domain) || !domain.includes(".")) return false;
  // Each label: 1 to 63 characters, neither starting nor ending with "-".
  for (let start = 0; start <= domain.length; ) {
    let end = domain.indexOf(".", start);
    if (end === -1) end = domain.length;
    if (end === start || end - start > 63 || domain[start] === "-" || domain[end - 1] === "-") return false;
    start = end + 1;
  }
  return true;
}

/** The UTF-8 length of a well-formed string, without encoding it. */
function utf8Length(text: string): number {
  return NON_ASCII.test(text) ? Buffer.byteLength(text, "utf8") : text.length;
}

/** The recipient list of an `email.*` event: `data.to` may be an array or, in old payloads, a string. */
export function recipients(to: unknown): unknown[] {
  if (Array.isArray(to)) return to;
  if (typeof to === "string") return to.split(",");
  return [];
}
