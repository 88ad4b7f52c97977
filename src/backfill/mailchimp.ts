import type { MailchimpSinkConfig } from "../config/schema.ts";
import { configError, unavailable } from "../errors.ts";
import type { Reason } from "../suppression/types.ts";
import { Semaphore } from "../sync/semaphore.ts";
import { MailchimpApi, MailchimpError } from "../sync/sinks/mailchimp_api.ts";
import type { Listing } from "./pass.ts";
import type { BackfillRow } from "./rows.ts";

/** The most members one call may return (the client's getListMembersInfo: "Maximum value is 1000"). */
const PAGE = 1000;
/**
 * Offset paging shifts when a member leaves the status being read (resubscribed) while we page:
 * each next page starts this many members early, so up to that many departures per page skip
 * no one. The rows read twice are known and written once.
 */
const OVERLAP = 20;
/** Members changed shortly before a pass began may be listed with a slightly later time. */
const SINCE_MARGIN_MS = 60 * 60_000;
/** Attempts of one page through throttling (429, body-less 403), 5xx and network errors. */
const ATTEMPTS = 8;

export const MAILCHIMP_REASON: Record<"unsubscribed" | "cleaned", Reason> = {
  unsubscribed: "unsubscribe",
  cleaned: "hard_bounce",
};

/** The official client for one sink's account, in the sink's connection share (maxConnections). */
export function mailchimpApi(sink: MailchimpSinkConfig, sleep?: (ms: number) => Promise<void>): MailchimpApi {
  return new MailchimpApi(
    { apiKey: sink.apiKey, ...(sink.baseUrl ? { baseUrl: sink.baseUrl } : {}), timeoutMs: sink.timeoutMs },
    new Semaphore(sink.maxConnections),
    sleep,
  );
}

export interface Member {
  email: string;
  status: string;
  lastChanged: number | null;
  unsubscribeReason: string;
}

/**
 * One page of an audience's members of one status, oldest change first, through the official
 * client. Mailchimp documents no Retry-After: throttling (429, or 403 without a body) and
 * failures are retried with a growing pause; a refused key or a missing audience stops with
 * what to fix.
 */
export async function memberPage(
  api: MailchimpApi,
  sink: string,
  listId: string,
  q: { status: string; offset: number; since: string | null; sorted?: boolean },
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ members: Member[]; total: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const body = await api.listMembers(listId, {
        status: q.status,
        count: PAGE,
        offset: q.offset,
        ...(q.sorted === false ? {} : { sort_field: "last_changed", sort_dir: "ASC" }),
        fields: [
          "total_items",
          "members.email_address",
          "members.status",
          "members.last_changed",
          "members.unsubscribe_reason",
        ],
        ...(q.since ? { since_last_changed: q.since } : {}),
      });
      const raw = (body.members ?? []) as Record<string, unknown>[];
      return {
        total: Number(body.total_items ?? 0),
        members: raw.map((m) => ({
          email: String(m.email_address ?? ""),
          status: String(m.status ?? ""),
          lastChanged: timeOf(m.last_changed),
          unsubscribeReason: typeof m.unsubscribe_reason === "string" ? m.unsubscribe_reason : "",
        })),
      };
    } catch (e) {
      if (!(e instanceof MailchimpError)) throw e;
      if (e.sinkWide) throw configError(`sink ${sink}: ${e.message}`);
      if (e.status === 404)
        throw configError(
          `sink ${sink}: audience '${listId}' does not exist for this API key (check listIds).`,
        );
      if (!e.transient || attempt >= ATTEMPTS)
        throw unavailable(
          `sink ${sink}: ${e.message}. Run the command again later: it goes on where it stopped.`,
        );
      await sleep(Math.min(60_000, 1000 * 2 ** (attempt - 1)));
    }
  }
}

/**
 * The unsubscribed or cleaned members of one audience: unsubscribed → unsubscribe (its
 * unsubscribe_reason as the note), cleaned → hard_bounce, each at its `last_changed` (when its
 * status last changed; Mailchimp keeps no separate unsubscribe time in the API). After a
 * complete pass, the next one asks only for members changed since it began (`since_last_changed`).
 * The cursor is the offset within the pass.
 */
export function mailchimpMembers(
  api: MailchimpApi,
  sink: string,
  listId: string,
  status: "unsubscribed" | "cleaned",
  sleep?: (ms: number) => Promise<void>,
): Listing {
  return {
    source: `mailchimp.${status}`,
    scope: `${sink}/${listId}`,
    label: `mailchimp ${sink} ${listId} ${status}`,
    async page(at, cursor) {
      const offset = at === null ? 0 : Number(at);
      const since =
        cursor.lastCompleteAt === null ? null : isoSeconds(cursor.lastCompleteAt - SINCE_MARGIN_MS);
      const { members, total } = await memberPage(api, sink, listId, { status, offset, since }, sleep);
      const rows: BackfillRow[] = members
        .filter((m) => m.status === status)
        .map((m) => ({
          email: m.email,
          reason: MAILCHIMP_REASON[status],
          at: m.lastChanged,
          ...(m.unsubscribeReason ? { note: `Mailchimp: ${m.unsubscribeReason}` } : {}),
        }));
      const more = members.length === PAGE && offset + members.length < total;
      return { rows, next: more ? String(offset + members.length - OVERLAP) : null, total };
    },
  };
}

/** Every member of one status in an audience (reconcile): a snapshot, read page by page. */
export async function allMembers(
  api: MailchimpApi,
  sink: string,
  listId: string,
  status: string,
  sleep?: (ms: number) => Promise<void>,
): Promise<Member[]> {
  const out: Member[] = [];
  for (let offset = 0; ; ) {
    const { members, total } = await memberPage(
      api,
      sink,
      listId,
      { status, offset, since: null, sorted: false },
      sleep,
    );
    out.push(...members.filter((m) => m.status === status));
    offset += members.length;
    if (members.length < PAGE || offset >= total) return out;
  }
}

export function timeOf(v: unknown): number | null {
  if (typeof v !== "string" || v === "") return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** Mailchimp's time format: `2015-10-21T15:41:36+00:00`. */
function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}
