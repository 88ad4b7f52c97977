import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { ROOT } from "../helpers/daemon.ts";

const env = {
  RESEND_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  SUPPRESSD_API_TOKEN: "0123456789abcdef0123",
  MAILCHIMP_API_KEY: "0123456789abcdef0123456789abcdef-us19",
  RESEND_CONTACTS_AUTHORIZATION: "Bearer re_test",
  LISTMONK_AUTHORIZATION: "token api:secret",
  MAILCHIMP_WEBHOOK_SECRET: "mc_hook_0123456789abcdef0123456789",
  RESEND_SUPPRESSIONS_AUTHORIZATION: "Bearer re_test",
};

test("every sink preset in config.example.json is a valid sink, and the sync section matches the defaults", () => {
  const raw = JSON.parse(readFileSync(join(ROOT, "config.example.json"), "utf8"));
  const examples = raw["//examples"] as Record<string, unknown>;
  const presets = Object.entries(examples).filter(([k]) => !k.startsWith("//"));
  expect(presets.map(([k]) => k)).toEqual([
    "mailchimp",
    "resend-contacts",
    "resend-suppressions",
    "listmonk-blocklist",
  ]);
  const config = parseConfig({ ...raw, sinks: presets.map(([, v]) => v) }, env);
  expect(config.sinks.map((s) => s.name)).toEqual([
    "mailchimp",
    "resend-contacts",
    "resend-suppressions",
    "listmonk",
  ]);
  // Resend's account suppression list blocks transactional mail too: bounces and complaints only.
  expect(config.sinks.map((s) => s.reasons ?? "all")).toEqual([
    "all",
    "all",
    ["hard_bounce", "complaint"],
    "all",
  ]);
  const defaults = parseConfig({ ...raw, sync: undefined }, env);
  expect(config.sync).toEqual(defaults.sync);
});
