import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./helpers/daemon.ts";

/** Every folder below src/, as `src/a/` and `src/a/b/`. */
function folders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => {
      const path = join(dir, e.name);
      return [`${relative(ROOT, path)}/`, ...folders(path)];
    });
}

test("docs/architecture.md's folder table names every folder of src/", () => {
  const doc = readFileSync(join(ROOT, "docs/architecture.md"), "utf8");
  const found = folders(join(ROOT, "src"));
  expect(found).toContain("src/http/");
  expect(found.filter((f) => !doc.includes(`| \`${f}\``))).toEqual([]);
});
