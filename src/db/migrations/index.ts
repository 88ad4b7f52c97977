import type { Migration } from "kysely/migration";
import * as m001 from "./001_initial.ts";

/**
 * Every migration, by name, in order. Listed in code because a compiled binary has no migrations
 * folder to read.
 */
export const migrations: Record<string, Migration> = {
  "001_initial": m001,
};
