import {
  closeSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT } from "../errors.ts";

/**
 * libSQL's native module in the compiled binary (Linux): scripts/build.ts appends it after the
 * executable's own bytes, followed by a trailer, instead of letting Bun embed it.
 *
 * Why: Bun copies an embedded `.node` out to a temporary file through the executable's mapped
 * pages, and those 9.5 MiB then stay in the daemon's resident memory for good, beside the 5 MiB
 * of the library actually loaded (issue 14, target 5: idle RSS 79.8 → ~70 MiB). Read here with
 * `read(2)`, the bytes pass through the page cache and never become the process's memory.
 *
 * Layout at the end of the file: <module bytes> <length: u64 LE> <sha-256 of the bytes, first 16
 * hex digits> <MAGIC>. The module is written once per content to `$TMPDIR/suppressd-<uid>/`, a
 * directory only this user may use (checked, as a shared /tmp allows anyone to create it first),
 * and loaded from there by both of the daemon's threads: one path, so one copy of SQLite in the
 * process (two copies would not see each other's POSIX locks). Other versions' modules are removed
 * there once unused for an hour.
 */
export const ADDON_MAGIC = "suppressd-addon\n";
export const TRAILER_BYTES = 8 + 16 + ADDON_MAGIC.length;
/** Another version's module no start has used for this long is removed (see removeStale). */
export const STALE_MS = 60 * 60_000;

/** Where the appended module is (offsets in the executable), or null if nothing is appended. */
export function findAppendedAddon(
  executable: string,
): { offset: number; length: number; hash: string } | null {
  const fd = openSync(executable, "r");
  try {
    const size = fstatSync(fd).size;
    if (size < TRAILER_BYTES) return null;
    const trailer = Buffer.alloc(TRAILER_BYTES);
    readSync(fd, trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    if (trailer.toString("latin1", 24) !== ADDON_MAGIC) return null;
    const length = Number(trailer.readBigUInt64LE(0));
    const hash = trailer.toString("latin1", 8, 24);
    if (!/^[0-9a-f]{16}$/.test(hash) || length > size - TRAILER_BYTES) return null;
    return { offset: size - TRAILER_BYTES - length, length, hash };
  } finally {
    closeSync(fd);
  }
}

/**
 * The path of the module on disk, written there first if it is not already (atomically: a
 * temporary name, then rename, so a daemon starting at the same moment never loads half a file).
 */
export function extractAppendedAddon(executable: string, baseDir: string = tmpdir()): string {
  let found: ReturnType<typeof findAppendedAddon>;
  try {
    found = findAppendedAddon(executable);
  } catch (e) {
    throw new UnreadableExecutable(executable, e);
  }
  if (!found)
    throw new Error(`${executable} carries no appended libSQL module (build it with scripts/build.ts)`);
  const dir = privateDir(join(baseDir, `suppressd-${process.getuid?.() ?? "user"}`));
  const path = join(dir, `libsql-${found.hash}.node`);
  const existing = statSync(path, { throwIfNoEntry: false });
  if (!(existing?.isFile() && existing.size === found.length && markUsed(path))) {
    const partial = `${path}.${process.pid}.tmp`;
    try {
      copyRange(executable, found.offset, found.length, partial);
    } catch (e) {
      rmSync(partial, { force: true });
      throw e;
    }
    renameSync(partial, path);
  }
  removeStale(dir, path);
  return path;
}

/**
 * Gives a reused module the time of this start, so that another version's cleanup (removeStale)
 * leaves it alone while this daemon's threads load it. False if it vanished meanwhile (removed
 * by such a cleanup a moment before): it is then written anew.
 */
function markUsed(path: string): boolean {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch (e) {
    // Any other failure (a read-only directory) leaves the file as usable as it was.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
  }
  return true;
}

/**
 * Removes other versions' modules, and copies a crash left half-written, that no start has used
 * for an hour: each upgrade would otherwise leave ~10 MB in a /tmp that is emptied only at boot.
 * Removing a module a running daemon has loaded is harmless (its mapping stays), and a daemon
 * starting now has just given its own file the time of its start (markUsed, or the new file's
 * own), which it loads from both threads within a second. Files of any other name are not ours.
 */
function removeStale(dir: string, keep: string, now = Date.now()) {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // tidying up never stops a start
  }
  for (const name of names) {
    const file = join(dir, name);
    if (file === keep || !/^libsql-[0-9a-f]{16}\.node(\.\d+\.tmp)?$/.test(name)) continue;
    try {
      const st = lstatSync(file);
      if (st.isFile() && now - st.mtimeMs > STALE_MS) rmSync(file, { force: true });
    } catch {
      // Removed by another start meanwhile: nothing left to do.
    }
  }
}

/** `length` bytes of `from` at `offset` into a new file `to`, a MiB at a time. */
function copyRange(from: string, offset: number, length: number, to: string) {
  const src = openSync(from, "r");
  try {
    const dst = openSync(to, "w", 0o700);
    try {
      const chunk = Buffer.alloc(1 << 20);
      for (let done = 0; done < length; ) {
        const n = readSync(src, chunk, 0, Math.min(chunk.length, length - done), offset + done);
        if (n <= 0) throw new Error(`${from} ends before its libSQL module does`);
        writeSync(dst, chunk, 0, n);
        done += n;
      }
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
}

/** `dir`, created 0700 if absent; refused unless it is a directory of this user's that no one else can enter. */
function privateDir(dir: string): string {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const st = lstatSync(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new Error(`${dir} is not a private directory of this user (owner, mode 0700); remove it`);
  }
  return dir;
}

/** The module travels inside the executable, so the executable must be readable, not only runnable. */
export class UnreadableExecutable extends Error {
  constructor(
    readonly executable: string,
    cause: unknown,
  ) {
    super(`cannot read ${executable}: ${(cause as Error)?.message ?? cause}`);
  }
}

/** What to tell the operator when the module cannot be set up: what failed, and what to change. */
export function addonFailure(e: unknown, loadingFrom: string | null): string {
  const why = (e as Error)?.message ?? String(e);
  if (e instanceof UnreadableExecutable)
    return (
      `suppressd: cannot read libSQL's native module from the binary itself: ${why}.\n` +
      `Make ${e.executable} readable by the user it runs as (install -m 0755), not only executable.\n`
    );
  if (loadingFrom !== null)
    return (
      `suppressd: cannot load libSQL's native module from ${loadingFrom}: ${why}.\n` +
      `If its directory is mounted noexec, set TMPDIR to one where code may be loaded; otherwise remove ${loadingFrom} and start again (it is written anew).\n`
    );
  return (
    `suppressd: cannot write libSQL's native module to a temporary directory: ${why}.\n` +
    "Set TMPDIR to a directory this user can write (the module is written there once per version).\n"
  );
}

/**
 * What libsql's loader calls in the compiled binary (scripts/build.ts rewrites its `require`).
 * Nothing has started yet when it runs, so a failure to read, write or load the module is said
 * here, once, and ends the process with 73 (an output file cannot be created).
 */
export function loadAppendedAddon(): unknown {
  let path: string | null = null;
  try {
    path = extractAppendedAddon(process.execPath);
    const module = { exports: {} as unknown };
    process.dlopen(module, path);
    return module.exports;
  } catch (e) {
    process.stderr.write(addonFailure(e, path));
    process.exit(EXIT.cantCreate);
  }
}
