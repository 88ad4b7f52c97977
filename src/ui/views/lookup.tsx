/** @jsxImportSource hono/jsx */
import type { historyOf } from "../../db/queries.ts";
import type { SuppressionReasonTable, SuppressionTable } from "../../db/schema.ts";
import { LookupForm } from "./dashboard.tsx";

type HistoryRow = Awaited<ReturnType<typeof historyOf>>[number];

import { utc, who } from "./format.ts";

export interface LookupProps {
  base: string;
  csrf: string;
  /** What the viewer typed, and the address it normalises to (null: not an address). */
  typed: string;
  email: string | null;
  row: SuppressionTable | undefined;
  reasons: SuppressionReasonTable[];
  history: HistoryRow[];
  /** Set when the address was erased with --keep-suppressed: only its keyed hash is left. */
  erased?: { reason: string; erased_at: number } | undefined;
}

/** One address: its state, each reason in force or lifted, and its whole history. */
export function Lookup(p: LookupProps) {
  return (
    <main>
      <section id="lookup" aria-labelledby="lookup-h">
        <h2 id="lookup-h">Look up an address</h2>
        <LookupForm base={p.base} csrf={p.csrf} value={p.typed} />
        {p.email === null ? (
          <p class="warn" role="alert">
            "{p.typed}" is not an email address.
          </p>
        ) : (
          <Result {...p} email={p.email} />
        )}
        <p>
          <a href={p.base}>Back to the overview</a>
        </p>
      </section>
    </main>
  );
}

function Result(p: LookupProps & { email: string }) {
  const { row } = p;
  if (p.erased) {
    return (
      <>
        <h3>
          <code>{p.email}</code>
        </h3>
        <p id="state">
          State: <strong class="bad">suppressed</strong> for <strong>{p.erased.reason}</strong>: erased on{" "}
          {utc(p.erased.erased_at)} with keep-suppressed, so only a keyed hash of the address is kept (no
          history).
        </p>
      </>
    );
  }
  const state = !row ? "never seen" : row.suppressed === 1 ? "suppressed" : "not suppressed (lifted)";
  return (
    <>
      <h3>
        <code>{p.email}</code>
      </h3>
      <p id="state">
        State: <strong class={row?.suppressed === 1 ? "bad" : "ok"}>{state}</strong>
        {row?.suppressed === 1 ? (
          <>
            {" "}
            for <strong>{row.reason}</strong> since {utc(row.suppressed_at)} (first suppressed{" "}
            {utc(row.first_suppressed_at)})
          </>
        ) : null}
        {row && row.suppressed === 0 ? <> since {utc(row.updated_at)}: it may be mailed</> : null}
        {!row ? <>: it may be mailed</> : null}
      </p>
      {row?.note ? <p>Note: {row.note}</p> : null}

      <div class="scroll">
        <table id="reasons-table" class="stack">
          <caption>Reasons, each from its source</caption>
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col">Source</th>
              <th scope="col">In force</th>
              <th scope="col">Suppressed at</th>
              <th scope="col">Lifted at</th>
            </tr>
          </thead>
          <tbody>
            {p.reasons.length === 0 ? (
              <tr>
                <td colspan={5}>None.</td>
              </tr>
            ) : (
              p.reasons.map((r) => (
                <tr>
                  <th scope="row" data-label="Reason">
                    {r.reason === "*" ? "every reason (lifted by the API)" : r.reason}
                  </th>
                  <td data-label="Source">{r.source}</td>
                  <td data-label="In force">{r.active === 1 ? "yes" : "no, lifted"}</td>
                  <td data-label="Suppressed at">{r.suppressed_at === null ? "" : utc(r.suppressed_at)}</td>
                  <td data-label="Lifted at">{r.lifted_at === null ? "" : utc(r.lifted_at)}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>

      <div class="scroll">
        <table id="history-table" class="stack">
          <caption>History, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Event time</th>
              <th scope="col">Decision</th>
              <th scope="col">Reason</th>
              <th scope="col">Because of</th>
              <th scope="col">By</th>
              <th scope="col">Recorded</th>
              <th scope="col">Note</th>
            </tr>
          </thead>
          <tbody>
            {p.history.length === 0 ? (
              <tr>
                <td colspan={7}>Nothing recorded for this address.</td>
              </tr>
            ) : (
              p.history.map((h) => (
                <tr>
                  <td data-label="Event time">{utc(h.occurred_at)}</td>
                  <td data-label="Decision">{h.decision}</td>
                  <td data-label="Reason">{h.reason ?? ""}</td>
                  <td data-label="Because of">
                    <code>{h.event_type}</code>
                    {h.svix_id ? <small class="muted"> {h.svix_id}</small> : null}
                  </td>
                  <td data-label="By">{who(h.source, h.actor)}</td>
                  <td data-label="Recorded">{utc(h.recorded_at)}</td>
                  <td data-label="Note">{h.note ?? ""}</td>
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>
    </>
  );
}
