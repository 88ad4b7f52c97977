import { BlockList, isIP } from "node:net";
import type { Context } from "hono";
import { forbidden } from "../errors.ts";

/**
 * Source-address rules: the optional allowlist for the webhook route (`resend.allowedIps`) and
 * which proxies' X-Forwarded-For is believed (`server.trustProxy`). Addresses and ranges are
 * parsed and matched by `node:net` (`isIP`, `BlockList`), which Bun, Deno and the compiled binary
 * all provide; an IPv4 rule also matches the ::ffff:a.b.c.d form a dual-stack socket reports
 * (RFC 4291 §2.5.5.2).
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

type Family = "ipv4" | "ipv6";

/** An address `isIP` accepts, with its family as `BlockList` wants it. */
export interface Ip {
  address: string;
  family: Family;
}

interface Subnet extends Ip {
  prefix: number;
}

/** A set of addresses and CIDR ranges, IPv4 and IPv6. */
export class IpSet {
  private readonly list = new BlockList();
  readonly size: number;
  constructor(entries: readonly string[]) {
    const subnets = entries.flatMap((e) => {
      const parsed = parseEntry(e);
      if (!parsed) throw new Error(`not an address, CIDR range or known name: ${e}`);
      return parsed;
    });
    // Host bits are ignored (10.1.2.3/8 means 10.0.0.0/8), as most firewalls and BlockList read it.
    for (const s of subnets) this.list.addSubnet(s.address, s.prefix, s.family);
    this.size = subnets.length;
  }
  has(address: string): boolean {
    const ip = parseIp(address);
    if (!ip) return false;
    if (this.list.check(ip.address, ip.family)) return true;
    // Bun and Node match an IPv4 address against IPv6 rules through its mapped form, Deno does
    // not (::/0 would not hold 1.2.3.4 there): ask in the mapped form too, so all three agree.
    return ip.family === "ipv4" && this.list.check(`::ffff:${ip.address}`, "ipv6");
  }
}

/** Null when `entry` is valid; otherwise what is wrong (for the config error). */
export function ipEntryError(entry: string): string | null {
  return parseEntry(entry)
    ? null
    : `${JSON.stringify(entry)} is not an IPv4/IPv6 address, a CIDR range (203.0.113.0/24, 2001:db8::/32) or one of ${Object.keys(NAMED).join(", ")}`;
}

function parseEntry(entry: string): Subnet[] | null {
  const named = NAMED[entry.trim().toLowerCase()];
  if (named) return named.flatMap((e) => parseEntry(e) ?? []);
  const [addr, bits, extra] = entry.trim().split("/");
  if (addr === undefined || extra !== undefined) return null;
  const family = familyOf(addr);
  if (!family) return null;
  const max = family === "ipv4" ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null;
  const prefix = bits === undefined ? max : Number(bits);
  return prefix > max ? null : [{ address: addr, family, prefix }];
}

function familyOf(address: string): Family | null {
  const v = isIP(address);
  return v === 4 ? "ipv4" : v === 6 ? "ipv6" : null;
}

/**
 * An address and its family, or null. Besides what `isIP` accepts (dotted IPv4 without leading
 * zeros, every IPv6 form), takes brackets, a zone id and a trailing port (`1.2.3.4:80`,
 * `[::1]:80`), since some proxies write X-Forwarded-For that way.
 */
export function parseIp(input: string): Ip | null {
  let s = input.trim();
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracket?.[1]) s = bracket[1];
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.indexOf(":"));
  // BlockList does not take a zone id (fe80::1%eth0); the zone does not change the address.
  s = s.replace(/%.*$/, "");
  const family = familyOf(s);
  return family ? { address: s, family } : null;
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
export function refuseUnlisted(allowed: IpSet, ip: string | null): void {
  if (ip === null || !allowed.has(ip)) {
    throw forbidden(
      "forbidden_ip",
      `Webhooks are not accepted from ${ip ?? "an unknown address"} (resend.allowedIps` +
        "; behind a proxy, list the proxy in server.trustProxy).",
    );
  }
}
