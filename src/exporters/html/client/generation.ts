/**
 * Generation speed (trace.meta.generation from profileGeneration): time to first token, prefill and decode tokens/s,
 * per-token latency p50/p95 as cards, and a bar per decoded token from its 'token N' span. A bar is selectable
 * (click, or arrow keys + Enter): its span is highlighted in the timeline. Hidden for traces without generation stats.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App, Selection } from './types';

export function installGeneration(app: App): void {
  const { util, model: m, head } = app;
  const gen = head.generation;
  const root = document.querySelector('#summary .gen') as HTMLElement | null;
  if (!gen || !root) return;
  root.hidden = false;
  const el = util.el;
  const cards = root.querySelector('.cards') as HTMLElement;
  const canvas = root.querySelector('canvas') as HTMLCanvasElement;
  const note = root.querySelector('.gen-note') as HTMLElement;

  const ms = (v: number | null) => (v == null ? '–' : util.fmtNs(v * 1e6));
  const rate = (v: number | null) => (v == null ? '–' : v >= 100 ? util.fmtCount(v) : v.toFixed(1));
  const count = (v: number | null, what: string) => (v == null ? '' : `${util.fmtCount(v)} ${what}${v === 1 ? '' : 's'}`);
  const lat = gen.tokenLatencyMs;
  const decoded = gen.generatedTokens != null ? Math.max(0, gen.generatedTokens - 1) : gen.tokens.length;
  const card = (label: string, value: string, noteText: string) =>
    el('div', { class: 'card' }, el('div', { class: 'card-label' }, label), el('div', { class: 'card-value' }, value), el('div', { class: 'card-note' }, noteText));
  cards.replaceChildren(
    card('Time to first token', ms(gen.timeToFirstTokenMs), gen.promptTokens != null ? `prefill of a ${util.fmtCount(gen.promptTokens)}-token prompt` : 'prefill'),
    card('Prefill tokens/s', rate(gen.prefillTokensPerSec), count(gen.promptTokens, 'prompt token')),
    card('Decode tokens/s', rate(gen.decodeTokensPerSec), `${count(decoded, 'token')} after the first`),
    card('Token latency p50', ms(lat.p50), lat.mean != null ? `mean ${ms(lat.mean)}` : 'per decoded token'),
    card('Token latency p95', ms(lat.p95), lat.min != null && lat.max != null ? `min ${ms(lat.min)} · max ${ms(lat.max)}` : 'per decoded token'),
  );

  const spans = gen.tokenSpans;
  const N = spans.length;
  canvas.dataset.tokens = String(N);
  const chart = canvas.closest('.gen-chart') as HTMLElement;
  if (N === 0) {
    chart.hidden = true;
    note.textContent = 'This trace has no per-token spans, so there is no latency chart.';
    return;
  }
  note.textContent = `One bar per decoded token (its 'token N' span), in order; lines at the p50 and p95 latency. ${gen.prefill >= 0 ? `Prefill (${util.fmtNs(m.dur[gen.prefill])}) is not drawn. ` : ''}Click a bar to find the token in the timeline.`;

  let maxDur = 0;
  for (const i of spans) if (m.dur[i] > maxDur) maxDur = m.dur[i];
  for (const v of [lat.p95, lat.max]) if (v != null && v * 1e6 > maxDur && v * 1e6 < maxDur * 3) maxDur = v * 1e6;
  const top = maxDur > 0 ? maxDur * 1.12 : 1;
  const H = 150, ML = 52, MT = 10, MB = 24;
  // The right margin holds the percentile labels, so they never cover a bar; set at each draw from their width.
  let MR = 12;
  const percentiles = ([['p50', lat.p50], ['p95', lat.p95]] as [string, number | null][])
    .filter((p): p is [string, number] => p[1] != null && p[1] * 1e6 <= top)
    .map(([label, v]) => ({ text: `${label} ${ms(v)}`, ns: v * 1e6 }));
  let W = 300;
  let focus = -1;
  let sel: Selection | null = null;
  /** The percentile labels' boxes as last drawn. */
  let labelBoxes: { text: string; x: number; y: number; w: number; h: number }[] = [];
  const LABEL_H = 12;
  const xOf = (k: number) => ML + (k / N) * (W - ML - MR);
  const yOf = (ns: number) => MT + (1 - ns / top) * (H - MT - MB);

  function draw() {
    const fit = util.fitCanvas(canvas, H);
    const ctx = fit.ctx;
    W = fit.w;
    const th = app.colors();
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, W, H);
    ctx.font = '10px system-ui, sans-serif';
    MR = 12;
    for (const p of percentiles) MR = Math.max(MR, ctx.measureText(p.text).width + 10);
    // y axis: three gridlines.
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let g = 0; g <= 3; g++) {
      const v = (top / 1.12) * (g / 3);
      const y = Math.round(yOf(v)) + 0.5;
      ctx.fillStyle = th.grid;
      ctx.fillRect(ML, y, W - ML - MR, 1);
      ctx.fillStyle = th.muted;
      ctx.fillText(g === 0 ? '0' : util.fmtNs(v), ML - 5, y);
    }
    const bw = (W - ML - MR) / N;
    const gap = bw > 4 ? Math.min(2, bw * 0.2) : 0;
    for (let k = 0; k < N; k++) {
      const i = spans[k];
      const y = yOf(m.dur[i]);
      const on = sel ? app.isSelected(sel, i) : false;
      ctx.fillStyle = on || k === focus ? th.sel : th.token;
      ctx.globalAlpha = sel && !on && k !== focus ? 0.45 : 1;
      ctx.fillRect(xOf(k) + gap / 2, y, Math.max(1, bw - gap), H - MB - y);
    }
    ctx.globalAlpha = 1;
    // Percentile lines from the generation stats, labelled in the right margin; labels closer than a line height are
    // pushed apart (p95 up), the lines stay where their values are.
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    labelBoxes = [];
    let above = Infinity;
    for (const p of percentiles) {
      const y = Math.round(yOf(p.ns)) + 0.5;
      ctx.strokeStyle = th.fg;
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(ML, y);
      ctx.lineTo(W - MR + 2, y);
      ctx.stroke();
      ctx.setLineDash([]);
      const ly = Math.max(MT, Math.min(y, above - LABEL_H));
      above = ly;
      ctx.fillStyle = th.fg;
      ctx.fillText(p.text, W - MR + 6, ly);
      labelBoxes.push({ text: p.text, x: W - MR + 6, y: ly - LABEL_H / 2, w: ctx.measureText(p.text).width, h: LABEL_H });
    }
    // x axis: token numbers at a readable spacing.
    ctx.fillStyle = th.grid;
    ctx.fillRect(ML, H - MB, W - ML - MR, 1);
    ctx.fillStyle = th.muted;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const every = Math.max(1, Math.ceil(N / Math.max(1, Math.floor((W - ML - MR) / 44))));
    for (let k = 0; k < N; k += every) ctx.fillText(String(gen!.tokens[k]), xOf(k) + bw / 2, H - MB + 4);
    ctx.textAlign = 'left';
    ctx.fillText('token', 4, H - MB + 4);
  }

  const barAt = (x: number) => {
    const k = Math.floor(((x - ML) / (W - ML - MR)) * N);
    return k >= 0 && k < N ? k : -1;
  };
  const describe = (k: number): [string, string][] => {
    const i = spans[k];
    return [['Latency', util.fmtNs(m.dur[i])], ['Start', `+${util.fmtNs(m.start[i] - head.t0)}`]];
  };
  const pick = (k: number) => {
    const i = spans[k];
    app.select({ by: 'op', key: m.sigName[m.sig[i]], label: `token ${gen.tokens[k]}`, source: 'generation', spans: Int32Array.of(i) });
  };
  const tipAt = (k: number, x: number, y: number) => util.showTip(describe(k), `token ${gen.tokens[k]}`, x, y);

  canvas.addEventListener('pointermove', (e) => {
    const r = canvas.getBoundingClientRect();
    const k = barAt(e.clientX - r.left);
    canvas.style.cursor = k >= 0 ? 'pointer' : 'default';
    if (k >= 0) tipAt(k, e.clientX, e.clientY); else util.hideTip();
  });
  canvas.addEventListener('pointerleave', () => util.hideTip());
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    const k = barAt(e.clientX - r.left);
    if (k >= 0) pick(k);
  });
  canvas.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') focus = (focus + 1) % N;
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') focus = (focus - 1 + N) % N;
    else if ((e.key === 'Enter' || e.key === ' ') && focus >= 0) pick(focus);
    else if (e.key === 'Escape') { focus = -1; app.select(null); util.hideTip(); return; }
    else return;
    e.preventDefault();
    draw();
    const r = canvas.getBoundingClientRect();
    if (focus >= 0) tipAt(focus, r.left + xOf(focus), r.top + yOf(m.dur[spans[focus]]));
  });
  canvas.addEventListener('blur', () => { focus = -1; util.hideTip(); draw(); });

  app.onSelect((s) => { sel = s; draw(); });
  app.onTheme(draw);
  util.onWidth(canvas.parentElement!, draw);
  app.expose('generation', {
    bars: () => Array.from(spans, (i, k) => ({ token: gen.tokens[k], span: i, durNs: m.dur[i], x: xOf(k) + (W - ML - MR) / N / 2, y: (yOf(m.dur[i]) + H - MB) / 2,
      box: { x: xOf(k), y: yOf(m.dur[i]), w: (W - ML - MR) / N, h: H - MB - yOf(m.dur[i]) } })),
    labels: () => labelBoxes,
  });
  draw();
}
