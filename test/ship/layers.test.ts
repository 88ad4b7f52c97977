import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * The folders of src/ are its layers: a folder that imports a folder importing it back is one
 * tangle, not two parts. The composition roots (daemon.ts, main.ts and cli/) wire everything
 * together and are left out. And SQL is written only under src/db/: routes, commands, metrics and
 * the sync worker call named functions.
 */
const SRC = resolve(import.meta.dir, "../../src");
const ROOTS = new Set(["daemon.ts", "main.ts", "cli"]);

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** A file's layer: its top folder under src/, or the file itself for one at the top. */
function layerOf(path: string): string {
  return relative(SRC, path).split("/")[0] as string;
}

/** Comments out, so a comment that mentions a query or an import does not count. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.[^"']+)["']/g;

/** Edges between layers: "http -> db" with the files that make them. */
export function layerEdges(files: Record<string, string>): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const [path, text] of Object.entries(files)) {
    const from = layerOf(path);
    for (const m of code(text).matchAll(IMPORT)) {
      const target = resolve(dirname(path), m[1] as string);
      if (relative(SRC, target).startsWith("..")) continue; // package.json and the like
      const to = layerOf(target);
      if (from === to || ROOTS.has(from) || ROOTS.has(to)) continue;
      const set = edges.get(from) ?? new Set();
      set.add(to);
      edges.set(from, set);
    }
  }
  return edges;
}

/** Groups of layers that reach each other (strongly connected, more than one layer). */
export function cycles(edges: Map<string, Set<string>>): string[][] {
  const reach = (start: string) => {
    const seen = new Set<string>();
    const todo = [start];
    while (todo.length > 0) {
      for (const next of edges.get(todo.pop() as string) ?? []) {
        if (!seen.has(next)) {
          seen.add(next);
          todo.push(next);
        }
      }
    }
    return seen;
  };
  const nodes = [...new Set([...edges.keys(), ...[...edges.values()].flatMap((s) => [...s])])].sort();
  const reached = new Map(nodes.map((n) => [n, reach(n)]));
  const groups = new Map<string, string[]>();
  for (const n of nodes) {
    const group = nodes.filter((m) => m === n || (reached.get(n)?.has(m) && reached.get(m)?.has(n)));
    if (group.length > 1) groups.set(group.join(" <-> "), group);
  }
  return [...groups.values()];
}

const QUERY = /\b(selectFrom|updateTable|insertInto|deleteFrom)\b|[^`\w]sql(<[^>]*>)?`|\.execute\(/;

/** Files outside src/db/ that build or run a query, with the first line that does. */
export function sqlOutsideDb(files: Record<string, string>): string[] {
  return Object.entries(files)
    .filter(([path]) => layerOf(path) !== "db")
    .flatMap(([path, text]) => {
      const line = code(text)
        .split("\n")
        .find((l) => QUERY.test(l));
      return line === undefined ? [] : [`${relative(SRC, path)}: ${line.trim()}`];
    });
}

const sources = Object.fromEntries(tsFiles(SRC).map((f) => [f, readFileSync(f, "utf8")]));

test("no folder of src/ imports a folder that imports it back", () => {
  expect(cycles(layerEdges(sources))).toEqual([]);
});

test("no SQL is written outside src/db/", () => {
  expect(sqlOutsideDb(sources)).toEqual([]);
});

test("the checks above catch a cycle through a third folder and a query in a route", () => {
  const planted = {
    [join(SRC, "http/a.ts")]:
      `import { q } from "../db/x.ts";\nconst r = await db.selectFrom("suppressions");`,
    [join(SRC, "db/x.ts")]: `import type { T } from "../sync/y.ts";`,
    [join(SRC, "sync/y.ts")]: `import { a } from "../http/a.ts";\n// selectFrom in a comment is fine`,
    [join(SRC, "metrics/z.ts")]: "const q = sql<number>`SELECT 1`;",
    [join(SRC, "cli/c.ts")]: `import { a } from "../http/a.ts";`,
    [join(SRC, "errors.ts")]: "export class AppError extends Error {}",
  };
  expect(cycles(layerEdges(planted))).toEqual([["db", "http", "sync"]]);
  expect(sqlOutsideDb(planted).map((l) => l.split(":")[0])).toEqual(["http/a.ts", "metrics/z.ts"]);
});
