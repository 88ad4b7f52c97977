/**
 * Where a suppression came from. Each source lifts only what it set (Resend's `contact.updated`
 * with `unsubscribed: false` must not clear an unsubscribe that an operator or an import
 * recorded); only the API lifts everything.
 */
export const SOURCES = ["resend", "resend_contact", "api", "import", "mailchimp"] as const;
export type Source = (typeof SOURCES)[number];

/**
 * The source an intent speaks for, from its event type: `contact.*` is Resend's contact state
 * (sent on any change to a contact, a rename included), other Resend types are its delivery
 * events and suppression list, `api.*` an operator's call, `import` a CSV row, `mailchimp.*` a
 * Mailchimp audience webhook.
 */
export function sourceOf(eventType: string): Source {
  if (eventType.startsWith("contact.")) return "resend_contact";
  if (eventType.startsWith("api.")) return "api";
  if (eventType === "import") return "import";
  if (eventType.startsWith("mailchimp.")) return "mailchimp";
  return "resend";
}
