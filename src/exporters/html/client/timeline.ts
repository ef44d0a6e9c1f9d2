/**
 * The timeline: one lane per device/thread, spans as flame rows by nesting depth, the memory curve underneath, and a
 * small line lane per counter track (CPU frequency, temperature...) under that.
 * Drawn on a canvas, not one DOM node per span, so a million spans stay cheap. Level of detail: in each row, a span
 * narrower than 3 px is merged with every span that starts in the same pixel (found by binary search, not by
 * visiting them), so a frame costs O(visible pixels × log n) however many spans the trace has.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App, Selection, Theme } from './types';

export interface TimelineHandle {
  draw(): void;
  view(): { start: number; end: number };
  setView(start: number, end: number): void;
  /** Canvas coordinates of the middle of the first span with this name that is at least 4 px wide in view (for tests and automation). */
  locate(name: string): { x: number; y: number } | null;
  /** The counter lanes: name, unit and the plot's box in canvas coordinates. */
  counterLanes(): { name: string; unit: string; y: number; h: number }[];
  /** Positions of the highlighted spans (the selection), ascending. */
  highlighted(): number[];
}

export function installTimeline(app: App): TimelineHandle {
  const { util, model: m, head } = app;
  const root = document.getElementById('timeline')!;
  const canvas = root.querySelector('canvas') as HTMLCanvasElement;
  const rangeText = root.querySelector('.tl-range') as HTMLElement;
  const details = root.querySelector('.tl-details') as HTMLElement;

  const AXIS = 22, LANE_HEAD = 18, ROW = 18, LANE_GAP = 8, MEM_LABEL = 16, MEM_H = 56, CTR_LABEL = 16, CTR_H = 32;
  const MAX_HEIGHT = 6000;
  const rowsN = head.rowLane.length;
  const off = head.rowOffset;
  const rowY = new Float64Array(rowsN);
  const laneY: number[] = [];
  let y = AXIS + 4;
  let r0 = 0;
  head.lanes.forEach((lane, li) => {
    laneY[li] = y;
    y += LANE_HEAD;
    for (let d = 0; d < lane.rows; d++, r0++) { rowY[r0] = y; y += ROW; }
    y += LANE_GAP;
  });
  const hasMem = m.memT.length > 0;
  const memTop = y + MEM_LABEL;
  if (hasMem) y = memTop + MEM_H + 8;
  const counters = head.counters;
  const ctrTop = counters.map(() => {
    const top = y + CTR_LABEL;
    y = top + CTR_H + 8;
    return top;
  });
  canvas.dataset.counterLanes = JSON.stringify(counters.map((c) => c.name));
  const totalH = Math.min(MAX_HEIGHT, Math.max(y, AXIS + 40));

  const span0 = head.t0, span1 = head.t1 > head.t0 ? head.t1 : head.t0 + 1000;
  // A little room after the last span, none before the first: the axis starts at 0.
  const fullS = span0, fullE = span1 + (span1 - span0) * 0.01;
  const MIN_RANGE = 10;
  let viewS = fullS, viewE = fullE;
  let W = 300;
  let hover = -1;
  let sel: { ix: Int32Array; rowOff: Int32Array } | null = null;
  let selected = -1;
  const textColors = new Map<string, string>();

  const colorOf = (th: Theme, i: number) => {
    const s = m.sig[i];
    const k = m.sigKind[s];
    return k === 2 ? th.cat[m.sigCat[s]] ?? th.merged : th.kind[k] ?? th.merged;
  };
  const textOn = (c: string) => {
    let t = textColors.get(c);
    if (!t) textColors.set(c, (t = util.textOn(c)));
    return t;
  };

  // Color of a merged pixel: the category (or kind) with the most time among up to 16 spans sampled evenly from it,
  // so a zoomed-out million-span row still shows where matmuls or attention dominate.
  const weight = new Float64Array(16);
  function dominantColor(th: Theme, ix: Int32Array | null, k: number, j: number) {
    weight.fill(0);
    const stride = Math.max(1, Math.floor((j - k) / 16));
    let best = -1;
    for (let q = k; q < j; q += stride) {
      const i = ix ? ix[q] : q;
      const s = m.sig[i];
      const kind = m.sigKind[s];
      const key = kind === 2 ? m.sigCat[s] : 8 + kind;
      weight[key] += m.dur[i];
      if (best < 0 || weight[key] > weight[best]) best = key;
    }
    return best < 8 ? th.cat[best] ?? th.merged : th.kind[best - 8] ?? th.merged;
  }

  /** Draws row r's spans (or the subset ix[lo..hi) of them) with level of detail. */
  function drawRow(ctx: CanvasRenderingContext2D, th: Theme, r: number, scale: number, ix: Int32Array | null, lo: number, hi: number, outline: string | null = null) {
    const yy = rowY[r];
    if (yy + ROW > totalH) return;
    const S = m.start, E = m.end;
    const at = (k: number) => (ix ? ix[k] : k);
    // First span that ends after the view starts (ends increase along a row: its spans never overlap).
    let a = lo, b = hi;
    while (a < b) { const mid = (a + b) >>> 1; if (E[at(mid)] <= viewS) a = mid + 1; else b = mid; }
    let k = a;
    let pendX = 0, pendW = 0, pendColor = '';
    const box = (x: number, w: number, color: string) => {
      ctx.fillStyle = color;
      ctx.fillRect(x, yy, w, ROW - 1);
      if (outline) {
        ctx.strokeStyle = outline;
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x + 0.75, yy + 0.75, Math.max(0.5, w - 1.5), ROW - 2.5);
      }
    };
    const flush = () => {
      if (pendW > 0) box(pendX, pendW, pendColor);
      pendW = 0;
    };
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    while (k < hi) {
      const i = at(k);
      const s = S[i];
      if (s > viewE) break;
      const x0 = (s - viewS) * scale;
      const x1 = (E[i] - viewS) * scale;
      if (x1 - x0 >= 3) {
        flush();
        const c = colorOf(th, i);
        const cx0 = Math.max(x0, -2), cx1 = Math.min(x1, W + 2);
        box(cx0, Math.max(1, cx1 - cx0 - 1), c);
        if (cx1 - cx0 > 30) {
          const name = m.str(m.sigName[m.sig[i]]);
          const max = Math.floor((cx1 - cx0 - 8) / 6.3);
          if (max >= 2) {
            ctx.fillStyle = textOn(c);
            ctx.fillText(name.length > max ? `${name.slice(0, max - 1)}…` : name, cx0 + 4, yy + ROW / 2);
          }
        }
        k++;
      } else {
        // Sub-pixel: jump to the first span that starts in the next pixel.
        const px = Math.floor(x0);
        const tNext = viewS + (px + 1) / scale;
        let lo2 = k + 1, hi2 = hi;
        while (lo2 < hi2) { const mid = (lo2 + hi2) >>> 1; if (S[at(mid)] < tNext) lo2 = mid + 1; else hi2 = mid; }
        let j = lo2;
        // A wide span that starts in this pixel is drawn on its own, with its label.
        if (j - 1 > k && (E[at(j - 1)] - S[at(j - 1)]) * scale >= 3) j--;
        const bx1 = Math.max(px + 1, (E[at(j - 1)] - viewS) * scale);
        const c = j - k > 1 ? dominantColor(th, ix, k, j) : colorOf(th, i);
        if (pendW > 0 && pendColor === c && px <= pendX + pendW + 0.5) pendW = Math.max(pendW, bx1 - pendX);
        else { flush(); pendX = px; pendW = bx1 - px; pendColor = c; }
        k = j;
      }
    }
    flush();
  }

  function niceStep(raw: number) {
    const p = 10 ** Math.floor(Math.log10(raw));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  function draw() {
    const fit = util.fitCanvas(canvas, totalH);
    const ctx = fit.ctx;
    W = fit.w;
    const th = app.colors();
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, W, totalH);
    const scale = W / (viewE - viewS);

    // Time axis and grid, labelled from the first span.
    const step = niceStep(90 / scale);
    ctx.font = '10px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (let t = Math.ceil((viewS - span0) / step) * step + span0; t <= viewE; t += step) {
      const x = Math.round((t - viewS) * scale) + 0.5;
      ctx.fillStyle = th.grid;
      ctx.fillRect(x, AXIS - 4, 1, totalH - AXIS + 4);
      ctx.fillStyle = th.muted;
      ctx.fillText(util.fmtNs(t - span0), x + 3, AXIS / 2);
    }
    ctx.fillStyle = th.grid;
    ctx.fillRect(0, AXIS - 1, W, 1);

    head.lanes.forEach((lane, li) => {
      ctx.fillStyle = th.fg;
      ctx.font = '600 11px system-ui, sans-serif';
      ctx.fillText(`${lane.device.toUpperCase()} · thread ${lane.thread}`, 4, laneY[li] + LANE_HEAD / 2);
    });

    ctx.globalAlpha = sel ? 0.28 : 1;
    for (let r = 0; r < rowsN; r++) drawRow(ctx, th, r, scale, null, off[r], off[r + 1]);
    ctx.globalAlpha = 1;
    if (sel) for (let r = 0; r < rowsN; r++) drawRow(ctx, th, r, scale, sel.ix, sel.rowOff[r], sel.rowOff[r + 1], th.sel);

    for (const [i, color] of [[selected, th.sel], [hover, th.fg]] as [number, string][]) {
      if (i < 0) continue;
      const r = rowOfSpan(i);
      const x0 = Math.max(-2, (m.start[i] - viewS) * scale), x1 = Math.min(W + 2, (m.end[i] - viewS) * scale);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(x0, rowY[r] - 0.5, Math.max(2, x1 - x0), ROW);
    }

    if (hasMem) drawMemory(ctx, th, scale);
    counters.forEach((_, c) => drawCounter(ctx, th, scale, c));

    canvas.dataset.viewStart = String(viewS);
    canvas.dataset.viewEnd = String(viewE);
    rangeText.textContent = `Showing ${util.fmtNs(viewS - span0)} – ${util.fmtNs(viewE - span0)} (${util.fmtNs(viewE - viewS)} of ${util.fmtNs(span1 - span0)})`;
  }

  function drawMemory(ctx: CanvasRenderingContext2D, th: Theme, scale: number) {
    const mem = head.memory!;
    const T = m.memT, L = m.memLive, n = T.length;
    ctx.fillStyle = th.fg;
    ctx.font = '600 11px system-ui, sans-serif';
    const note = mem.downsampled ? ` · curve reduced to ${util.fmtCount(mem.count)} of ${util.fmtCount(mem.sourceCount)} events` : '';
    ctx.fillText(`Memory (live bytes) · peak ${util.fmtBytes(mem.peak)}${note}`, 4, memTop - MEM_LABEL / 2);
    const top = mem.peak > 0 ? mem.peak : 1;
    const yOf = (v: number) => memTop + MEM_H - (Math.max(0, v) / top) * MEM_H;
    // Per pixel column: the highest live value in it, or the value carried from the last event before it.
    let i = util.upperBound(T, 0, n, viewS) - 1;
    let carry = i >= 0 ? L[i] : 0;
    ctx.beginPath();
    ctx.moveTo(0, memTop + MEM_H);
    for (let x = 0; x < W; x++) {
      const tEnd = viewS + (x + 1) / scale;
      let v = carry;
      while (i + 1 < n && T[i + 1] < tEnd) { i++; if (L[i] > v) v = L[i]; carry = L[i]; }
      ctx.lineTo(x, yOf(v));
      ctx.lineTo(x + 1, yOf(v));
    }
    ctx.lineTo(W, memTop + MEM_H);
    ctx.closePath();
    ctx.fillStyle = th.memFill;
    ctx.fill();
    ctx.strokeStyle = th.memLine;
    ctx.lineWidth = 1;
    ctx.stroke();
    ctx.fillStyle = th.grid;
    ctx.fillRect(0, memTop + MEM_H, W, 1);
  }

  const fmtValue = (v: number, unit: string) => `${Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)}${unit ? ` ${unit}` : ''}`;
  /** The counter's plot range: its min..max, widened when flat so the line sits in the middle. */
  const ctrRange = (c: number) => {
    const { min, max } = counters[c];
    const pad = max > min ? 0 : Math.max(Math.abs(max) * 0.05, 1);
    return { lo: min - pad, hi: max + pad };
  };

  /** A counter as a step line (sample and hold); per pixel column, a vertical stroke spans its samples' range. */
  function drawCounter(ctx: CanvasRenderingContext2D, th: Theme, scale: number, c: number) {
    const ctr = counters[c];
    const top = ctrTop[c];
    if (top + CTR_H > totalH) return;
    const T = m.counterT, V = m.counterV, lo0 = ctr.offset, hi0 = ctr.offset + ctr.count;
    ctx.fillStyle = th.fg;
    ctx.font = '600 11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const range = ctr.min === ctr.max ? fmtValue(ctr.min, ctr.unit) : `${fmtValue(ctr.min, ctr.unit)} – ${fmtValue(ctr.max, ctr.unit)}`;
    ctx.fillText(`${ctr.name} · ${range}${ctr.count < ctr.sourceCount ? ` · reduced to ${util.fmtCount(ctr.count)} of ${util.fmtCount(ctr.sourceCount)} samples` : ''}`, 4, top - CTR_LABEL / 2);
    ctx.fillStyle = th.grid;
    ctx.fillRect(0, top + CTR_H, W, 1);
    const { lo, hi } = ctrRange(c);
    const yOf = (v: number) => top + CTR_H - 2 - ((v - lo) / (hi - lo)) * (CTR_H - 4);
    let i = util.upperBound(T, lo0, hi0, viewS) - 1;
    let carry = i >= lo0 ? V[i] : NaN;
    ctx.beginPath();
    let started = false;
    for (let x = 0; x < W; x++) {
      const tEnd = viewS + (x + 1) / scale;
      let vmin = carry, vmax = carry;
      while (i + 1 < hi0 && T[i + 1] < tEnd) {
        i++;
        const v = V[i];
        if (!(vmin <= v)) vmin = v;
        if (!(vmax >= v)) vmax = v;
        carry = v;
      }
      if (carry !== carry) continue; // before the first sample
      if (!started) { ctx.moveTo(x, yOf(vmax)); started = true; }
      ctx.lineTo(x, yOf(vmax));
      ctx.lineTo(x, yOf(vmin));
      ctx.lineTo(x, yOf(carry));
      // The line ends at the last sample: nothing is known after it.
      if (i + 1 >= hi0) { ctx.lineTo(Math.min(W, x + 1), yOf(carry)); break; }
      ctx.lineTo(x + 1, yOf(carry));
    }
    ctx.strokeStyle = th.counter;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }

  function counterAt(c: number, x: number): [string, string][] {
    const ctr = counters[c];
    const t = viewS + x / (W / (viewE - viewS));
    const i = util.upperBound(m.counterT, ctr.offset, ctr.offset + ctr.count, t) - 1;
    const rows: [string, string][] = [['Time', `+${util.fmtNs(t - span0)}`]];
    rows.push(['Value', i >= ctr.offset ? fmtValue(m.counterV[i], ctr.unit) : 'no sample yet']);
    rows.push(['Range', `${fmtValue(ctr.min, ctr.unit)} – ${fmtValue(ctr.max, ctr.unit)}`]);
    return rows;
  }
  const counterAtY = (yy: number) => ctrTop.findIndex((top) => yy >= top - CTR_LABEL && yy <= top + CTR_H);

  function rowOfSpan(i: number) {
    return Math.max(0, util.upperBound(off, 0, off.length, i) - 1);
  }

  function rowAtY(yy: number) {
    for (let r = 0; r < rowsN; r++) if (yy >= rowY[r] && yy < rowY[r] + ROW) return r;
    return -1;
  }

  /** The span under (x, y), preferring one that contains the time; and how many spans share that pixel. */
  function hitTest(x: number, yy: number): { span: number; inPixel: number } | null {
    const r = rowAtY(yy);
    if (r < 0) return null;
    const scale = W / (viewE - viewS);
    const t = viewS + x / scale;
    const tol = 2 / scale;
    const lo = off[r], hi = off[r + 1];
    let k = util.upperBound(m.start, lo, hi, t) - 1;
    if (!(k >= lo && m.end[k] >= t)) {
      k = util.upperBound(m.start, lo, hi, t + tol) - 1;
      if (!(k >= lo && m.end[k] >= t - tol)) return null;
    }
    const inPixel = util.upperBound(m.start, lo, hi, t + 0.5 / scale) - util.lowerBound(m.start, lo, hi, t - 0.5 / scale);
    return { span: k, inPixel: Math.max(1, inPixel) };
  }

  function describe(i: number, inPixel: number): [string, string][] {
    const s = m.sig[i];
    const kind = m.kindOf(i);
    const rows: [string, string][] = [];
    const lane = head.lanes[head.rowLane[rowOfSpan(i)]];
    rows.push(['Kind', kind === 'primitive' ? `primitive · ${head.categories[m.sigCat[s]]?.label ?? ''}` : kind]);
    if (m.layer[i]) rows.push(['Layer', m.str(head.layers[m.layer[i] - 1])]);
    rows.push(['Duration', util.fmtNs(m.dur[i])]);
    if (m.self[i] < m.dur[i]) rows.push(['Self', util.fmtNs(m.self[i])]);
    rows.push(['Start', `+${util.fmtNs(m.start[i] - span0)}`]);
    const shapes = m.str(m.sigShapes[s]);
    if (shapes) rows.push(['Shapes', shapes]);
    const dtype = m.str(m.sigDtype[s]);
    if (dtype) rows.push(['Dtype', dtype]);
    const f = m.sigFlops[s], b = m.sigBytes[s];
    if (kind === 'primitive' || f === f || b === b) {
      rows.push(['FLOPs', f === f ? util.fmtFlops(f) : 'no cost formula']);
      rows.push(['Bytes', b === b ? util.fmtBytes(b) : 'unknown']);
      if (f === f && b === b && b > 0) rows.push(['Intensity', `${(f / b).toFixed(2)} FLOP/B`]);
      const secs = m.dur[i] / 1e9;
      if (secs > 0 && f === f) rows.push(['Achieved', `${util.fmtRate(f / secs, 'FLOP/s')}${b === b ? ` · ${util.fmtRate(b / secs, 'B/s')}` : ''}`]);
    }
    rows.push(['Lane', `${lane.device} · thread ${lane.thread}`]);
    const pass = m.passOf(i);
    if (pass) rows.push(['Pass', pass.warmup ? `${pass.pass} (warm-up: left out of the statistics)` : String(pass.pass)]);
    const id = m.spanId(i);
    if (id !== null) rows.push(['Span id', String(id)]);
    if (inPixel > 1) rows.push(['Here', `${util.fmtCount(inPixel)} spans share this pixel: zoom in to see them`]);
    return rows;
  }

  function memoryAt(x: number): [string, string][] | null {
    const scale = W / (viewE - viewS);
    const t = viewS + x / scale;
    const i = util.upperBound(m.memT, 0, m.memT.length, t) - 1;
    const live = i >= 0 ? m.memLive[i] : 0;
    return [['Time', `+${util.fmtNs(t - span0)}`], ['Live', util.fmtBytes(live)], ['Peak', util.fmtBytes(head.memory!.peak)]];
  }

  let scheduled = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; draw(); });
  };

  function setView(s: number, e: number) {
    let len = Math.max(MIN_RANGE, e - s);
    const fullLen = fullE - fullS;
    if (len >= fullLen) { viewS = fullS; viewE = fullE; schedule(); return; }
    if (s < fullS) s = fullS;
    if (s + len > fullE) s = fullE - len;
    viewS = s;
    viewE = s + len;
    schedule();
  }
  const zoomAt = (factor: number, anchor: number) => {
    const len = viewE - viewS;
    const nl = Math.max(MIN_RANGE, len * factor);
    setView(anchor - (anchor - viewS) * (nl / len), anchor - (anchor - viewS) * (nl / len) + nl);
  };
  const pan = (px: number) => {
    const dt = (px * (viewE - viewS)) / W;
    setView(viewS + dt, viewE + dt);
  };

  const local = (e: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  let drag: { x: number; s: number; e: number; moved: boolean } | null = null;

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const { x } = local(e);
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) pan(e.deltaX);
    else zoomAt(Math.exp(e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.002)), viewS + (x / W) * (viewE - viewS));
  }, { passive: false });

  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, s: viewS, e: viewE, moved: false };
  });
  canvas.addEventListener('pointermove', (e) => {
    if (drag) {
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        const dt = (-dx * (drag.e - drag.s)) / W;
        setView(drag.s + dt, drag.e + dt);
        util.hideTip();
        return;
      }
    }
    const { x, y: yy } = local(e);
    const h = hitTest(x, yy);
    const next = h ? h.span : -1;
    if (next !== hover) { hover = next; schedule(); }
    if (h) util.showTip(describe(h.span, h.inPixel), m.str(m.sigName[m.sig[h.span]]), e.clientX, e.clientY);
    else if (hasMem && yy >= memTop && yy <= memTop + MEM_H) util.showTip(memoryAt(x)!, 'Memory', e.clientX, e.clientY);
    else {
      const c = counterAtY(yy);
      if (c >= 0) util.showTip(counterAt(c, x), counters[c].name, e.clientX, e.clientY);
      else util.hideTip();
    }
  });
  canvas.addEventListener('pointerup', (e) => {
    const d = drag;
    drag = null;
    if (d && !d.moved) {
      const { x, y: yy } = local(e);
      const h = hitTest(x, yy);
      if (h) selectSpan(h.span);
    }
  });
  canvas.addEventListener('pointerleave', () => {
    util.hideTip();
    if (hover >= 0) { hover = -1; schedule(); }
  });
  canvas.addEventListener('dblclick', (e) => {
    const { x, y: yy } = local(e);
    const h = hitTest(x, yy);
    if (h) {
      const d = m.end[h.span] - m.start[h.span];
      setView(m.start[h.span] - d * 0.1, m.end[h.span] + d * 0.1);
    }
  });
  canvas.addEventListener('keydown', (e) => {
    const mid = (viewS + viewE) / 2;
    switch (e.key) {
      case '+': case '=': case 'w': zoomAt(1 / 1.5, mid); break;
      case '-': case '_': case 's': zoomAt(1.5, mid); break;
      case 'ArrowLeft': case 'a': pan(-W * 0.1); break;
      case 'ArrowRight': case 'd': pan(W * 0.1); break;
      case '0': case 'Home': setView(fullS, fullE); break;
      case 'Escape': app.select(null); break;
      case 'n': case 'N': jumpToSelected(e.key === 'N' ? -1 : 1); break;
      default: return;
    }
    e.preventDefault();
  });

  /** Centers the next (or previous) highlighted span after (before) the middle of the view, and shows its details. */
  function jumpToSelected(dir: 1 | -1) {
    if (!sel || sel.ix.length === 0) return;
    const mid = (viewS + viewE) / 2;
    let best = -1;
    for (const i of sel.ix) {
      const c = (m.start[i] + m.end[i]) / 2;
      if (dir > 0 ? c > mid + 1e-6 : c < mid - 1e-6) {
        if (best < 0 || (dir > 0 ? c < (m.start[best] + m.end[best]) / 2 : c > (m.start[best] + m.end[best]) / 2)) best = i;
      }
    }
    if (best < 0) {
      // Wrap around: the first call (or the last, going back).
      for (const i of sel.ix) if (best < 0 || (dir > 0 ? m.start[i] < m.start[best] : m.start[i] > m.start[best])) best = i;
    }
    const c = (m.start[best] + m.end[best]) / 2;
    const len = Math.max(viewE - viewS, (m.end[best] - m.start[best]) * 3, MIN_RANGE);
    setView(c - len / 2, c + len / 2);
    showDetails(best);
    selected = best;
  }

  function showDetails(i: number, lead?: string) {
    const dl = util.el('dl');
    for (const [k, v] of describe(i, 1)) dl.append(util.el('dt', {}, k), util.el('dd', {}, v));
    details.replaceChildren(...(lead ? [util.el('p', { class: 'lead' }, lead)] : []), util.el('strong', {}, m.str(m.sigName[m.sig[i]])), dl);
  }

  function selectSpan(i: number) {
    selected = i;
    const title = m.str(m.sigName[m.sig[i]]);
    showDetails(i);
    app.select({ by: 'op', key: m.sigName[m.sig[i]], label: title, source: 'timeline' });
  }

  app.onSelect((s: Selection | null) => {
    if (!s) {
      sel = null;
      selected = -1;
      details.replaceChildren(util.el('span', { class: 'muted' }, 'Click a span to see its details here.'));
      schedule();
      return;
    }
    const rowOff = new Int32Array(rowsN + 1);
    if (s.spans) {
      // Explicit spans (evidence, a token): positions ascending, so each row's share is a contiguous run.
      const sp = s.spans;
      for (let r = 0; r <= rowsN; r++) rowOff[r] = util.lowerBound(sp, 0, sp.length, r < rowsN ? off[r] : Infinity);
      sel = { ix: sp, rowOff };
      if (sp.length > 0 && s.source !== 'timeline') {
        // Bring them into view: their whole extent, with a margin.
        let lo = Infinity, hi = -Infinity;
        for (const i of sp) { if (m.start[i] < lo) lo = m.start[i]; if (m.end[i] > hi) hi = m.end[i]; }
        const pad = Math.max((hi - lo) * (sp.length === 1 ? 0.5 : 0.08), MIN_RANGE);
        setView(lo - pad, hi + pad);
        selected = sp[0];
        const lead = sp.length > 1 ? `${util.fmtCount(sp.length)} spans (${s.label}) highlighted; N and Shift+N step through them. The first:`
          : s.label !== m.str(m.sigName[m.sig[sp[0]]]) ? `${s.label}:` : undefined;
        showDetails(sp[0], lead);
      }
      schedule();
      return;
    }
    const picked: number[] = [];
    for (let r = 0; r < rowsN; r++) {
      rowOff[r] = picked.length;
      for (let i = off[r]; i < off[r + 1]; i++) if (app.groupKeyOfSpan(i, s.by) === s.key) picked.push(i);
    }
    rowOff[rowsN] = picked.length;
    sel = { ix: Int32Array.from(picked), rowOff };
    if (s.source !== 'timeline') {
      selected = -1;
      details.replaceChildren(util.el('span', {}, `${util.fmtCount(picked.length)} spans of ${s.label} highlighted. In the timeline, N and Shift+N jump to the next and previous one.`));
    }
    schedule();
  });
  app.onTheme(schedule);
  util.onWidth(canvas.parentElement!, schedule);

  const locate = (name: string) => {
    const scale = W / (viewE - viewS);
    for (let r = 0; r < rowsN; r++) {
      for (let i = off[r]; i < off[r + 1]; i++) {
        if (m.str(m.sigName[m.sig[i]]) !== name) continue;
        const x0 = Math.max(0, (m.start[i] - viewS) * scale), x1 = Math.min(W, (m.end[i] - viewS) * scale);
        if (x1 - x0 >= 4) return { x: (x0 + x1) / 2, y: rowY[r] + ROW / 2 };
      }
    }
    return null;
  };

  draw();
  return {
    draw,
    view: () => ({ start: viewS, end: viewE }),
    setView: (s, e) => { setView(s, e); draw(); },
    locate,
    counterLanes: () => counters.map((c, k) => ({ name: c.name, unit: c.unit, y: ctrTop[k], h: CTR_H })),
    highlighted: () => (sel ? Array.from(sel.ix) : []),
  };
}
