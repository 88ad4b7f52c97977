import { describe, expect, test } from "bun:test";
import { clientAddress, IpSet, ipEntryError, parseIp } from "../../src/net/ip_rules.ts";

describe("parseIp", () => {
  const same: [string, string][] = [
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::FFFF:c000:201", "192.0.2.1"],
    ["2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"],
    ["2001:db8::1", "[2001:db8::1]:443"],
    ["fe80::1", "fe80::1%eth0"],
    ["192.0.2.1", "192.0.2.1:8080"],
    ["::", "0:0:0:0:0:0:0:0"],
    ["1::", "1:0:0:0:0:0:0:0"],
    ["::1", "0:0:0:0:0:0:0:1"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [a, b] of same) {
    // Two spellings of one address: each, as a rule, matches the other (a rule has no port,
    // brackets or zone, so the parsed form of the second stands for it).
    test(`${a} = ${b}`, () => {
      const pa = parseIp(a);
      const pb = parseIp(b);
      expect(pa).not.toBeNull();
      expect(pb).not.toBeNull();
      expect(new IpSet([a]).has(b)).toBe(true);
      expect(new IpSet([pb?.address ?? ""]).has(a)).toBe(true);
    });
  }
  test("different addresses do not match each other", () => {
    expect(new IpSet(["192.0.2.1"]).has("192.0.2.2")).toBe(false);
    expect(new IpSet(["2001:db8::1"]).has("2001:db8::2")).toBe(false);
    expect(new IpSet(["::1"]).has("::ffff:0.0.0.1")).toBe(false);
  });
  for (const bad of [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3.-4",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "g::1",
    "1:2:3:4:5:6:7",
    "::1.2.3",
    "unknown",
    "1.2.3.4/24",
  ]) {
    test(`rejects ${JSON.stringify(bad)}`, () => expect(parseIp(bad)).toBeNull());
  }
});

describe("IpSet", () => {
  const resend = new IpSet(["resend"]);
  const cases: [string, boolean][] = [
    ["44.228.126.217", true],
    ["::ffff:44.228.126.217", true],
    ["50.112.21.217", true],
    ["52.24.126.164", true],
    ["54.148.139.208", true],
    ["44.228.126.218", false],
    ["2600:1f24:64:8000::", true],
    ["2600:1f24:64:8000::1", true],
    ["2600:1f24:64:8fff:ffff:ffff:ffff:ffff", true],
    ["2600:1f24:64:9000::", false],
    ["2600:1f24:64:7fff:ffff:ffff:ffff:ffff", false],
    ["2600:1f24:65:8000::1", false],
    ["127.0.0.1", false],
    ["garbage", false],
  ];
  for (const [ip, inside] of cases) {
    test(`"resend" ${inside ? "contains" : "does not contain"} ${ip}`, () =>
      expect(resend.has(ip)).toBe(inside));
  }

  test("CIDRs: IPv4 prefixes, host bits ignored, /0, single addresses, named sets", () => {
    const set = new IpSet(["10.1.2.3/8", "192.0.2.7", "2001:db8::/32"]);
    expect(set.has("10.255.0.1")).toBe(true);
    expect(set.has("11.0.0.1")).toBe(false);
    expect(set.has("192.0.2.7")).toBe(true);
    expect(set.has("192.0.2.8")).toBe(false);
    expect(set.has("2001:db8:ffff::1")).toBe(true);
    expect(set.has("2001:db9::1")).toBe(false);
    expect(new IpSet(["0.0.0.0/0"]).has("203.0.113.9")).toBe(true);
    expect(new IpSet(["0.0.0.0/0"]).has("2001:db8::1")).toBe(false);
    expect(new IpSet(["::/0"]).has("2001:db8::1")).toBe(true);
    // One address space on every runtime: ::/0 holds IPv4 too (Deno's BlockList alone would not).
    expect(new IpSet(["::/0"]).has("203.0.113.9")).toBe(true);
    const loop = new IpSet(["loopback"]);
    expect(loop.has("127.0.0.1") && loop.has("127.8.9.10") && loop.has("::1")).toBe(true);
    expect(new IpSet(["private"]).has("172.31.255.255")).toBe(true);
    expect(new IpSet(["private"]).has("172.32.0.0")).toBe(false);
  });

  test("entries are validated with a message naming the entry", () => {
    for (const ok of ["resend", "LOOPBACK", "1.2.3.4", "1.2.3.0/24", "::/0", "2600:1f24:64:8000::/52"]) {
      expect(ipEntryError(ok)).toBeNull();
    }
    for (const bad of ["1.2.3.4/33", "::/129", "1.2.3.4/x", "1.2.3.4/24/1", "example.com", "1.2.3.4/"]) {
      expect(ipEntryError(bad)).toContain(JSON.stringify(bad));
    }
  });
});

describe("clientAddress with trustProxy", () => {
  const proxies = new IpSet(["loopback", "10.0.0.0/8"]);
  const none = new IpSet([]);
  const cases: [string, string | null, string | undefined, IpSet, string | null][] = [
    [
      "no proxy configured: the socket, X-Forwarded-For ignored",
      "203.0.113.5",
      "44.228.126.217",
      none,
      "203.0.113.5",
    ],
    [
      "untrusted peer: its X-Forwarded-For is ignored",
      "203.0.113.5",
      "44.228.126.217",
      proxies,
      "203.0.113.5",
    ],
    ["trusted proxy: the hop it saw", "127.0.0.1", "44.228.126.217", proxies, "44.228.126.217"],
    [
      "mapped socket address of a trusted proxy",
      "::ffff:127.0.0.1",
      "44.228.126.217",
      proxies,
      "44.228.126.217",
    ],
    [
      "a spoofed left-most entry is not believed",
      "127.0.0.1",
      "44.228.126.217, 203.0.113.5",
      proxies,
      "203.0.113.5",
    ],
    [
      "chains of trusted proxies are walked from the right",
      "127.0.0.1",
      "198.51.100.1, 10.0.0.2,10.0.0.3",
      proxies,
      "198.51.100.1",
    ],
    ["every hop trusted: the left-most", "127.0.0.1", "10.0.0.9, 10.0.0.2", proxies, "10.0.0.9"],
    ["trusted proxy without the header: the proxy", "127.0.0.1", undefined, proxies, "127.0.0.1"],
    [
      "garbage hop is the client (and matches no rule)",
      "127.0.0.1",
      "44.228.126.217, bogus",
      proxies,
      "bogus",
    ],
    [
      "ports and brackets are accepted",
      "127.0.0.1",
      "[2600:1f24:64:8000::5]:443",
      proxies,
      "[2600:1f24:64:8000::5]:443",
    ],
    ["unknown socket address", null, "44.228.126.217", proxies, null],
  ];
  for (const [name, socket, xff, trusted, want] of cases) {
    test(name, () => expect(clientAddress(socket, xff, trusted)).toBe(want));
  }
});
