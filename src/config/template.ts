import { createHash } from "node:crypto";

/**
 * Sink templates (config `sinks[].url`, `body`, `headers`): checked when the config is
 * loaded, rendered by the sink for each job.
 */

/** The values a template may use. */
export const TEMPLATE_VARS = ["email", "email_md5", "reason", "event_type", "occurred_at"] as const;
export type TemplateVar = (typeof TEMPLATE_VARS)[number];

/**
 * Where a value lands decides how it is escaped, so an address can never break out of its place:
 * `url` percent-encodes (a path segment or query value), `json` escapes for the inside of a JSON
 * string literal, `header` drops line breaks. The `sql` filter (`{{email|sql}}`) also doubles
 * single quotes, for APIs that take an SQL expression (listmonk's query endpoints).
 */
export type Context = "url" | "json" | "header";

const PLACEHOLDER = /\{\{\s*([a-z0-9_]+)\s*(?:\|\s*([a-z]+)\s*)?\}\}/g;
const FILTERS = ["sql"] as const;

/** Problems with a template, in words for the config error (empty when it is fine). */
export function checkTemplate(template: string): string[] {
  const problems: string[] = [];
  for (const [text] of template.matchAll(/\{\{[^}]*\}\}/g)) {
    const m = new RegExp(`^${PLACEHOLDER.source}$`).exec(text);
    if (!m || !(TEMPLATE_VARS as readonly string[]).includes(m[1] as string)) {
      problems.push(`unknown placeholder ${text} (use ${TEMPLATE_VARS.map((v) => `{{${v}}}`).join(", ")})`);
    } else if (m[2] !== undefined && !(FILTERS as readonly string[]).includes(m[2])) {
      problems.push(`unknown filter |${m[2]} in ${text} (only |sql)`);
    }
  }
  return problems;
}

/** What a template is rendered from: a sync job's fields. */
export interface TemplateJob {
  email: string;
  reason: string;
  event_type: string;
  occurred_at: number;
}

export function templateVars(job: TemplateJob): Record<TemplateVar, string> {
  return {
    email: job.email,
    email_md5: md5(job.email),
    reason: job.reason,
    event_type: job.event_type,
    occurred_at: new Date(job.occurred_at).toISOString(),
  };
}

export function render(template: string, vars: Record<TemplateVar, string>, context: Context): string {
  return template.replace(PLACEHOLDER, (_, name: TemplateVar, filter?: string) => {
    let value = vars[name] ?? "";
    if (filter === "sql") value = value.replaceAll("'", "''");
    if (context === "url") return encodeURIComponent(value);
    if (context === "json") return JSON.stringify(value).slice(1, -1);
    return value.replace(/[\r\n]+/g, " ");
  });
}

/** Mailchimp's member id: the MD5 of the lowercased address. */
export function md5(email: string): string {
  return createHash("md5").update(email.toLowerCase()).digest("hex");
}
