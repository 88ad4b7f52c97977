/**
 * The file of a `file:` URL (`file:./data/suppressd.db?mode=…` → `./data/suppressd.db`). On its
 * own so the writer's thread can use it without loading @libsql/client and the migrations.
 */
export function databasePath(url: string): string {
  return url.slice("file:".length).split("?")[0] ?? "";
}
