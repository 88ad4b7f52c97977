/** @jsxImportSource hono/jsx */
import type { Snapshot } from "../stats.ts";
import { DailyChart } from "./chart.tsx";
import { duration, num, shownAddress, utc, who } from "./format.ts";

export interface DashboardProps {
  base: string;
  csrf: string;
  snapshot: Snapshot;
  now: number;
  quietMinutes: number;
  refreshSeconds: number;
  signatureFailures: number;
  duplicates: number;
  hashAddresses: boolean;
  /** The hashed address the viewer asked to see in clear, if any. */
  reveal: string | null;
}

const OUTCOMES = ["processed", "ignored", "quarantined"] as const;

/** The status page: overview, sinks, the lookup form, recent changes and the quarantine. */
export function Dashboard(p: DashboardProps) {
  const s = p.snapshot;
  return (
    <main>
      <p class="muted">
        Figures as of <time datetime={new Date(s.at).toISOString()}>{utc(s.at)}</time>, recomputed every{" "}
        {duration(p.refreshSeconds)} while the page is in use.
      </p>
      <Overview {...p} />
      <Sinks {...p} />
      <section id="lookup" aria-labelledby="lookup-h">
        <h2 id="lookup-h">Look up an address</h2>
        <LookupForm base={p.base} csrf={p.csrf} value="" />
      </section>
      <Changes {...p} />
      <Quarantine {...p} />
    </main>
  );
}

export function LookupForm(props: { base: string; csrf: string; value: string }) {
  // POST, so the address stays out of URLs: out of proxy access logs and the browser's history.
  return (
    <form method="post" action={`${props.base}/lookup`}>
      <input type="hidden" name="csrf" value={props.csrf} />
      <label for="email">Email address</label>
      <input id="email" name="email" type="email" required value={props.value} autocomplete="off" />
      <button type="submit">Look up</button>
    </form>
  );
}

function Overview(p: DashboardProps) {
  const s = p.snapshot;
  const total = s.byReason.reduce((a, r) => a + r.n, 0);
  const quietFor = s.lastEvent ? (p.now - s.lastEvent.receivedAt) / 1000 : null;
  const quiet = quietFor === null || quietFor > p.quietMinutes * 60;
  const types = [...new Set(s.events24h.map((e) => e.type))];
  const count = (type: string, status: string) =>
    s.events24h.find((e) => e.type === type && e.status === status)?.n ?? 0;
  return (
    <section id="overview" aria-labelledby="overview-h">
      <h2 id="overview-h">Overview</h2>
      {quiet ? (
        <p class="warn" role="status">
          <strong>No webhook event for {quietFor === null ? "ever" : duration(quietFor)}</strong> (warning
          after {duration(p.quietMinutes * 60)}, ui.quietMinutes). Check that the endpoint is enabled on
          Resend's webhook page and that it can reach this server.
        </p>
      ) : null}
      <dl class="cards">
        <div>
          <dt>Suppressed addresses</dt>
          <dd id="total-suppressed">{num(total)}</dd>
        </div>
        <div>
          <dt>Last event received</dt>
          <dd id="last-event">
            {s.lastEvent ? (
              <>
                {duration(quietFor ?? 0)} ago
                <small>
                  {s.lastEvent.type}, {utc(s.lastEvent.receivedAt)}
                </small>
              </>
            ) : (
              "never"
            )}
          </dd>
        </div>
        <div>
          <dt>Signature failures since start</dt>
          <dd id="signature-failures" class={p.signatureFailures > 0 ? "bad" : undefined}>
            {num(p.signatureFailures)}
            <small>requests answered 401</small>
          </dd>
        </div>
        <div>
          <dt>Duplicates since start</dt>
          <dd>
            {num(p.duplicates)}
            <small>retries and replays</small>
          </dd>
        </div>
      </dl>

      <div class="scroll">
        <table id="by-reason">
          <caption>Suppressed addresses by reason</caption>
          <thead>
            <tr>
              <th scope="col">Reason</th>
              <th scope="col" class="n">
                Addresses
              </th>
            </tr>
          </thead>
          <tbody>
            {s.byReason.map((r) => (
              <tr>
                <th scope="row">{r.reason}</th>
                <td class="n">{num(r.n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      <div class="scroll">
        <table id="events-24h">
          <caption>Events received in the last 24 hours, by type and outcome</caption>
          <thead>
            <tr>
              <th scope="col">Type</th>
              {OUTCOMES.map((o) => (
                <th scope="col" class="n">
                  {o}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {types.length === 0 ? (
              <tr>
                <td colspan={4}>None.</td>
              </tr>
            ) : (
              types.map((t) => (
                <tr>
                  <th scope="row">
                    <code>{breakable(t)}</code>
                  </th>
                  {OUTCOMES.map((o) => (
                    <td class="n">{num(count(t, o))}</td>
                  ))}
                </tr>
              ))
            )}
          </tbody>
        </table>
      </div>

      <h3>Suppressions added and lifted per day (UTC), last 30 days</h3>
      <DailyChart days={s.daily} />
    </section>
  );
}

function Sinks(p: DashboardProps) {
  const sinks = p.snapshot.sinks;
  return (
    <section id="sinks" aria-labelledby="sinks-h">
      <h2 id="sinks-h">Sinks</h2>
      {sinks.length === 0 ? (
        <p>No sinks are configured: suppressions stay in this database (see `sinks` in the config).</p>
      ) : (
        <div class="scroll">
          <table id="sink-table" class="stack">
            <thead>
              <tr>
                <th scope="col">Sink</th>
                <th scope="col">State</th>
                <th scope="col" class="n">
                  Pending
                </th>
                <th scope="col" class="n">
                  Dead
                </th>
                <th scope="col">Oldest pending</th>
                <th scope="col">Last error</th>
                <th scope="col">Last success</th>
              </tr>
            </thead>
            <tbody>
              {sinks.map((k) => (
                <tr>
                  <th scope="row" data-label="Sink">
                    <span>
                      {k.name} <span class="muted">({k.type})</span>
                    </span>
                  </th>
                  <td
                    data-label="State"
                    class={k.state === "ok" ? "ok" : k.state === "unknown" ? undefined : "bad"}
                  >
                    {k.state}
                  </td>
                  <td data-label="Pending" class="n">
                    {num(k.pending)}
                  </td>
                  <td data-label="Dead" class={k.dead > 0 ? "n bad" : "n"}>
                    {num(k.dead)}
                  </td>
                  <td data-label="Oldest pending">
                    {k.oldestPendingAgeSeconds === null ? "none" : duration(k.oldestPendingAgeSeconds)}
                  </td>
                  <td data-label="Last error">
                    {/* One block, so a phone's stacked row keeps it together. */}
                    <div>
                      {k.lastError ? (
                        <>
                          {k.lastError.message}
                          {k.lastError.at ? <small class="muted"> ({utc(k.lastError.at)})</small> : null}
                        </>
                      ) : (
                        "none"
                      )}
                      {k.fix ? <p class="muted">{k.fix}</p> : null}
                    </div>
                  </td>
                  <td data-label="Last success">
                    {k.lastSuccessAt ? utc(k.lastSuccessAt) : "none since start"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** An event type that may wrap after its dots on a narrow screen ("email.<wbr>bounced"). */
function breakable(type: string) {
  return type.split(".").flatMap((part, i) => (i === 0 ? [part] : [".", <wbr />, part]));
}

/** An address in a list: hashed as in the logs, with a link that shows it in clear. */
function Address(props: { email: string; p: DashboardProps; anchor: string }) {
  const { text, hidden } = shownAddress(props.email, props.p.hashAddresses, props.p.reveal);
  if (!hidden) return <code>{text}</code>;
  return (
    <span>
      <code>{text}</code>{" "}
      <a
        href={`${props.p.base}?reveal=${encodeURIComponent(text)}#${props.anchor}`}
        aria-label={`Show the address hashed as ${text}`}
      >
        show
      </a>
    </span>
  );
}

function Changes(p: DashboardProps) {
  const rows = p.snapshot.changes;
  return (
    <section id="changes" aria-labelledby="changes-h">
      <h2 id="changes-h">Recent changes</h2>
      {rows.length === 0 ? (
        <p>No suppression or lift yet.</p>
      ) : (
        <div class="scroll">
          <table id="changes-table" class="stack">
            <thead>
              <tr>
                <th scope="col">Recorded</th>
                <th scope="col">Address</th>
                <th scope="col">Change</th>
                <th scope="col">Reason</th>
                <th scope="col">Because of</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  <td data-label="Recorded">{utc(r.recorded_at)}</td>
                  <td data-label="Address">
                    <Address email={r.email} p={p} anchor="changes" />
                  </td>
                  <td data-label="Change">{r.decision}</td>
                  <td data-label="Reason">{r.reason ?? ""}</td>
                  <td data-label="Because of">
                    <code>{r.event_type}</code>
                  </td>
                  <td data-label="By">{who(r.source, r.actor)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Quarantine(p: DashboardProps) {
  const { quarantine: rows, quarantineCounts: counts } = p.snapshot;
  return (
    <section id="quarantine" aria-labelledby="quarantine-h">
      <h2 id="quarantine-h">Quarantined events</h2>
      <p>
        {num(counts.waiting)} waiting for <code>suppressd events reprocess</code>, {num(counts.total)} kept in
        all.
      </p>
      {rows.length === 0 ? null : (
        <div class="scroll">
          <table id="quarantine-table" class="stack">
            <thead>
              <tr>
                <th scope="col">Received</th>
                <th scope="col">Type</th>
                <th scope="col">Why</th>
                <th scope="col">Addresses</th>
                <th scope="col">Reprocessed</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((q) => (
                <tr>
                  <td data-label="Received">{utc(q.receivedAt)}</td>
                  <td data-label="Type">
                    <code>{q.type ?? "unreadable"}</code>
                  </td>
                  <td data-label="Why">{q.reason}</td>
                  <td data-label="Addresses">
                    {q.addresses.map((a) => (
                      <div>
                        <Address email={a} p={p} anchor="quarantine" />
                      </div>
                    ))}
                  </td>
                  <td data-label="Reprocessed">{q.reprocessedAt ? utc(q.reprocessedAt) : "not yet"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
