/** @jsxImportSource hono/jsx */
import type { DayCount } from "../tallies.ts";
import { num } from "./format.ts";

const W = 800;
const H = 220;
const LEFT = 44;
const BOTTOM = 22;
const TOP = 8;

const shortDay = (ms: number) =>
  new Date(ms).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

/** A round top for the axis whose half is round too: 1, 2, 4, 6, 8 or 10 × a power of ten. */
function niceMax(n: number): number {
  if (n <= 4) return 4;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 4, 6, 8, 10].map((m) => m * p).find((v) => v >= n && (v / 2) % 1 === 0) ?? n;
}

/**
 * Suppressions added and lifted per day, as server-rendered SVG (no script, no library). Screen
 * readers get a summary as the image's name and the same figures as a table just below it.
 */
export function DailyChart(props: { days: DayCount[] }) {
  const { days } = props;
  const top = niceMax(Math.max(0, ...days.map((d) => Math.max(d.added, d.lifted))));
  const plotW = W - LEFT - 4;
  const plotH = H - TOP - BOTTOM;
  const slot = plotW / Math.max(1, days.length);
  const bar = Math.max(1, slot / 2 - 1.5);
  const y = (v: number) => TOP + plotH - (v / top) * plotH;
  const totalAdded = days.reduce((s, d) => s + d.added, 0);
  const totalLifted = days.reduce((s, d) => s + d.lifted, 0);
  const label = `Suppressions per day over ${days.length} days: ${num(totalAdded)} added, ${num(totalLifted)} lifted; the busiest day had ${num(Math.max(0, ...days.map((d) => d.added)))} added.`;
  return (
    <figure>
      <div class="chart">
        <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-labelledby="chart-title">
          <title id="chart-title">{label}</title>
          {[0, top / 2, top].map((v) => (
            <g>
              <line class="grid" x1={LEFT} x2={W - 4} y1={y(v)} y2={y(v)} />
              <text x={LEFT - 6} y={y(v) + 4} text-anchor="end">
                {num(v)}
              </text>
            </g>
          ))}
          {days.map((d, i) => {
            const x = LEFT + i * slot + 1;
            return (
              <g>
                <rect class="added" x={x} y={y(d.added)} width={bar} height={(d.added / top) * plotH} />
                <rect
                  class="lifted"
                  x={x + bar + 1}
                  y={y(d.lifted)}
                  width={bar}
                  height={(d.lifted / top) * plotH}
                />
                {(days.length - 1 - i) % 7 === 0 ? (
                  <text x={x + bar} y={H - 6} text-anchor={i === days.length - 1 ? "end" : "middle"}>
                    {shortDay(d.day)}
                  </text>
                ) : null}
              </g>
            );
          })}
        </svg>
      </div>
      <figcaption class="legend">
        <span>
          <span class="key added" aria-hidden="true" />
          added ({num(totalAdded)})
        </span>
        <span>
          <span class="key lifted" aria-hidden="true" />
          lifted ({num(totalLifted)})
        </span>
      </figcaption>
      <details>
        <summary>The figures per day</summary>
        <div class="scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Day (UTC)</th>
                <th scope="col" class="n">
                  Added
                </th>
                <th scope="col" class="n">
                  Lifted
                </th>
              </tr>
            </thead>
            <tbody>
              {days.map((d) => (
                <tr>
                  <td>{new Date(d.day).toISOString().slice(0, 10)}</td>
                  <td class="n">{num(d.added)}</td>
                  <td class="n">{num(d.lifted)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
