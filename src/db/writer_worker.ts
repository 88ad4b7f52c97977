import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { DatabaseOptions } from "./client.ts";
import { compileOnly } from "./dialect.ts";
import { NativeConnection } from "./native.ts";
import { NativeTxRunner, toSql } from "./native_tx.ts";
import { databasePath } from "./path.ts";
import type { Database } from "./schema.ts";
import { type WriteResult, Writer } from "./writer.ts";
import {
  fromWire,
  type LogMessage,
  post,
  type SerializedError,
  type ThreadOptions,
  type WireItem,
  type WireResult,
} from "./writer_thread.ts";

/**
 * The writer's thread (see writer_thread.ts). It owns the daemon's write connection and runs the
 * same Writer as the CLI, plus the main thread's single statements (the outbox, retention) between
 * its commits; the main thread only sends work and receives answers, one message per turn of the
 * event loop each way.
 */
export type ToWorker =
  | { type: "init"; database: DatabaseOptions; options: ThreadOptions }
  | { type: "submit"; at: number; items: { id: number; item: WireItem }[] }
  | { type: "exec"; id: number; sql: string; args: unknown[] }
  | { type: "close" };

type Outcome =
  | { id: number; result: WriteResult }
  | { id: number; rows: WireResult }
  | { id: number; error: SerializedError };

export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "results"; results: Outcome[] }
  | LogMessage
  | { type: "closed" };

const port = globalThis as unknown as {
  postMessage(text: string): void;
  onmessage: ((e: MessageEvent<string>) => void) | null;
};

// The Writer's log lines go to the main thread's logger (its level and address hashing).
const log: Logger = { log: (level, msg, fields) => post(port, { type: "log", level, msg, fields }) };

let writer: Writer | null = null;
let connection: NativeConnection | null = null;
let lockWaitMs = 10_000;
let outbox: Outcome[] = [];

function send(outcome: Outcome) {
  if (outbox.length === 0) {
    setImmediate(() => {
      const results = outbox;
      outbox = [];
      post(port, { type: "results", results });
    });
  }
  outbox.push(outcome);
}

port.onmessage = async (e) => {
  const msg = JSON.parse(e.data) as ToWorker;
  if (msg.type === "init") {
    try {
      lockWaitMs = msg.options.lockWaitMs ?? 10_000;
      connection = new NativeConnection(databasePath(msg.database.url), {
        busyTimeoutMs: msg.database.busyTimeoutMs ?? 10,
        // Every acknowledged commit survives a power loss, as on the main connections (client.ts).
        setup: "PRAGMA synchronous=FULL",
      });
      // The Writer's transactions wait for another process's lock, asking every few ms, up to
      // database.lockWaitMs after their oldest item arrived (native_tx.ts).
      const runner = new NativeTxRunner(connection);
      writer = new Writer({ connection: runner, build: compileOnly<Database>() }, { ...msg.options, log });
      // Loading leaves garbage; an idle daemon should hold only what it uses (≤ 80 MB, issue 4).
      if (typeof Bun !== "undefined") Bun.gc(true);
      post(port, { type: "ready" });
    } catch (err) {
      post(port, { type: "failed", message: String((err as Error)?.message ?? err) });
    }
  } else if (msg.type === "submit") {
    const w = writer as Writer;
    for (const { id, item } of msg.items) {
      w.submit(fromWire(item), msg.at).then(
        (result) => send({ id, result }),
        (err) => send({ id, error: serialize(err) }),
      );
    }
  } else if (msg.type === "exec") {
    // Never inside one of the Writer's transactions (their statements run without a turn of the
    // event loop), but possibly while its BEGIN waits for another process's lock between two
    // tries: executeWaiting runs the statement in a transaction of its own (native.ts says why).
    try {
      // The outbox's and retention's statements wait for another process's lock here, asking
      // every few ms.
      const c = connection as NativeConnection;
      // At most a second at a time: later messages (lease renewals) must not wait behind it, and
      // the caller retries with fresh times (withBusyRetry).
      const r = c.executeWaiting(msg.sql, msg.args.map(toSql), Date.now() + Math.min(lockWaitMs, 1000));
      const rowid = r.lastInsertRowid === undefined ? null : Number(r.lastInsertRowid);
      send({ id: msg.id, rows: { rows: r.rows, rowsAffected: r.rowsAffected, lastInsertRowid: rowid } });
    } catch (err) {
      send({ id: msg.id, error: serialize(err) });
    }
  } else if (msg.type === "close") {
    await writer?.close();
    connection?.close();
    // After the last results: they were queued for this turn's end.
    setImmediate(() => post(port, { type: "closed" }));
  }
};

function serialize(err: unknown): SerializedError {
  if (err instanceof AppError) return { kind: err.kind, code: err.code, message: err.message };
  const e = err as { code?: unknown; message?: unknown };
  // A statement's error keeps SQLite's code, so the caller's isBusy() and retries still work.
  if (typeof e?.code === "string") return { kind: "sqlite", code: e.code, message: String(e.message) };
  return {
    kind: "unavailable",
    code: "unavailable",
    message: "the database could not commit; nothing was stored, retry later.",
  };
}
