import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import type { HttpSinkConfig } from "../../src/config/schema.ts";
import { hashAddressesIn, jsonLogger, logAddress } from "../../src/log.ts";
import type { SyncJob } from "../../src/sync/sink.ts";
import { HttpSink } from "../../src/sync/sinks/http.ts";
import { runCli } from "../cli/run.ts";
import { tempDir } from "../helpers/app.ts";
import { SECRET, TOKEN } from "../helpers/config.ts";

// Issue 8, item 4: the smaller holes found by a hostile client and a new user.

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe("resend.webhookSecrets: base64 after whsec_, at least 24 bytes", () => {
  const cases: [string, string][] = [
    ["whsec_", "is not base64 after 'whsec_'"],
    ["whsec_AA==", "decodes to 1 bytes"],
    ["whsec_not-base64!", "is not base64 after 'whsec_'"],
    ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa", "decodes to 22 bytes"],
  ];

  test.each(cases)("%s is refused by the schema", (secret, message) => {
    expect(() => parseConfig({ resend: { webhookSecrets: [secret] }, api: { tokens: [TOKEN] } })).toThrow(
      message,
    );
  });

  test("the keys tests and Resend use pass", () => {
    expect(() =>
      parseConfig({ resend: { webhookSecrets: [SECRET] }, api: { tokens: [TOKEN] } }),
    ).not.toThrow();
  });

  test.each(["whsec_", "whsec_AA==", "whsec_not-base64!"])(
    "%s: `config check` and `serve` both exit 78 with the field, no stack trace, no secret",
    async (secret) => {
      const file = join(tmp.dir, "config.json");
      writeFileSync(
        file,
        JSON.stringify({
          database: { url: `file:${join(tmp.dir, "x.db")}` },
          resend: { webhookSecrets: ["env:SECRET"] },
          api: { tokens: [TOKEN] },
        }),
      );
      for (const args of [["config", "check"], ["serve"]]) {
        const r = await runCli([...args, "--config", file], { env: { SECRET: secret } });
        expect(r.code).toBe(78);
        expect(r.stderr).toContain("resend.webhookSecrets.0");
        expect(r.stderr).toContain("copy it again from Resend's webhook page");
        expect(r.stderr).not.toContain("    at ");
        if (secret.length > "whsec_".length) expect(r.stderr).not.toContain(secret);
      }
    },
    30_000,
  );
});

describe("log.hashAddresses covers addresses quoted back by sinks", () => {
  test("plain and percent-encoded addresses in any field are hashed", () => {
    const lines: string[] = [];
    const log = jsonLogger("info", (l) => lines.push(l), true);
    log.log("warn", "sync job failed permanently", {
      error:
        "PUT crm.example answered 422: contact /contacts/jane.echo%40example.com and o'brien%2Bnews%40example.com unknown; bob@example.com too",
    });
    const line = lines.join("");
    for (const leaked of ["jane.echo", "o'brien", "news%40", "bob@"]) expect(line).not.toContain(leaked);
    expect(line).toContain(logAddress("jane.echo@example.com"));
    expect(line).toContain(logAddress("o'brien+news@example.com"));
    expect(line).toContain(logAddress("bob@example.com"));
  });

  test("off: lines are written as they are; lines without an address are untouched", () => {
    const lines: string[] = [];
    jsonLogger("info", (l) => lines.push(l), false).log("warn", "x", { error: "jane.echo%40example.com" });
    expect(lines[0]).toContain("jane.echo%40example.com");
    expect(hashAddressesIn('{"msg":"sync batch","jobs":3}')).toBe('{"msg":"sync batch","jobs":3}');
  });
});

describe("an address an HTTP header cannot carry", () => {
  test("fails the job at once with the reason, without a request", async () => {
    let requests = 0;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch() {
        requests++;
        return new Response("ok");
      },
    });
    try {
      const config = parseConfig({
        resend: { webhookSecrets: [SECRET] },
        api: { tokens: [TOKEN] },
        sinks: [
          {
            type: "http",
            name: "crm",
            url: `http://127.0.0.1:${server.port}/contacts`,
            headers: { "X-Email": "{{email}}" },
          },
        ],
      });
      const sink = new HttpSink(config.sinks[0] as HttpSinkConfig);
      const job = (id: number, email: string): SyncJob => ({
        id,
        sink: "crm",
        email,
        action: "suppress",
        reason: "manual",
        event_type: "api.put",
        occurred_at: 0,
        attempts: 0,
        created_at: 0,
      });
      const out = await sink.send(
        [job(1, "ｘ@example.com"), job(2, "x@example.com")],
        new AbortController().signal,
      );
      expect(out.get(1)).toEqual({
        kind: "fail",
        error: expect.stringContaining("header X-Email would carry"),
      });
      expect(out.get(2)).toEqual({ kind: "done" });
      expect(requests).toBe(1);
    } finally {
      server.stop(true);
    }
  });
});
