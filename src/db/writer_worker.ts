import { AppError } from "../errors.ts";
import { type DatabaseOptions, openDatabase } from "./client.ts";
import { type WriteItem, type WriteResult, Writer, type WriterOptions } from "./writer.ts";

/**
 * The writer's thread (see threaded_writer.ts). It owns its own connection and runs the same
 * Writer as everything else; the main thread only sends items and receives results. Messages are
 * batched both ways per turn of the event loop.
 */
export type ToWorker =
  | { type: "init"; database: DatabaseOptions; options: Omit<WriterOptions, "clock"> }
  | { type: "submit"; items: { id: number; item: WriteItem }[] }
  | { type: "close" };

export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | {
      type: "results";
      results: ({ id: number; result: WriteResult } | { id: number; error: SerializedError })[];
    }
  | { type: "closed" };

export interface SerializedError {
  status: number;
  code: string;
  message: string;
}

const port = globalThis as unknown as {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
};
let writer: Writer | null = null;
let close: (() => void) | null = null;
let outbox: Extract<FromWorker, { type: "results" }>["results"] = [];
let flushing = false;

function send(entry: (typeof outbox)[number]) {
  outbox.push(entry);
  if (flushing) return;
  flushing = true;
  setImmediate(() => {
    flushing = false;
    const results = outbox;
    outbox = [];
    port.postMessage({ type: "results", results });
  });
}

port.onmessage = async (e) => {
  const msg = e.data;
  if (msg.type === "init") {
    try {
      const db = await openDatabase(msg.database);
      writer = new Writer(db, msg.options);
      close = () => db.close();
      port.postMessage({ type: "ready" });
    } catch (err) {
      port.postMessage({ type: "failed", message: String((err as Error)?.message ?? err) });
    }
  } else if (msg.type === "submit") {
    for (const { id, item } of msg.items) {
      (writer as Writer).submit(item).then(
        (result) => send({ id, result }),
        (err) => send({ id, error: serialize(err) }),
      );
    }
  } else if (msg.type === "close") {
    await writer?.close();
    close?.();
    port.postMessage({ type: "closed" });
  }
};

function serialize(err: unknown): SerializedError {
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message };
  return {
    status: 503,
    code: "unavailable",
    message: "the database could not commit; nothing was stored, retry later.",
  };
}
