/**
 * The roofline: achieved FLOP/s against arithmetic intensity (FLOP/byte), log-log, under the compute ceiling
 * (meta.peaks.flops) and the bandwidth ceiling (meta.peaks.bandwidth), with the ridge point where they meet.
 * One point per op + shapes group, its area proportional to the group's time. Hover for numbers, click (or arrow
 * keys + Enter) to select the op in the table and timeline.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { AggRow, App, Selection } from './types';

export function installRoofline(app: App): void {
  const { util, model: m, head } = app;
  const root = document.getElementById('roofline')!;
  const canvas = root.querySelector('canvas') as HTMLCanvasElement;
  const note = root.querySelector('.rf-note') as HTMLElement;
  const peakF = head.meta.peaks.flops, peakB = head.meta.peaks.bandwidth;
  const hasPeaks = peakF > 0 && peakB > 0;
  const ridge = hasPeaks ? peakF / peakB : NaN;

  interface Pt { row: AggRow; x: number; y: number; r: number; px: number; py: number }
  const groups = m.aggregate('shapes');
  const pts: Pt[] = [];
  const uncosted = new Set<string>();
  const zero = new Set<string>();
  let maxTime = 0;
  for (const row of groups) {
    if (row.flops > 0 && row.bytes > 0 && row.flopsTime > 0) {
      pts.push({ row, x: row.flops / row.bytes, y: row.flops / (row.flopsTime / 1e9), r: 0, px: 0, py: 0 });
      if (row.total > maxTime) maxTime = row.total;
    } else if (row.flopsTime > 0 && row.bytesTime > 0) zero.add(row.label);
    else uncosted.add(row.label);
  }
  // Big points first so small ones stay visible on top.
  pts.sort((a, b) => b.row.total - a.row.total);
  for (const p of pts) p.r = 3 + 13 * Math.sqrt(p.row.total / (maxTime || 1));

  const notes: string[] = [];
  if (!hasPeaks) notes.push('This trace has no compute or bandwidth peaks, so the ceilings are not drawn.');
  else notes.push(`Ceilings: ${util.fmtRate(peakF, 'FLOP/s')} compute, ${util.fmtRate(peakB, 'B/s')} bandwidth, ${head.meta.peaks.note}.`);
  if (pts.length === 0) notes.push('No op has both a FLOP count and a byte count, so there is nothing to plot.');
  const list = (names: Set<string>) => {
    const all = [...names];
    return `${all.slice(0, 8).join(', ')}${all.length > 8 ? ` and ${all.length - 8} more` : ''}`;
  };
  if (zero.size) notes.push(`Not plotted, no FLOPs or no bytes to put on log axes (data movement, views): ${list(zero)}.`);
  if (uncosted.size) notes.push(`Not plotted, no cost formula: ${list(uncosted)}.`);
  // The ceilings' sentence comes first; it is a warning while they are defaults.
  const guessed = hasPeaks && !head.meta.peaks.measured;
  note.replaceChildren(...notes.map((t, k) => util.el('p', k === 0 && guessed ? { class: 'warn' } : {}, t)));
  const dflt = guessed ? ' (default)' : '';

  const log = Math.log10;
  let xs = pts.map((p) => p.x), ys = pts.map((p) => p.y);
  if (hasPeaks) { xs = xs.concat([ridge]); ys = ys.concat([peakF]); }
  if (xs.length === 0) { xs = [0.1, 100]; ys = [1e6, 1e12]; }
  const x0 = Math.floor(log(Math.min(...xs) / 2)), x1 = Math.max(Math.ceil(log(Math.max(...xs) * 2)), Math.floor(log(Math.min(...xs) / 2)) + 2);
  const y0 = Math.floor(log(Math.min(...ys) / 2)), y1 = Math.max(Math.ceil(log(Math.max(...ys) * 1.5)), y0 + 2);
  const ML = 56, MR = 14, MT = 14, MB = 40;
  let W = 300, H = 300;
  let focus = -1;
  let sel: Selection | null = null;
  const px = (x: number) => ML + ((log(x) - x0) / (x1 - x0)) * (W - ML - MR);
  const py = (y: number) => MT + (1 - (log(y) - y0) / (y1 - y0)) * (H - MT - MB);
  // 10^k as '1 G', '10 G', '100 G' (FLOP/s, the axis title gives the unit).
  const decade = (k: number) => {
    if (k < 0) return String(Number((10 ** k).toPrecision(1)));
    const u = Math.min(6, Math.floor(k / 3));
    return `${10 ** (k - 3 * u)}${u ? ` ${' kMGTPE'[u]}` : ''}`;
  };
  const fmtIntensity = (v: number) => (v >= 1000 ? `${v / 1000}k` : v >= 1 ? String(v) : String(Number(v.toPrecision(1))));

  function draw() {
    H = Math.min(360, Math.max(240, (canvas.parentElement?.clientWidth ?? 400) * 0.62));
    const fit = util.fitCanvas(canvas, H);
    const ctx = fit.ctx;
    W = fit.w;
    const th = app.colors();
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, W, H);
    ctx.font = '10px system-ui, sans-serif';
    ctx.lineWidth = 1;
    // Decade grid and labels.
    ctx.textBaseline = 'top';
    ctx.textAlign = 'center';
    for (let k = x0; k <= x1; k++) {
      const x = Math.round(px(10 ** k)) + 0.5;
      ctx.fillStyle = th.grid;
      ctx.fillRect(x, MT, 1, H - MT - MB);
      ctx.fillStyle = th.muted;
      ctx.fillText(fmtIntensity(10 ** k), x, H - MB + 4);
    }
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let k = y0; k <= y1; k++) {
      const y = Math.round(py(10 ** k)) + 0.5;
      ctx.fillStyle = th.grid;
      ctx.fillRect(ML, y, W - ML - MR, 1);
      ctx.fillStyle = th.muted;
      ctx.fillText(decade(k), ML - 4, y);
    }
    ctx.textAlign = 'center';
    ctx.fillStyle = th.fg;
    ctx.fillText('Arithmetic intensity (FLOP per byte)', ML + (W - ML - MR) / 2, H - 12);
    ctx.save();
    ctx.translate(12, MT + (H - MT - MB) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText('Achieved FLOP/s', 0, 0);
    ctx.restore();

    ctx.save();
    ctx.beginPath();
    ctx.rect(ML, MT, W - ML - MR, H - MT - MB);
    ctx.clip();
    if (hasPeaks) {
      const xa = 10 ** x0, xb = 10 ** x1;
      ctx.strokeStyle = th.fg;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(px(xa), py(peakB * xa));
      ctx.lineTo(px(ridge), py(peakF));
      ctx.lineTo(px(xb), py(peakF));
      ctx.stroke();
      ctx.setLineDash([4, 4]);
      ctx.lineWidth = 1;
      ctx.strokeStyle = th.muted;
      ctx.beginPath();
      ctx.moveTo(px(ridge), py(peakF));
      ctx.lineTo(px(ridge), H - MB);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = th.accent;
      ctx.beginPath();
      ctx.arc(px(ridge), py(peakF), 4.5, 0, Math.PI * 2);
      ctx.fill();
      // Labels only where they fit (the note under the chart always has the numbers): compute above the flat roof
      // at its right end, bandwidth along the slope ending short of the ridge, ridge beside its dashed line.
      const rx = px(ridge), ry = py(peakF);
      ctx.fillStyle = th.fg;
      ctx.textBaseline = 'bottom';
      ctx.textAlign = 'right';
      const compute = `compute ${util.fmtRate(peakF, 'FLOP/s')}${dflt}`;
      if (W - MR - 4 - ctx.measureText(compute).width > rx + 10) ctx.fillText(compute, W - MR - 4, ry - 4);
      const bw = `bandwidth ${util.fmtRate(peakB, 'B/s')}${dflt}`;
      const bwWidth = ctx.measureText(bw).width;
      const ax0 = ML, ay0 = py(peakB * 10 ** x0);
      const len = Math.hypot(rx - ax0, ry - ay0);
      if (len > bwWidth + 40) {
        const angle = Math.atan2(ry - ay0, rx - ax0);
        const along = len - 16;
        ctx.save();
        ctx.translate(ax0 + Math.cos(angle) * along, ay0 + Math.sin(angle) * along);
        ctx.rotate(angle);
        ctx.fillText(bw, 0, -4);
        ctx.restore();
      }
      ctx.textBaseline = 'top';
      ctx.fillStyle = th.muted;
      const ridgeText = `ridge ${Number(ridge.toPrecision(3))} FLOP/B`;
      const rw = ctx.measureText(ridgeText).width;
      if (rx + 6 + rw <= W - MR) { ctx.textAlign = 'left'; ctx.fillText(ridgeText, rx + 6, ry + 6); }
      else { ctx.textAlign = 'right'; ctx.fillText(ridgeText, rx - 6, H - MB - 16); }
    }
    pts.forEach((p, i) => {
      p.px = px(p.x);
      p.py = py(p.y);
      ctx.globalAlpha = sel && !isSelected(p) ? 0.3 : 0.82;
      ctx.fillStyle = th.cat[p.row.cat] ?? th.merged;
      ctx.beginPath();
      ctx.arc(p.px, p.py, p.r, 0, Math.PI * 2);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = isSelected(p) || i === focus ? th.sel : th.bg;
      ctx.lineWidth = isSelected(p) || i === focus ? 2.5 : 1;
      ctx.stroke();
    });
    ctx.restore();
  }

  // A selection of explicit spans (evidence, a token) selects the points of their op + shapes.
  let selSigs: Set<number> | null = null;
  const isSelected = (p: Pt) =>
    !!sel && (selSigs ? selSigs.has(p.row.key) : (sel.by === 'shapes' && sel.key === p.row.key) || (sel.by === 'op' && sel.key === m.sigName[p.row.key]));

  function describe(p: Pt): [string, string][] {
    const roof = hasPeaks ? Math.min(peakF, peakB * p.x) : NaN;
    const rows: [string, string][] = [];
    if (p.row.detail) rows.push(['Shapes', p.row.detail]);
    rows.push(['Calls', util.fmtCount(p.row.calls)], ['Total', util.fmtNs(p.row.total)]);
    rows.push(['Intensity', `${p.x.toPrecision(3)} FLOP/B`]);
    rows.push(['Achieved', `${util.fmtRate(p.y, 'FLOP/s')} · ${util.fmtRate(p.row.bytes / (p.row.bytesTime / 1e9), 'B/s')}`]);
    if (hasPeaks) rows.push(['Of roof', `${util.fmtPct(p.y / roof)} (${p.x < ridge ? 'memory-bound' : 'compute-bound'})${guessed ? ', of a default roof' : ''}`]);
    return rows;
  }

  function hit(x: number, y: number): number {
    let best = -1, bestD = Infinity;
    pts.forEach((p, i) => {
      const d = Math.hypot(p.px - x, p.py - y);
      if (d <= p.r + 3 && d / p.r < bestD) { best = i; bestD = d / p.r; }
    });
    return best;
  }
  const pick = (i: number) => {
    const p = pts[i];
    app.select({ by: 'shapes', key: p.row.key, label: p.row.label, source: 'roofline' });
  };
  const tipAt = (i: number, cx: number, cy: number) => util.showTip(describe(pts[i]), pts[i].row.label, cx, cy);

  canvas.addEventListener('pointermove', (e) => {
    const r = canvas.getBoundingClientRect();
    const i = hit(e.clientX - r.left, e.clientY - r.top);
    canvas.style.cursor = i >= 0 ? 'pointer' : 'default';
    if (i >= 0) tipAt(i, e.clientX, e.clientY); else util.hideTip();
  });
  canvas.addEventListener('pointerleave', () => util.hideTip());
  canvas.addEventListener('click', (e) => {
    const r = canvas.getBoundingClientRect();
    const i = hit(e.clientX - r.left, e.clientY - r.top);
    if (i >= 0) pick(i);
  });
  canvas.addEventListener('keydown', (e) => {
    if (pts.length === 0) return;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') focus = (focus + 1) % pts.length;
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') focus = (focus - 1 + pts.length) % pts.length;
    else if ((e.key === 'Enter' || e.key === ' ') && focus >= 0) pick(focus);
    else if (e.key === 'Escape') { focus = -1; app.select(null); util.hideTip(); draw(); return; }
    else return;
    e.preventDefault();
    draw();
    const r = canvas.getBoundingClientRect();
    if (focus >= 0) tipAt(focus, r.left + pts[focus].px, r.top + pts[focus].py);
  });
  canvas.addEventListener('blur', () => { focus = -1; util.hideTip(); draw(); });

  app.onSelect((s) => {
    sel = s;
    selSigs = s?.spans ? new Set(Array.from(s.spans, (i) => m.sig[i])) : null;
    draw();
  });
  app.onTheme(draw);
  util.onWidth(canvas.parentElement!, draw);
  app.expose('roofline', {
    points: () => pts.map((p) => ({ label: p.row.label, detail: p.row.detail, key: p.row.key, x: p.px, y: p.py, r: p.r, intensity: p.x, flopsPerSec: p.y,
      calls: p.row.calls, total: p.row.total })),
    ceilings: () => (hasPeaks ? { flops: peakF, bandwidth: peakB, measured: head.meta.peaks.measured } : null),
  });
  draw();
}
