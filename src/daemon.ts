import type { Config } from "./config/schema.ts";
import { type Db, migrate, openDatabase } from "./db/client.ts";
import { type SinkTarget, Writer } from "./db/writer.ts";
import { createApp } from "./http/app.ts";
import { type Listener, listen } from "./http/serve.ts";

export interface Daemon {
  url: string;
  db: Db;
  writer: Writer;
  /** Stops accepting, finishes in-flight requests and queued commits, closes the database. */
  stop(): Promise<void>;
}

/** Opens and migrates the database, then serves the app. What `suppressd serve` runs. */
export async function startDaemon(config: Config, clock: () => number = Date.now): Promise<Daemon> {
  const db = await openDatabase(config.database);
  await migrate(db);
  const writer = new Writer(db, {
    softBounce: config.policy.softBounce,
    sinks: sinkTargets(config),
    clock,
  });
  const app = createApp({ config, db, writer, clock });
  let listener: Listener;
  try {
    listener = await listen((req, info) => app.fetch(req, { remoteAddress: info.remoteAddress }), {
      host: config.server.host,
      port: config.server.port,
      maxBodyBytes: config.server.bodyLimitBytes,
      tls: config.server.tls,
    });
  } catch (e) {
    db.close();
    throw e;
  }
  return {
    url: listener.url,
    db,
    writer,
    async stop() {
      await listener.stop();
      await writer.close();
      db.close();
    },
  };
}

export function sinkTargets(config: Config): SinkTarget[] {
  return config.sinks.map((s) => ({
    name: s.name,
    lifts: s.type === "mailchimp" ? s.tag !== undefined : s.sendLifts,
  }));
}
