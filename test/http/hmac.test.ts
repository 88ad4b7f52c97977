import { afterAll, describe, expect, setSystemTime, test } from "bun:test";
import fc from "fast-check";
import { Webhook } from "svix";
import { bunMac, type Mac, NativeHmac, nodeMac } from "../../src/http/hmac.ts";
import { OTHER_SECRET, SECRET } from "../helpers/config.ts";

/**
 * svix is the oracle: NativeHmac, with Bun's HMAC and with node:crypto's (Deno's), must accept
 * exactly what svix's Webhook.verify accepts and refuse the rest with svix's reason, on random
 * inputs. The clock is frozen so both
 * see the same "now", and timestamps are drawn around the ±300 s edges.
 */
const NOW_S = 1_800_000_000;
setSystemTime(new Date(NOW_S * 1000));
afterAll(() => setSystemTime());

function oracle(secret: string, id: string, ts: string, sig: string, body: string): string | null {
  try {
    new Webhook(secret).verify(body, { "svix-id": id, "svix-timestamp": ts, "svix-signature": sig });
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const secrets = fc.constantFrom(SECRET, OTHER_SECRET);
/** Offsets at and beside both edges of the tolerance, and anywhere. */
const offset = fc.oneof(
  fc.constantFrom(-301, -300, -299, 0, 299, 300, 301),
  fc.integer({ min: -100_000, max: 100_000 }),
);
/** What parseInt reads in odd ways: a suffix, a decimal, an exponent, spaces, a sign, nothing. */
const timestampText = fc
  .tuple(offset, fc.constantFrom("", "abc", ".9", "e3", " ", "x"))
  .map(([o, tail]) => `${NOW_S + o}${tail}`);
const oddTimestamp = fc.constantFrom("", "abc", " 1800000000", "+1800000000", "0x6B49D200", "-1", "1e9");
const body = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.json(), fc.string({ unit: "binary" }));
const id = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constant("msg_2kNqL"));

/** A signature header: entries built from the right signature, a wrong one, bad base64 and noise. */
function signatureHeader(good: string) {
  const right = good.slice(3);
  const entry = fc.oneof(
    fc.constant(good),
    fc.constant(`v2,${right}`),
    fc.constant(`v1,${right}=`),
    fc.constant(`v1,${right.slice(0, -1)}`),
    fc.constant(`v1,${right},extra`),
    fc.constant(`v1 ${right}`),
    fc.constant(`v1,,${right}`),
    fc.constant(`v10,${right}`),
    fc.constant(`xv1,${right}`),
    fc.constant(`v1,${right} `),
    fc.constant(`,${good}`),
    fc.constant("v1,"),
    fc.constant("v1"),
    fc.constant(""),
    fc.base64String().map((b) => `v1,${b}`),
    fc.string().map((s) => `v1,${s}`),
    fc.string(),
  );
  return fc.array(entry, { minLength: 1, maxLength: 4 }).map((l) => l.join(" "));
}

const MACS: [string, Mac][] = [
  ["Bun.CryptoHasher", bunMac as Mac],
  ["node:crypto", nodeMac],
];

test("Bun's HMAC is the one used under Bun", () => {
  expect(bunMac).not.toBeNull();
});

describe.each(MACS)("NativeHmac with %s agrees with svix", (_name, mac) => {
  test("on random deliveries, signed with the right or another secret", () => {
    fc.assert(
      fc.property(
        secrets,
        secrets,
        id,
        fc.oneof(timestampText, oddTimestamp),
        body,
        fc.context(),
        (signer, verifier, msgId, ts, text, ctx) => {
          const parsed = Number.parseInt(ts, 10);
          const at = Number.isNaN(parsed) ? new Date(NOW_S * 1000) : new Date(parsed * 1000);
          const good = Number.isFinite(at.getTime()) ? new Webhook(signer).sign(msgId, at, text) : "v1,x";
          fc.assert(
            fc.property(signatureHeader(good), (sig) => {
              const expected = oracle(verifier, msgId, ts, sig, text);
              ctx.log(`${expected}`);
              expect(new NativeHmac(verifier, Date.now, mac).check(msgId, ts, sig, text)).toBe(
                expected as never,
              );
            }),
            { numRuns: 5 },
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  test("a valid signature is accepted at both edges of the tolerance and refused past them", () => {
    for (const [o, expected] of [
      [-301, "Message timestamp too old"],
      [-300, null],
      [300, null],
      [301, "Message timestamp too new"],
    ] as const) {
      const at = new Date((NOW_S + o) * 1000);
      const sig = new Webhook(SECRET).sign("msg_edge", at, "{}");
      const ts = String(NOW_S + o);
      expect(oracle(SECRET, "msg_edge", ts, sig, "{}")).toBe(expected);
      expect(new NativeHmac(SECRET, Date.now, mac).check("msg_edge", ts, sig, "{}")).toBe(expected);
    }
  });

  test("a rotation header (two signatures) passes with either secret, and an empty header is refused", () => {
    const at = new Date(NOW_S * 1000);
    const both = `${new Webhook(OTHER_SECRET).sign("m", at, "{}")} ${new Webhook(SECRET).sign("m", at, "{}")}`;
    for (const s of [SECRET, OTHER_SECRET]) {
      expect(oracle(s, "m", String(NOW_S), both, "{}")).toBeNull();
      expect(new NativeHmac(s, Date.now, mac).check("m", String(NOW_S), both, "{}")).toBeNull();
    }
    expect(new NativeHmac(SECRET, Date.now, mac).check("m", String(NOW_S), "", "{}")).toBe(
      "Missing required headers",
    );
    expect(oracle(SECRET, "m", String(NOW_S), "", "{}")).toBe("Missing required headers");
  });

  test("secrets: what svix refuses is refused, and Buffer-only readings are caught", () => {
    expect(() => new NativeHmac("whsec_", Date.now, mac)).toThrow();
    expect(() => new Webhook("whsec_")).toThrow();
  });
});
