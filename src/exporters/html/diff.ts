/**
 * The HTML diff view of a Comparison: one self-contained page (inline style and script, no requests) with the
 * totals, a verdict, and a sortable, filterable table of rows with their deltas, regressions in red and
 * improvements in green. Light and dark (prefers-color-scheme).
 *
 * Safety: every name from a trace goes through escapeHtml before it reaches the page; the script reads only
 * data-v attributes and text, never turning text into markup; and a Content-Security-Policy lets only the one
 * inline script (by its hash) run and nothing be fetched.
 */
import { createHash } from 'node:crypto';
import {
  regressions,
  rowVerdict,
  totalVerdict,
  type CompareRow,
  type CompareTotal,
  type Comparison,
  type RowVerdict,
  DEFAULT_MIN_SHARE,
  DEFAULT_REGRESSION_THRESHOLD,
} from '../../core/analysis/compare';
import { formatBytes, formatCount, formatDuration, formatPercent, formatSI } from '../terminal/format';
import { NO_LAYER } from '../../core/model/span-facts';
import { escapeHtml } from './template';

export interface DiffHtmlOptions {
  /** @default 0.05 */
  threshold?: number;
  /** @default 0.01 */
  minShare?: number;
  /** Names for the two sides (file names). @default the trace names */
  labelA?: string;
  labelB?: string;
  /** Rows written to the page, largest changes first; the rest are counted. @default 5000 */
  maxRows?: number;
}


const signed = (n: number, f: (n: number) => string) => (n > 0 ? '+' + f(n) : f(n));
const sDur = (ns: number) => (ns === 0 ? '0' : signed(ns, formatDuration));
const sPct = (x: number) => (Number.isFinite(x) ? signed(x, formatPercent) : '–');
const sBytes = (n: number) => (n === 0 ? '0' : signed(n, formatBytes));
const num = (n: number | null | undefined) => (n == null || !Number.isFinite(n) ? '' : String(n));

const VERDICT_LABEL: Record<RowVerdict, string> = {
  regressed: 'slower',
  improved: 'faster',
  unchanged: '',
  small: '',
  added: 'only in B',
  removed: 'only in A',
};

/** A table cell with its sort value (numbers sort numerically; empty sorts last). */
function td(text: string, sortValue: string, cls = ''): string {
  return `<td${cls ? ` class="${cls}"` : ''} data-v="${escapeHtml(sortValue)}">${escapeHtml(text)}</td>`;
}

function rowHtml(r: CompareRow, v: RowVerdict): string {
  const a = r.a;
  const b = r.b;
  const calls = a && b && a.calls !== b.calls ? `${fmtCalls(a.calls)} → ${fmtCalls(b.calls)}` : fmtCalls((b ?? a)!.calls);
  return (
    `<tr class="v-${v}">` +
    `<td class="name" data-v="${escapeHtml(r.label)}">` +
    (r.layer && !(r.layer === NO_LAYER && r.op) ? `<span class="layer">${escapeHtml(r.layer)}</span> ` : '') +
    (r.op ? `<span class="op">${escapeHtml(r.op)}</span> ` : '') +
    (r.shapes ? `<span class="shapes">${escapeHtml(r.shapes)}</span>` : '') +
    `</td>` +
    td(a ? formatDuration(a.timeNs) : '–', num(a?.timeNs)) +
    td(b ? formatDuration(b.timeNs) : '–', num(b?.timeNs)) +
    td(sDur(r.deltaNs), num(r.deltaNs), 'delta') +
    td(sPct(r.deltaFraction), num(r.deltaFraction), 'delta') +
    td(r.noiseNs > 0 ? '± ' + formatDuration(r.noiseNs) : '–', num(r.noiseNs)) +
    td(Number.isFinite(r.deltaPerCallNs) ? sDur(r.deltaPerCallNs) : '–', num(r.deltaPerCallNs)) +
    td(calls, num((b ?? a)!.calls)) +
    td(r.deltaFlops === 0 ? '0' : signed(r.deltaFlops, (n) => formatSI(n, 'FLOP')), num(r.deltaFlops)) +
    td(sBytes(r.deltaMemoryBytes), num(r.deltaMemoryBytes)) +
    td(formatPercent(r.share), num(r.share)) +
    td(VERDICT_LABEL[v], v, 'verdict') +
    `</tr>`
  );
}

function fmtCalls(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : n.toFixed(1);
}

function totalRow(name: string, t: CompareTotal, f: (n: number) => string, gated: boolean, opts: { threshold: number }): string {
  const v = gated ? totalVerdict(t, opts) : 'unchanged';
  return (
    `<tr class="v-${v}"><th scope="row">${escapeHtml(name)}</th>` +
    `<td>${escapeHtml(f(t.a))}</td><td>${escapeHtml(f(t.b))}</td>` +
    `<td class="delta">${escapeHtml(t.delta === 0 ? '0' : signed(t.delta, f))}</td>` +
    `<td class="delta">${escapeHtml(sPct(t.fraction))}</td>` +
    `<td>${t.noise > 0 ? '± ' + escapeHtml(f(t.noise)) : '–'}</td>` +
    `<td class="verdict">${escapeHtml(v === 'unchanged' ? '' : VERDICT_LABEL[v])}</td></tr>`
  );
}

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1d2125;--muted:#65707b;--line:#dde1e5;--head:#f4f6f8;--bad:#c62828;--bad-bg:#fdecea;--good:#1b7f3b;--good-bg:#e8f5ec;--add:#8a6d00;--rem:#1f6fb2}
@media (prefers-color-scheme:dark){:root{--bg:#16191d;--fg:#e3e6e9;--muted:#98a2ad;--line:#2e343a;--head:#1f2429;--bad:#ff6b6b;--bad-bg:#3a1f21;--good:#5fd18b;--good-bg:#1b3326;--add:#e0c050;--rem:#6cb4f0}}
*{box-sizing:border-box}body{margin:0;padding:16px 20px;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,-apple-system,Segoe UI,sans-serif}
h1{font-size:18px;margin:0 0 4px}.sub{color:var(--muted);margin:0 0 12px}
.verdict-line{padding:8px 12px;border-radius:6px;margin:12px 0;font-weight:600}
.verdict-line.bad{background:var(--bad-bg);color:var(--bad)}.verdict-line.good{background:var(--good-bg);color:var(--good)}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{background:var(--head);position:sticky;top:0}
td.name,th.name,table.totals th{text-align:left}
td.name{white-space:normal;max-width:48vw;word-break:break-all}
.layer{color:var(--muted)}.op{font-weight:600}.shapes{color:var(--muted);font-size:12px}
#rows th{cursor:pointer;user-select:none}#rows th[aria-sort=ascending]::after{content:" ▲"}#rows th[aria-sort=descending]::after{content:" ▼"}
tr.v-regressed .delta,tr.v-regressed .verdict{color:var(--bad);font-weight:600}
tr.v-improved .delta,tr.v-improved .verdict{color:var(--good);font-weight:600}
tr.v-added .verdict{color:var(--add)}tr.v-removed .verdict{color:var(--rem)}tr.v-small{color:var(--muted)}
.controls{margin:16px 0 8px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
input[type=search]{padding:4px 8px;min-width:240px;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
.note{color:var(--muted);font-size:12px;margin-top:8px}
.scroll{overflow-x:auto}
`;

// Sorting reads data-v (numbers when they parse, else text); filtering hides rows by their name's text.
const SCRIPT = `
(function(){
var table=document.getElementById('rows');if(!table)return;
var body=table.tBodies[0],heads=table.tHead.rows[0].cells,filter=document.getElementById('filter'),changed=document.getElementById('changed');
function val(tr,i){var v=tr.cells[i].getAttribute('data-v');if(v===''||v===null)return null;var n=Number(v);return isNaN(n)?v.toLowerCase():n;}
function sortBy(i){
  // Numbers start largest first, text A to Z; a second click reverses.
  var h=heads[i],cur=h.getAttribute('aria-sort'),dir=cur?(cur==='descending'?1:-1):(h.hasAttribute('data-text')?1:-1);
  for(var k=0;k<heads.length;k++)heads[k].removeAttribute('aria-sort');
  h.setAttribute('aria-sort',dir<0?'descending':'ascending');
  var rows=Array.prototype.slice.call(body.rows);
  rows.sort(function(a,b){var x=val(a,i),y=val(b,i);if(x===null)return y===null?0:1;if(y===null)return -1;
    if(typeof x==='number'&&typeof y==='number')return (x-y)*dir;return String(x)<String(y)?-dir:String(x)>String(y)?dir:0;});
  for(var r=0;r<rows.length;r++)body.appendChild(rows[r]);
}
for(var i=0;i<heads.length;i++)(function(i){heads[i].addEventListener('click',function(){sortBy(i);});})(i);
function apply(){var q=filter.value.toLowerCase(),only=changed.checked;
  for(var r=0;r<body.rows.length;r++){var tr=body.rows[r],name=tr.cells[0].textContent.toLowerCase();
    var c=/v-(regressed|improved|added|removed)/.test(tr.className);tr.hidden=(q&&name.indexOf(q)<0)||(only&&!c);}}
filter.addEventListener('input',apply);changed.addEventListener('change',apply);
})();
`;

const SCRIPT_HASH = 'sha256-' + createHash('sha256').update(SCRIPT).digest('base64');

/** The diff view as one HTML document (a string). */
export function renderDiffHtml(cmp: Comparison, opts: DiffHtmlOptions = {}): string {
  const threshold = opts.threshold ?? DEFAULT_REGRESSION_THRESHOLD;
  const minShare = opts.minShare ?? DEFAULT_MIN_SHARE;
  const maxRows = Math.max(0, Math.floor(opts.maxRows ?? 5000));
  const labelA = opts.labelA ?? cmp.a.name;
  const labelB = opts.labelB ?? cmp.b.name;
  const regs = regressions(cmp, { threshold, minShare });
  const rule = `more than ${formatPercent(threshold)} beyond noise; rows under ${formatPercent(minShare)} of time ignored`;

  const side = (s: Comparison['a']) => `${s.passes} ${s.passes === 1 ? 'pass' : 'passes'}${s.warmup ? ` (+${s.warmup} warm-up left out)` : ''}`;
  const t = cmp.totals;
  const totals = [
    totalRow('primitive time', t.primitiveNs, formatDuration, true, { threshold }),
    totalRow('eval time', t.evalNs, formatDuration, true, { threshold }),
    t.passNs ? totalRow('pass time', t.passNs, formatDuration, false, { threshold }) : '',
    totalRow('peak memory', t.peakMemoryBytes, formatBytes, false, { threshold }),
    totalRow('FLOPs', t.flops, (n) => formatSI(n, 'FLOP'), false, { threshold }),
    totalRow('bytes moved', t.bytes, formatBytes, false, { threshold }),
  ].join('');

  const shown = cmp.rows.slice(0, maxRows);
  const body = shown.map((r) => rowHtml(r, rowVerdict(r, { threshold, minShare }))).join('\n');
  const nameTitle = cmp.groupBy === 'detail' ? 'layer · op · shapes' : cmp.groupBy;
  const verdictLine = regs.length
    ? `<div class="verdict-line bad">Regressed (${escapeHtml(rule)}): ${regs
        .map((r) => `${escapeHtml(r.name)} ${escapeHtml(sPct(r.fraction))}`)
        .join('; ')}</div>`
    : `<div class="verdict-line good">No regression (${escapeHtml(rule)}).</div>`;
  const matched = cmp.rows.length - cmp.onlyA.length - cmp.onlyB.length;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src '${SCRIPT_HASH}'">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>mlx-trace diff: ${escapeHtml(labelA)} → ${escapeHtml(labelB)}</title>
<style>${STYLE}</style></head>
<body>
<h1>mlx-trace diff: ${escapeHtml(labelA)} → ${escapeHtml(labelB)}</h1>
<p class="sub">A = ${escapeHtml(labelA)}: ${escapeHtml(side(cmp.a))} · B = ${escapeHtml(labelB)}: ${escapeHtml(side(cmp.b))} · times are per pass; noise is ${cmp.noiseSigmas} standard errors of the difference</p>
${verdictLine}
<div class="scroll"><table class="totals"><thead><tr><th></th><th>A</th><th>B</th><th>Δ</th><th>Δ%</th><th>noise</th><th></th></tr></thead><tbody>${totals}</tbody></table></div>
<div class="controls"><input type="search" id="filter" placeholder="Filter rows by name" aria-label="Filter rows by name">
<label><input type="checkbox" id="changed"> only changes</label>
<span class="note">${formatCount(matched)} ${matched === 1 ? 'row' : 'rows'} matched · ${formatCount(cmp.onlyA.length)} only in A · ${formatCount(cmp.onlyB.length)} only in B · click a column to sort</span></div>
<div class="scroll"><table id="rows"><thead><tr><th class="name" data-text>${escapeHtml(nameTitle)}</th><th>A/pass</th><th>B/pass</th><th>Δ</th><th>Δ%</th><th>noise</th><th>Δ/call</th><th>calls</th><th>Δ FLOPs</th><th>Δ memory</th><th>share</th><th data-text>verdict</th></tr></thead>
<tbody>
${body}
</tbody></table></div>
${cmp.rows.length > shown.length ? `<p class="note">${formatCount(cmp.rows.length - shown.length)} smaller rows not shown.</p>` : ''}
<script>${SCRIPT}</script>
</body></html>
`;
}
