import { expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

/**
 * A clone has nothing beside it: the tests once read their fixtures from a folder beside the repository, so a fresh
 * clone failed 4 tests and errored 3 files while the summary still looked green. Every relative
 * path literal in the project's own code must resolve inside the project.
 */
const ROOT = resolve(import.meta.dir, "../..");
const DIRS = ["src", "test", "bench", "scripts", ".ci", "deploy"];

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === "node_modules" || name === "fixtures" || name === "out") continue;
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(ts|tsx|js|json|sh|service)$/.test(name) || dir.endsWith(".ci")) out.push(path);
  }
  return out;
}

/** Quoted strings that climb with `../`, and the word "shared/" after such a climb. */
const CLIMB = /["'`]((?:\.\.\/)+[^"'`$\s]*)["'`]/g;

test("no source, test, bench or script file names a path above the project root", () => {
  const escapes: string[] = [];
  for (const file of DIRS.flatMap((d) => files(join(ROOT, d))).filter((f) => f !== import.meta.path)) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(CLIMB)) {
      const target = resolve(dirname(file), m[1] as string);
      if (relative(ROOT, target).startsWith("..")) escapes.push(`${relative(ROOT, file)}: ${m[1]}`);
    }
    if (/\.\.\/shared\b/.test(text))
      escapes.push(`${relative(ROOT, file)}: names the folder beside the repository`);
  }
  expect(escapes).toEqual([]);
});

test("the check above catches a path that leaves the project", () => {
  // Built from parts, so this file itself names no path outside the project.
  const planted = `${"../".repeat(3)}${"sha"}red/fixtures/resend`;
  const text = `const F = join(import.meta.dir, "${planted}");`;
  const found = [...text.matchAll(CLIMB)].map((m) => resolve(join(ROOT, "test/helpers"), m[1] as string));
  expect(found.some((p) => relative(ROOT, p).startsWith(".."))).toBe(true);
});
