import { REASONS, type Reason } from "../suppression/types.ts";

/**
 * Words found in other tools' exports and in hand-made lists, after lowercasing and turning `_`
 * and `-` into spaces. A word not here is reported with its line, never guessed.
 */
const REASON_WORDS: Record<string, Reason> = {
  "hard bounce": "hard_bounce",
  "hard bounced": "hard_bounce",
  hardbounce: "hard_bounce",
  hard: "hard_bounce",
  bounce: "hard_bounce",
  bounced: "hard_bounce",
  permanent: "hard_bounce",
  "permanent bounce": "hard_bounce",
  cleaned: "hard_bounce",
  "soft bounce limit": "soft_bounce_limit",
  "soft bounce": "soft_bounce_limit",
  "soft bounced": "soft_bounce_limit",
  complaint: "complaint",
  complained: "complaint",
  spam: "complaint",
  "spam complaint": "complaint",
  "spam report": "complaint",
  "marked as spam": "complaint",
  abuse: "complaint",
  "provider suppressed": "provider_suppressed",
  suppressed: "provider_suppressed",
  unsubscribe: "unsubscribe",
  unsubscribed: "unsubscribe",
  unsub: "unsubscribe",
  "opt out": "unsubscribe",
  "opted out": "unsubscribe",
  optout: "unsubscribe",
  manual: "manual",
  blocked: "manual",
  blocklisted: "manual",
  blocklist: "manual",
  imported: "imported",
};

/** The reason a word names, or null. */
export function reasonFromWord(word: string): Reason | null {
  const w = word.trim().toLowerCase().replace(/[_-]+/g, " ").replace(/\s+/g, " ");
  return REASON_WORDS[w] ?? null;
}

/** Said with an unknown word. */
export const KNOWN_REASONS = `known: ${REASONS.join(", ")} and words such as bounce, Hard Bounce, spam, unsubscribed`;
