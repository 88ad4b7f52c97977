import { normalizeAddress, recipients } from "../events/address.ts";

/**
 * What a quarantined body says about itself, read defensively: it was quarantined because it did
 * not parse or did not match a schema, so any part may be missing or of the wrong kind.
 */
export function quarantinedAddresses(body: Uint8Array): { type: string | null; addresses: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { type: null, addresses: [] };
  }
  if (!parsed || typeof parsed !== "object") return { type: null, addresses: [] };
  const envelope = parsed as { type?: unknown; data?: { to?: unknown; email?: unknown } };
  const type = typeof envelope.type === "string" ? envelope.type.slice(0, 100) : null;
  const data = envelope.data && typeof envelope.data === "object" ? envelope.data : {};
  const found = [...recipients(data.to), data.email].map(normalizeAddress);
  const addresses = [...new Set(found.filter((a): a is string => a !== null))].slice(0, 10);
  return { type, addresses };
}
