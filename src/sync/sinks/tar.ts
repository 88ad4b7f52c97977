/**
 * The regular files of a POSIX (ustar) tar archive, by name. Enough for the archives Mailchimp
 * publishes batch results in: 512-byte headers, sizes in octal, data padded to 512 bytes.
 */
export function untar(data: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const text = new TextDecoder();
  let longName: string | null = null;
  for (let at = 0; at + 512 <= data.length; ) {
    const header = data.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break; // end of archive
    const field = (from: number, len: number) =>
      text.decode(header.subarray(from, from + len)).replace(/\0.*$/s, "");
    const size = Number.parseInt(field(124, 12).trim() || "0", 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const body = data.subarray(at + 512, at + 512 + size);
    longName = null;
    if (type === "L") longName = text.decode(body).replace(/\0.*$/s, "");
    else if (type === "0" || type === "\0") files.set(name, body);
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}
