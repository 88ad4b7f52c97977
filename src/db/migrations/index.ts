import type { Migration } from "kysely/migration";
import * as m001 from "./001_initial.ts";
import * as m002 from "./002_suppressions_by_reason.ts";
import * as m003 from "./003_sync_jobs_by_email.ts";
import * as m004 from "./004_repair_lone_surrogates.ts";
import * as m005 from "./005_history_actor.ts";
import * as m006 from "./006_reason_sources.ts";
import * as m007 from "./007_import_cursors.ts";
import * as m008 from "./008_erased_suppressions.ts";

/**
 * Every migration, by name, in order. Listed in code because a compiled binary has no migrations
 * folder to read.
 */
export const migrations: Record<string, Migration> = {
  "001_initial": m001,
  "002_suppressions_by_reason": m002,
  "003_sync_jobs_by_email": m003,
  "004_repair_lone_surrogates": m004,
  "005_history_actor": m005,
  "006_reason_sources": m006,
  "007_import_cursors": m007,
  "008_erased_suppressions": m008,
};
