// Imported, not read from disk: the compiled binary ships without config.example.json.
import example from "../../config.example.json" with { type: "json" };
import { type Command, EXIT, usageError } from "./command.ts";

export const configExample: Command = {
  name: "config example",
  summary: "Print a complete configuration, every key explained, to start a config.json from.",
  usage: `config example > config.json

The same as config.example.json in the source: secrets are read from the environment
("env:RESEND_WEBHOOK_SECRET", "env:SUPPRESSD_API_TOKEN"). Edit it, then run \`config check\`.`,
  async run({ positionals }) {
    if (positionals.length > 0) throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    process.stdout.write(`${JSON.stringify(example, null, 2)}\n`);
    return EXIT.ok;
  },
};
