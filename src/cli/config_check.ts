import { loadConfig } from "../config/load.ts";
import { bindError } from "../daemon.ts";
import { listen } from "../http/serve.ts";
import { buildSinks } from "../sync/sinks/index.ts";
import { type Command, EXIT, usageError } from "./command.ts";

export const configCheck: Command = {
  name: "config check",
  summary:
    "Validate the config file and ask every sink's service whether it accepts it (Mailchimp: /ping and each audience).",
  usage: `config check [--offline] [--config FILE]

Exit 0 when everything is fine; 78 when the file is invalid, server.host cannot be listened on, or
a sink is misconfigured (wrong API key, unknown audience, bad URL); 69 when a sink's service is merely unreachable (no answer, 429,
5xx: the settings may be right, try again later). One line per problem.`,
  options: { offline: { type: "boolean", description: "only validate the file; contact no one" } },
  async run({ positionals, values }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const loaded = loadConfig({ flag: values.config as string | undefined });
    const { config } = loaded;
    const lines = [`${loaded.source}: valid`];
    let problems = 0;
    let transient = 0;
    const host = await hostProblem(config.server.host, config.server.port, loaded.listenSettings);
    if (host) {
      problems++;
      lines.push(`server.host: PROBLEM\n  problem: ${host}`);
    }
    if (config.sinks.length === 0) lines.push("no sinks: suppressions are kept and answered, pushed nowhere");
    if (!values.offline && config.sinks.length > 0) {
      for (const r of await buildSinks(config.sinks).probe()) {
        problems += r.problems.length;
        transient += r.transient;
        lines.push(`sink ${r.sink} (${r.type}): ${r.problems.length === 0 ? "ok" : "PROBLEM"}`);
        for (const ok of r.ok) lines.push(`  ok: ${ok}`);
        for (const p of r.problems) lines.push(`  problem: ${p}`);
      }
    }
    if (problems > 0 && problems === transient)
      lines.push("unreachable only: the settings may be right; run this again when the service answers");
    (problems > 0 ? process.stderr : process.stdout).write(`${lines.join("\n")}\n`);
    if (problems === 0) return EXIT.ok;
    return problems > transient ? EXIT.config : EXIT.unavailable;
  },
};

/**
 * Whether `serve` could listen on server.host: a name that does not resolve, or an address that
 * is not this machine's, fails only at bind time. Tried on a free port (0), so a running daemon
 * holding server.port is no problem here; nothing is contacted.
 */
async function hostProblem(
  host: string,
  port: number,
  names: { host: string; port: string },
): Promise<string | null> {
  try {
    const probe = await listen(() => new Response(null, { status: 503 }), {
      host,
      port: 0,
      maxBodyBytes: 1,
      tls: null,
    });
    await probe.stop();
    return null;
  } catch (e) {
    return (
      bindError(e, { host, port }, names)?.message ?? `cannot listen on ${host}: ${(e as Error).message}`
    );
  }
}
