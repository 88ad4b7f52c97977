import pkg from "../package.json" with { type: "json" };

/** Embedded at build time (the compiled binary carries package.json's version). */
export const VERSION: string = pkg.version;
