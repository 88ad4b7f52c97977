import { afterEach, expect, test } from "bun:test";
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { appendAddon } from "../../scripts/build.ts";
import {
  addonFailure,
  extractAppendedAddon,
  findAppendedAddon,
  STALE_MS,
} from "../../src/db/native_addon.ts";
import { tempDir } from "../helpers/app.ts";

/**
 * The compiled binary's libSQL module travels after the executable (scripts/build.ts appends it,
 * src/db/native_addon.ts reads it back). Here on a stand-in executable: some bytes, then a
 * "module" of random bytes appended by the build's own function. test/ship/binary.test.ts runs
 * the real binary.
 */
let tmp = tempDir("suppressd-addon-");
afterEach(() => {
  tmp.cleanup();
  tmp = tempDir("suppressd-addon-");
});

function standIn(moduleBytes: Uint8Array, name = "exe"): string {
  const exe = join(tmp.dir, name);
  const module = join(tmp.dir, "module.node");
  writeFileSync(exe, Buffer.from("#!/bin/false\nexecutable bytes that are not the module\n"));
  writeFileSync(module, moduleBytes);
  appendAddon(exe, module);
  return exe;
}

const randomModule = (n: number) => crypto.getRandomValues(new Uint8Array(n));

test("the appended module comes back byte for byte, into a directory only this user can enter", () => {
  // Over two of the loader's 1 MiB copy chunks, and not a multiple of them.
  const bytes = randomModule((2 << 20) + 12_345);
  const exe = standIn(bytes);
  const base = join(tmp.dir, "tmpdir");
  mkdirSync(base);
  const path = extractAppendedAddon(exe, base);
  expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
  expect(path).toMatch(/\/suppressd-\d+\/libsql-[0-9a-f]{16}\.node$/);
  expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
  // Nothing half-written is left beside it.
  expect(readdirSync(join(path, ".."))).toEqual([basename(path)]);
});

test("a second start reuses the file; another version's module is written beside it", () => {
  const base = join(tmp.dir, "tmpdir");
  mkdirSync(base);
  const first = extractAppendedAddon(standIn(randomModule(5000)), base);
  const written = statSync(first);
  Bun.sleepSync(20);
  expect(extractAppendedAddon(join(tmp.dir, "exe"), base)).toBe(first);
  // The same file, not written again, but marked as used by this start.
  expect(statSync(first).ino).toBe(written.ino);
  expect(statSync(first).mtimeMs).toBeGreaterThan(written.mtimeMs);

  const other = randomModule(6000);
  const upgraded = extractAppendedAddon(standIn(other), base);
  expect(upgraded).not.toBe(first);
  expect(new Uint8Array(readFileSync(upgraded))).toEqual(other);
  // A daemon of the first version may be loading it right now.
  expect(readdirSync(join(upgraded, "..")).sort()).toEqual([first, upgraded].map((p) => basename(p)).sort());
});

test("other versions' modules and half-written copies unused for an hour go at the next start; nothing else does", () => {
  const base = join(tmp.dir, "tmpdir");
  mkdirSync(base);
  const dir = join(base, `suppressd-${process.getuid?.()}`);
  const old = extractAppendedAddon(standIn(randomModule(3000)), base);
  const recent = extractAppendedAddon(standIn(randomModule(3100)), base);
  const leftovers = {
    crashedCopy: join(dir, "libsql-0123456789abcdef.node.4242.tmp"),
    notOurs: join(dir, "notes.txt"),
    lookalike: join(dir, "libsql-XYZ.node"),
  };
  for (const file of Object.values(leftovers)) writeFileSync(file, "x");
  const longAgo = new Date(Date.now() - STALE_MS - 60_000);
  for (const file of [old, leftovers.crashedCopy, leftovers.notOurs, leftovers.lookalike])
    utimesSync(file, longAgo, longAgo);
  // A start of a third version.
  const current = extractAppendedAddon(standIn(randomModule(3200)), base);
  const left = readdirSync(dir).sort();
  expect(left).toEqual(
    [current, recent, leftovers.notOurs, leftovers.lookalike].map((p) => basename(p)).sort(),
  );
});

test("a start that reuses an old module gives it its time, so another version's start keeps it", () => {
  const base = join(tmp.dir, "tmpdir");
  mkdirSync(base);
  const exe = standIn(randomModule(4000));
  const mine = extractAppendedAddon(exe, base);
  const longAgo = new Date(Date.now() - STALE_MS - 60_000);
  utimesSync(mine, longAgo, longAgo);
  expect(extractAppendedAddon(exe, base)).toBe(mine);
  // Another version starting now would find it recently used.
  const other = extractAppendedAddon(standIn(randomModule(4100), "other-version"), base);
  expect(readdirSync(join(mine, "..")).sort()).toEqual([mine, other].map((p) => basename(p)).sort());
  // And once removed (another version's tidying, a week later), the next start writes it anew.
  rmSync(mine);
  expect(extractAppendedAddon(exe, base)).toBe(mine);
  expect(statSync(mine).size).toBe(4000);
});

test("a directory someone else could write to is refused, with what to do", () => {
  const exe = standIn(randomModule(100));
  const base = join(tmp.dir, "tmpdir");
  const dir = join(base, `suppressd-${process.getuid?.()}`);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  expect(() => extractAppendedAddon(exe, base)).toThrow(
    `${dir} is not a private directory of this user (owner, mode 0700); remove it`,
  );
  expect(readdirSync(dir)).toEqual([]);
});

test("an executable without the trailer carries no module", () => {
  const exe = join(tmp.dir, "plain");
  writeFileSync(exe, "just an executable, long enough to hold a trailer's worth of bytes and more");
  expect(findAppendedAddon(exe)).toBeNull();
  expect(() => extractAppendedAddon(exe, tmp.dir)).toThrow("carries no appended libSQL module");
});

test("what the operator is told, for each way setting the module up can fail", () => {
  // The binary cannot be read (a mode-0111 install): here, one that is not there.
  const missing = join(tmp.dir, "no-such-binary");
  let thrown: unknown;
  try {
    extractAppendedAddon(missing, tmp.dir);
  } catch (e) {
    thrown = e;
  }
  expect(addonFailure(thrown, null)).toBe(
    `suppressd: cannot read libSQL's native module from the binary itself: cannot read ${missing}: ENOENT: no such file or directory, open '${missing}'.\n` +
      `Make ${missing} readable by the user it runs as (install -m 0755), not only executable.\n`,
  );
  expect(addonFailure(new Error("EACCES: permission denied, mkdir '/x/suppressd-1'"), null)).toBe(
    "suppressd: cannot write libSQL's native module to a temporary directory: EACCES: permission denied, mkdir '/x/suppressd-1'.\n" +
      "Set TMPDIR to a directory this user can write (the module is written there once per version).\n",
  );
  expect(addonFailure(new Error("invalid ELF header"), "/tmp/suppressd-1/libsql-0123456789abcdef.node")).toBe(
    "suppressd: cannot load libSQL's native module from /tmp/suppressd-1/libsql-0123456789abcdef.node: invalid ELF header.\n" +
      "If its directory is mounted noexec, set TMPDIR to one where code may be loaded; otherwise remove /tmp/suppressd-1/libsql-0123456789abcdef.node and start again (it is written anew).\n",
  );
});
