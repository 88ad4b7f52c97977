import { gunzipSync } from "node:zlib";

/**
 * The regular files of a gzipped tar archive, by name. tar-stream reads every format real `tar`
 * writes (ustar, GNU long names, pax extended headers), which the hand-written reader it
 * replaces did not: a pax archive's 100+ character names were skipped without a word.
 */
export async function untarGz(gzipped: Uint8Array): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  // Loaded at the first batch result: a daemon without a Mailchimp sink never needs it.
  const { extract } = await import("tar-stream");
  const reader = extract();
  reader.end(gunzipSync(gzipped));
  for await (const entry of reader) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of entry) chunks.push(chunk as Uint8Array);
    if (entry.header.type === "file" || entry.header.type === "contiguous-file")
      files.set(entry.header.name, Buffer.concat(chunks));
  }
  return files;
}
