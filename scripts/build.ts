/**
 * Builds dist/suppressd: one executable that carries the Bun runtime, the code, the version and
 * libSQL's native module, and runs from any directory without Bun or node_modules.
 *
 *   bun scripts/build.ts [--outfile PATH] [--target bun-linux-x64|bun-linux-arm64|…]
 *
 * Two things a plain `bun build --compile` gets wrong for a daemon:
 * - libsql loads its native module with a computed `require(\`@libsql/${target}\`)` that the
 *   bundler cannot follow, so the binary only works beside a node_modules folder ("Cannot find
 *   module '@libsql/linux-x64-gnu'"). The plugin below rewrites that call to the concrete
 *   `@libsql/<target>/index.node` of the platform being built, which Bun then embeds.
 * - A compiled Bun binary reads `.env` and `bunfig.toml` from its working directory by default;
 *   a stray file there could change the daemon (preload code, environment). Both are turned off.
 */
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { BunPlugin } from "bun";
import { ADDON_MAGIC } from "../src/db/native_addon.ts";

const ROOT = resolve(import.meta.dir, "..");

/** Bun's compile target → the name of libsql's prebuilt package for that platform. */
export function libsqlPackageFor(target: string): string {
  const m =
    /^bun-(linux|darwin|windows)-(x64|arm64|aarch64)(?:-(?:baseline|modern))?(?:-(glibc|musl))?$/.exec(
      target,
    );
  if (!m) throw new Error(`unsupported compile target '${target}'`);
  const [, os, rawArch, libc] = m;
  const arch = rawArch === "aarch64" ? "arm64" : rawArch;
  if (os === "linux") return `@libsql/linux-${arch}-${libc === "musl" ? "musl" : "gnu"}`;
  if (os === "darwin") return `@libsql/darwin-${arch}`;
  return `@libsql/win32-${arch}-msvc`;
}

/** The compile target of the machine running the build. */
function hostTarget(): string {
  const os = process.platform === "win32" ? "windows" : process.platform;
  return `bun-${os}-${process.arch}`;
}

/** libsql's native module for `target`, in node_modules. */
function nativeModuleFor(target: string): string {
  return join(ROOT, "node_modules", libsqlPackageFor(target), "index.node");
}

/**
 * Linux binaries carry the native module appended after the executable (src/db/native_addon.ts
 * says why: ~9.5 MiB less resident memory). Elsewhere Bun embeds it: a macOS binary is signed,
 * and bytes after the signature would break it.
 */
const appendsAddon = (target: string) => target.startsWith("bun-linux-");

/** Rewrites libsql's computed native require to the one file for `target`. */
export function libsqlNativePlugin(target: string): BunPlugin {
  const pkg = libsqlPackageFor(target);
  const native = nativeModuleFor(target);
  const loader = appendsAddon(target)
    ? `require(${JSON.stringify(join(ROOT, "src/db/native_addon.ts"))}).loadAppendedAddon()`
    : `require(${JSON.stringify(native)})`;
  return {
    name: "libsql-native",
    setup(build) {
      // index.js and promise.js both carry the same `requireNative()`.
      build.onLoad({ filter: /[\\/]node_modules[\\/]libsql[\\/](index|promise)\.js$/ }, async (args) => {
        const source = await Bun.file(args.path).text();
        // biome-ignore lint/suspicious/noTemplateCurlyInString: libsql's source text, matched literally.
        const computed = "require(`@libsql/${target}`)";
        if (!source.includes(computed)) {
          throw new Error(
            `${args.path} no longer contains ${computed}; update scripts/build.ts for this libsql version.`,
          );
        }
        if (!existsSync(native)) {
          throw new Error(
            `${native} is missing: install libsql's package for this target first (npm install --no-save --force ${pkg}).`,
          );
        }
        return { contents: source.replaceAll(computed, loader), loader: "js" };
      });
    },
  };
}

export async function build(opts: { outfile: string; target?: string }): Promise<string> {
  const target = opts.target ?? hostTarget();
  const outfile = resolve(opts.outfile);
  const result = await Bun.build({
    // The writer's thread is a second entry point: Bun bundles a Worker's module only when told.
    entrypoints: [join(ROOT, "src/main.ts"), join(ROOT, "src/db/writer_worker.ts")],
    compile: {
      target: target as Bun.Build.CompileTarget,
      outfile,
      autoloadDotenv: false,
      autoloadBunfig: false,
    },
    minify: true,
    sourcemap: "inline",
    // Parsed ahead of time: the daemon reaches /readyz sooner (issue 4 asks for ≤ 300 ms).
    bytecode: true,
    plugins: [libsqlNativePlugin(target)],
  });
  if (!result.success) {
    throw new Error(`build failed:\n${result.logs.map((l) => String(l)).join("\n")}`);
  }
  // The source maps are embedded (stack traces name src/ files and lines); Bun also writes copies
  // beside the binary (one per entry point), which nothing reads: remove them so the build is
  // exactly one file.
  rmSync(`${outfile}.map`, { force: true });
  rmSync(join(dirname(outfile), "writer_worker.js.map"), { force: true });
  if (appendsAddon(target)) appendAddon(outfile, nativeModuleFor(target));
  return outfile;
}

/** The native module, then the trailer src/db/native_addon.ts reads, after the executable's bytes. */
export function appendAddon(outfile: string, native: string) {
  const bytes = readFileSync(native);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes.length));
  const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  appendFileSync(outfile, Buffer.concat([bytes, length, Buffer.from(hash + ADDON_MAGIC, "latin1")]));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { outfile: { type: "string" }, target: { type: "string" } },
  });
  const out = await build({
    outfile: values.outfile ?? join(ROOT, "dist/suppressd"),
    ...(values.target ? { target: values.target } : {}),
  });
  process.stdout.write(`built ${out}\n`);
}
