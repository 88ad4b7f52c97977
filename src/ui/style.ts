import { createHash } from "node:crypto";

/**
 * The page's only stylesheet, inline so nothing is loaded from anywhere. Colours meet WCAG AA
 * contrast (4.5:1 for text) on their backgrounds in both schemes; focus is always visible.
 */
export const CSS = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1a1a1a;--muted:#555;--line:#d0d0d0;--card:#f5f5f5;
--warn-bg:#fff4e5;--warn-fg:#7a3d00;--bad:#a50e0e;--ok:#0a6b2c;--link:#0b57d0;--added:#c2410c;--lifted:#1d4ed8}
@media (prefers-color-scheme:dark){:root{--bg:#121212;--fg:#ececec;--muted:#b0b0b0;--line:#444;--card:#1e1e1e;
--warn-bg:#3a2600;--warn-fg:#ffd8a8;--bad:#ff8a80;--ok:#7ee2a0;--link:#8ab4f8;--added:#fb923c;--lifted:#93c5fd}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--line)}
header h1{font-size:1.15rem;margin:0}
nav ul{display:flex;flex-wrap:wrap;gap:.25rem .9rem;list-style:none;margin:0;padding:0}
header form{margin-left:auto}
main{max-width:72rem;margin:0 auto;padding:0 1rem 3rem}
section{margin-top:2rem}
h2{font-size:1.3rem;border-bottom:2px solid var(--line);padding-bottom:.25rem}
h3{font-size:1.05rem;margin:1.25rem 0 .5rem}
a{color:var(--link)}
a:focus-visible,button:focus-visible,input:focus-visible,summary:focus-visible{outline:3px solid var(--link);outline-offset:2px}
.muted{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:.75rem;margin:0}
.cards div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem}
.cards dt{font-size:.85rem;color:var(--muted)}
.cards dd{margin:0;font-size:1.35rem;font-weight:600;overflow-wrap:anywhere}
.cards dd small{display:block;font-size:.85rem;font-weight:400;color:var(--muted)}
.warn{background:var(--warn-bg);color:var(--warn-fg);border-left:4px solid var(--warn-fg);padding:.6rem .8rem;border-radius:4px}
.bad{color:var(--bad);font-weight:600}
.ok{color:var(--ok);font-weight:600}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.9em;overflow-wrap:anywhere}
.scroll{margin-top:1.25rem}
table code{overflow-wrap:normal;white-space:nowrap}
@media (max-width:40rem){
table{font-size:.85rem}th,td{padding:.3rem .25rem}
table.stack thead{position:absolute;left:-9999px}
table.stack tr{display:block;border-bottom:2px solid var(--line);padding:.4rem 0}
table.stack th,table.stack td{display:flex;gap:1rem;justify-content:space-between;border:0;padding:.15rem 0;text-align:right}
table.stack [data-label]::before{content:attr(data-label);font-weight:600;color:var(--muted);text-align:left;white-space:nowrap}
table.stack code{white-space:normal;overflow-wrap:anywhere}
table code{white-space:normal}
}
form.inline{display:inline}
label{display:block;font-weight:600;margin-bottom:.25rem}
input{font:inherit;padding:.45rem .6rem;border:1px solid var(--muted);border-radius:4px;background:var(--bg);color:var(--fg);width:100%;max-width:28rem}
button{font:inherit;padding:.45rem 1rem;border:1px solid var(--link);border-radius:4px;background:var(--link);color:var(--bg);cursor:pointer;margin-top:.5rem}
button.plain{background:transparent;color:var(--link);margin:0}
.login{max-width:28rem;margin:4rem auto;padding:0 1rem}
figure{margin:0}
.chart{overflow-x:auto}
.chart svg{width:100%;min-width:36rem;height:auto}
svg text{fill:var(--muted);font-size:11px}
.legend{display:flex;gap:1rem;font-size:.9rem}
.key{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
.key.added{background:var(--added)}.key.lifted{background:var(--lifted)}
rect.added{fill:var(--added)}rect.lifted{fill:var(--lifted)}line.grid{stroke:var(--line)}
`;

/** The Content-Security-Policy: nothing from other hosts, no script at all, only this stylesheet. */
export const CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash("sha256").update(CSS).digest("base64")}'`,
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");
