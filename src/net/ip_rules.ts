import type { Context, MiddlewareHandler } from "hono";
import { forbidden } from "../errors.ts";

/**
 * Source-address rules: the optional allowlist for the webhook route (`resend.allowedIps`) and
 * which proxies' X-Forwarded-For is believed (`server.trustProxy`). Addresses live in one 128-bit
 * space: IPv4 is mapped to ::ffff:a.b.c.d (RFC 4291 §2.5.5.2), so an IPv4 rule also matches the
 * mapped form a dual-stack socket reports.
 */

/** Resend's published webhook source addresses (see DESIGN.md), the IPv6 range included. */
export const RESEND_SOURCES = [
  "44.228.126.217",
  "50.112.21.217",
  "52.24.126.164",
  "54.148.139.208",
  "2600:1f24:64:8000::/52",
] as const;

/** Names an operator may use inside a list instead of spelling the ranges out. */
const NAMED: Record<string, readonly string[]> = {
  resend: RESEND_SOURCES,
  loopback: ["127.0.0.0/8", "::1/128"],
  private: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

const V4_MAPPED = 0xffffn << 32n;
const ALL = (1n << 128n) - 1n;

interface Range {
  base: bigint;
  mask: bigint;
}

/** A set of addresses and CIDR ranges, IPv4 and IPv6. */
export class IpSet {
  private readonly ranges: Range[];
  constructor(entries: readonly string[]) {
    this.ranges = entries.flatMap((e) => {
      const ranges = parseEntry(e);
      if (!ranges) throw new Error(`not an address, CIDR range or known name: ${e}`);
      return ranges;
    });
  }
  get size(): number {
    return this.ranges.length;
  }
  has(address: string): boolean {
    const ip = parseIp(address);
    return ip !== null && this.ranges.some((r) => (ip & r.mask) === r.base);
  }
}

/** Null when `entry` is valid; otherwise what is wrong (for the config error). */
export function ipEntryError(entry: string): string | null {
  return parseEntry(entry)
    ? null
    : `${JSON.stringify(entry)} is not an IPv4/IPv6 address, a CIDR range (203.0.113.0/24, 2001:db8::/32) or one of ${Object.keys(NAMED).join(", ")}`;
}

function parseEntry(entry: string): Range[] | null {
  const named = NAMED[entry.trim().toLowerCase()];
  if (named) return named.flatMap((e) => parseEntry(e) ?? []);
  const [addr, bits, extra] = entry.trim().split("/");
  if (addr === undefined || extra !== undefined) return null;
  const ip = parseIp(addr);
  if (ip === null) return null;
  const v4 = !addr.includes(":");
  const max = v4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return null;
  const total = v4 ? prefix + 96 : prefix;
  const mask = total === 0 ? 0n : (ALL << BigInt(128 - total)) & ALL;
  // Host bits are ignored (10.1.2.3/8 means 10.0.0.0/8), as most firewalls read it.
  return [{ base: ip & mask, mask }];
}

/**
 * An address as a 128-bit integer, or null. Accepts dotted IPv4, IPv6 (with `::`, an embedded
 * IPv4 tail, a zone id, brackets) and a trailing port on either (`1.2.3.4:80`, `[::1]:80`), since
 * some proxies write X-Forwarded-For that way.
 */
export function parseIp(input: string): bigint | null {
  let s = input.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket?.[1]) s = bracket[1];
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.indexOf(":"));
  s = s.replace(/%.*$/, "");
  if (!s.includes(":")) {
    const v4 = parseV4(s);
    return v4 === null ? null : V4_MAPPED | v4;
  }
  return parseV6(s);
}

function parseV4(s: string): bigint | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let out = 0n;
  for (const p of parts) {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return null;
    out = (out << 8n) | BigInt(p);
  }
  return out;
}

function parseV6(s: string): bigint | null {
  let text = s;
  const lastColon = text.lastIndexOf(":");
  if (text.slice(lastColon + 1).includes(".")) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) is the last two groups written in decimal.
    const v4 = parseV4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string | undefined) => (h === undefined || h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const have = head.length + rest.length;
  // Without "::" there must be eight groups; "::" stands for at least one zero group.
  if (halves.length === 1 ? have !== 8 : have > 7) return null;
  let out = 0n;
  for (const g of [...head, ...new Array(8 - have).fill("0"), ...rest]) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
    out = (out << 16n) | BigInt(`0x${g}`);
  }
  return out;
}

/** IPv4-mapped addresses shown as plain IPv4, as an operator would write them. */
export function displayIp(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address.trim());
  return m?.[1] ?? address.trim();
}

/**
 * The client's address. The socket's peer is the client unless it is a trusted proxy; then
 * X-Forwarded-For is read from the right (each proxy appends the address it received from) and
 * the first hop that is not a trusted proxy is the client. Hops left of it were written by the
 * client itself and prove nothing.
 */
export function clientAddress(
  socket: string | null | undefined,
  forwardedFor: string | undefined,
  trusted: IpSet,
): string | null {
  if (!socket) return null;
  let client = displayIp(socket);
  if (trusted.size === 0 || !trusted.has(client) || !forwardedFor) return client;
  const hops = forwardedFor
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!trusted.has(hop)) return displayIp(hop);
    client = displayIp(hop);
  }
  return client;
}

/** The request's client address under `server.trustProxy`; `remoteAddress` comes from serve.ts. */
export function clientIpOf(trusted: IpSet): (c: Context) => string | null {
  return (c) =>
    clientAddress(
      (c.env as { remoteAddress?: string | null } | undefined)?.remoteAddress,
      c.req.header("x-forwarded-for"),
      trusted,
    );
}

/** 403 `forbidden_ip` for a client outside `allowed`; an unknown address is refused too. */
export function ipAllowlist(allowed: IpSet, clientIp: (c: Context) => string | null): MiddlewareHandler {
  return async (c, next) => {
    const ip = clientIp(c);
    if (ip === null || !allowed.has(ip)) {
      throw forbidden(
        "forbidden_ip",
        `Webhooks are not accepted from ${ip ?? "an unknown address"} (resend.allowedIps` +
          "; behind a proxy, list the proxy in server.trustProxy).",
      );
    }
    await next();
  };
}
