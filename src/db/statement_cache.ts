import Database from "libsql";

/**
 * `@libsql/client` prepares every statement again on every execute, and preparing was 12% of the
 * daemon's CPU under ingest (bench/ingest.ts --profile). This keeps the prepared statements of
 * each local connection, keyed by SQL text, the way better-sqlite3 users hold on to theirs; the
 * writer's statements are fixed texts, so they are prepared once per connection.
 *
 * Safe because every use of a statement by the client runs start to finish synchronously (bind,
 * step, reset), so no two uses overlap; a connection the client drops takes its cache with it.
 * A statement that failed is dropped from the cache: libsql may leave it un-reset (a BEGIN that
 * hit SQLITE_BUSY blocks every later COMMIT), and a fresh one is prepared next time.
 */
const MAX_PER_CONNECTION = 256;
const caches = new WeakMap<object, Map<string, unknown>>();
const proto = Database.prototype as unknown as { prepare(sql: string): unknown; __suppressdCache?: true };

export function cachePreparedStatements(): void {
  if (proto.__suppressdCache) return;
  const prepare = proto.prepare;
  proto.prepare = function cachedPrepare(this: object, sql: string) {
    let cache = caches.get(this);
    if (cache === undefined) {
      cache = new Map();
      caches.set(this, cache);
    }
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = evictOnError(prepare.call(this, sql) as Runnable, () => cache?.delete(sql));
      if (cache.size >= MAX_PER_CONNECTION) cache.delete(cache.keys().next().value as string);
      cache.set(sql, stmt);
    }
    return stmt;
  };
  proto.__suppressdCache = true;
}

type Runnable = Record<"run" | "all", (...args: unknown[]) => unknown>;

function evictOnError(stmt: Runnable, evict: () => void): Runnable {
  for (const method of ["run", "all"] as const) {
    const original = stmt[method];
    stmt[method] = function (this: unknown, ...args: unknown[]) {
      try {
        return original.apply(this, args);
      } catch (e) {
        evict();
        throw e;
      }
    };
  }
  return stmt;
}
