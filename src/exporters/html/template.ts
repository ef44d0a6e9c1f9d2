/**
 * Assembles the report document: static markup, the stylesheet, the packed data and the page script, all inline.
 *
 * The page script is the source text of the functions in ./client (each self-contained, type-checked like the rest
 * of the package), so it works the same from src under vitest and from the tsup bundle, with no build step of its
 * own. Charts are drawn by that script on canvas rather than by a bundled chart library: the views need custom
 * drawing anyway (level of detail over a million spans, roofline ceilings), and it keeps the file small and free of
 * third-party code.
 *
 * Safety: trace names reach the page only as JSON inside <script type="application/json"> with <, > and & escaped,
 * and the script puts them in the DOM as text. A Content-Security-Policy allows exactly this script (by hash), inline
 * styles and nothing else: no network requests, and no inline event handlers even if markup were ever injected.
 */
import { createHash } from 'node:crypto';
import { AtomicFile, ioReason } from '../../core/io/atomic-file';
import { clientMain } from './client/main';
import { makeUtil } from './client/util';
import { buildModel } from './client/model';
import { installTimeline } from './client/timeline/install';
import { timelineLayout } from './client/timeline/layout';
import { timelineView } from './client/timeline/view';
import { timelineAxis } from './client/timeline/axis';
import { timelineSpans } from './client/timeline/spans';
import { timelineTracks } from './client/timeline/tracks';
import { timelineDetails } from './client/timeline/details';
import { timelineSelection } from './client/timeline/selection';
import { timelineInput } from './client/timeline/input';
import { installRoofline } from './client/roofline';
import { installDonut } from './client/donut';
import { installTable } from './client/table';
import { installSummary } from './client/summary';
import { installGeneration } from './client/generation';
import { STYLES } from './styles';
import type { PackedTrace } from './pack';

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in HTML element content and in quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => HTML_ENTITIES[ch]);
}

/** JSON that cannot end its <script> element or open a comment there. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

let clientSource: string | null = null;

type PagePart = (...args: never[]) => unknown;

/**
 * A page script: `main` called with the dashboard's client functions and `extra` ones, from their source text
 * (the live view's page is its own main over the same parts).
 */
export function composeScript(main: PagePart, extra: Record<string, PagePart> = {}): string {
  const parts: Record<string, PagePart> = {
    makeUtil, buildModel, installSummary, installGeneration, installTimeline, installRoofline, installDonut, installTable,
    timelineLayout, timelineView, timelineAxis, timelineSpans, timelineTracks, timelineDetails, timelineSelection, timelineInput,
    ...extra,
  };
  const entries = Object.entries(parts).map(([k, f]) => `${k}: ${f.toString()}`).join(',\n');
  const src = `"use strict";\n(${main.toString()})({\n${entries}\n});`;
  if (/<\/script|<!--/i.test(src)) throw new Error('mlx-trace: the report script contains a sequence that would break its <script> element');
  return src;
}

/** The page script: clientMain called with the other client functions. Built once per process. */
export function pageScript(): string {
  return (clientSource ??= composeScript(clientMain));
}

/** The dashboard's Content-Security-Policy for a page whose one script has this hash; `connect` allows requests to the page's own origin. */
export function contentSecurityPolicy(script: string, connect = false): string {
  const hash = createHash('sha256').update(script, 'utf8').digest('base64');
  return `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; img-src data:;${connect ? " connect-src 'self';" : ''} base-uri 'none'; form-action 'none'`;
}

/** The views' markup (summary, timeline, roofline, categories, ops), which the client functions fill. */
export const VIEWS_MARKUP = `<main>
<section id="summary" aria-labelledby="h-summary">
<h2 id="h-summary">Summary</h2>
<div class="cards"></div>
<div class="gen" hidden>
<h3>Generation</h3>
<div class="cards"></div>
<div class="gen-chart"><div class="canvas-wrap"><canvas tabindex="0" role="application" aria-roledescription="bar chart" aria-label="Latency of each decoded token. Arrow keys move between tokens, Enter finds the token in the timeline."></canvas></div></div>
<p class="gen-note hint"></p>
</div>
<div class="summary-cols">
<div class="top-ops"><h3>Top ops</h3><ol></ol></div>
<div class="findings"><h3>Findings</h3><ul></ul></div>
</div>
<dl class="facts"></dl>
</section>
<section id="timeline" aria-labelledby="h-timeline">
<h2 id="h-timeline">Timeline</h2>
<p class="hint">Wheel or +/− to zoom, drag or ←/→ to pan, 0 to reset. Click a span to select its op (N jumps to its next call); double-click to zoom to it.</p>
<div class="canvas-wrap"><canvas tabindex="0" role="application" aria-roledescription="timeline" aria-label="Timeline of spans, a lane per device and thread. Plus and minus zoom, arrow keys pan, 0 resets, N jumps to the next selected span." aria-describedby="tl-range"></canvas></div>
<p class="tl-range muted" id="tl-range"></p>
<div class="tl-details" aria-live="polite"><span class="muted">Click a span to see its details here.</span></div>
</section>
<div class="pair">
<section id="roofline" aria-labelledby="h-roofline">
<h2 id="h-roofline">Roofline</h2>
<p class="hint">One point per op and shapes; area = time. Hover for numbers, click to select. Keyboard: arrows move between points, Enter selects.</p>
<div class="canvas-wrap"><canvas tabindex="0" role="application" aria-roledescription="roofline chart" aria-label="Roofline: achieved FLOP per second against arithmetic intensity, log scales. Arrow keys move between points, Enter selects the op."></canvas></div>
<div class="rf-note"></div>
</section>
<section id="categories" aria-labelledby="h-categories">
<h2 id="h-categories">Time by category</h2>
<div class="donut"><div class="canvas-wrap"><canvas role="img" aria-label="Donut chart of op time by category; the legend lists the same numbers."></canvas></div>
<ul class="legend" aria-label="Categories (click to filter the op table)"></ul></div>
</section>
</div>
<section id="ops" aria-labelledby="h-ops">
<h2 id="h-ops">Ops</h2>
<div class="toolbar">
<label>Search <input id="ops-search" type="search" placeholder="name, or /regex/" autocomplete="off" spellcheck="false" aria-describedby="ops-status"></label>
<label>Group by <select id="ops-group"><option value="op">Op</option><option value="shapes">Op + shapes</option><option value="layer">Layer</option><option value="device">Device</option></select></label>
<label>Category <select id="ops-cat"><option value="">All</option></select></label>
</div>
<p id="ops-status" class="muted" aria-live="polite"></p>
<div class="table-wrap"><table id="ops-table" aria-labelledby="h-ops"><thead></thead><tbody></tbody><tfoot></tfoot></table></div>
</section>
</main>
`;

/**
 * A page's document up to <body>: the policy that allows exactly `script` (and, with `connect`, requests to the
 * page's own origin), the title, and the dashboard's styles followed by `styles`.
 */
export function documentHead(o: { title: string; script: string; version: string; connect?: boolean; styles?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(o.script, o.connect)}">
<meta name="generator" content="mlx-trace${o.version ? ` ${escapeHtml(o.version)}` : ''}">
<title>${escapeHtml(o.title)}</title>
<link rel="icon" href="data:,">
<style>${STYLES}${o.styles ?? ''}</style>
</head>`;
}

export interface DocumentOptions {
  title?: string;
}

/**
 * The document in order: markup as strings, each column as its raw bytes (to be written as base64 by the consumer,
 * so a file can be written without building 20+ MB strings).
 */
export function* renderDocumentParts(packed: PackedTrace, options: DocumentOptions = {}): Generator<string | ArrayBufferView> {
  const { head } = packed;
  const script = pageScript();
  const title = escapeHtml(options.title ?? head.name);
  const created = head.meta.createdAt ? ` · recorded ${escapeHtml(head.meta.createdAt)}` : '';
  const version = escapeHtml(head.meta.versions.mlxTrace ?? '');
  yield `${documentHead({ title: `${options.title ?? head.name} · mlx-trace`, script, version: head.meta.versions.mlxTrace ?? '' })}
<body>
<a class="skip" href="#ops">Skip to the op table</a>
<header class="top">
<div><h1>${title}</h1><p class="sub">mlx-trace profile${created}</p></div>
<nav aria-label="Views"><a href="#summary">Summary</a><a href="#timeline">Timeline</a><a href="#roofline">Roofline</a><a href="#categories">Categories</a><a href="#ops">Ops</a></nav>
</header>
<div id="errors" role="alert" hidden></div>
<noscript><p style="padding:0 16px">This report draws its views with JavaScript; please allow scripts for this file.</p></noscript>
${VIEWS_MARKUP}<footer>Made by mlx-trace${version ? ` ${version}` : ''}. This file is self-contained: it makes no network requests.</footer>
<script type="application/json" id="mlx-trace-head">${scriptJson(head)}</script>
`;
  for (const c of packed.columns) {
    yield `<script type="application/octet-stream" id="mlx-col-${c.desc.id}">`;
    yield c.data;
    yield '</script>\n';
  }
  yield `<script>${script}</script>\n</body>\n</html>\n`;
}

const asBuffer = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

export function renderDocument(packed: PackedTrace, options: DocumentOptions = {}): string {
  const out: string[] = [];
  for (const part of renderDocumentParts(packed, options)) out.push(typeof part === 'string' ? part : asBuffer(part).toString('base64'));
  return out.join('');
}

/**
 * Writes the document to a file in a few large writes. Columns are base64-encoded 48 KiB at a time into one Buffer
 * per column: the small strings die young, so a million-span export does not fill the old generation with 20 MB of
 * text (which costs a full garbage collection of the caller's heap, trace included).
 */
export async function writeDocument(path: string, packed: PackedTrace, options: DocumentOptions = {}): Promise<void> {
  let fh: AtomicFile;
  try {
    fh = new AtomicFile(path);
  } catch (e) {
    throw new Error(`cannot write the HTML report to ${path}: ${ioReason(e)}`);
  }
  try {
    let text: string[] = [];
    const flushText = async () => {
      if (text.length) await fh.writeAsync(Buffer.from(text.join(''), 'utf8'));
      text = [];
    };
    for (const part of renderDocumentParts(packed, options)) {
      if (typeof part === 'string') { text.push(part); continue; }
      await flushText();
      const raw = asBuffer(part);
      const encoded = Buffer.allocUnsafe(Math.ceil(raw.length / 3) * 4);
      const step = 3 * 16 * 1024;
      let at = 0;
      for (let off = 0; off < raw.length; off += step) at += encoded.write(raw.subarray(off, off + step).toString('base64'), at, 'latin1');
      await fh.writeAsync(encoded.subarray(0, at));
    }
    await flushText();
    fh.commit();
  } catch (e) {
    fh.abandon();
    throw (e as NodeJS.ErrnoException)?.code ? new Error(`cannot write the HTML report to ${path}: ${ioReason(e)}`) : e;
  }
}
