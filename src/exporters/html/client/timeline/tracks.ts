/**
 * The lanes under the spans: the memory curve (live bytes, the highest value per pixel column) and one small step
 * line per counter track (CPU frequency, temperature...), each with its label, and their tooltips.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Theme } from '../types';
import type { TimelineState, TrackPainter } from './types';

export function timelineTracks(st: TimelineState): TrackPainter {
  const { util, model: m, head } = st.app;
  const L = st.layout;
  const counters = head.counters;
  const { MEM_H, MEM_LABEL, CTR_H, CTR_LABEL } = L;

  function drawMemory(ctx: CanvasRenderingContext2D, th: Theme, scale: number) {
    const mem = head.memory!;
    const memTop = L.memTop;
    const T = m.memT, Lv = m.memLive, n = T.length;
    const viewS = st.viewS, W = st.W;
    ctx.fillStyle = th.fg;
    ctx.font = '600 11px system-ui, sans-serif';
    const note = mem.downsampled ? ` · curve reduced to ${util.fmtCount(mem.count)} of ${util.fmtCount(mem.sourceCount)} events` : '';
    ctx.fillText(`Memory (live bytes) · peak ${util.fmtBytes(mem.peak)}${note}`, 4, memTop - MEM_LABEL / 2);
    const top = mem.peak > 0 ? mem.peak : 1;
    const yOf = (v: number) => memTop + MEM_H - (Math.max(0, v) / top) * MEM_H;
    // Per pixel column: the highest live value in it, or the value carried from the last event before it.
    let i = util.upperBound(T, 0, n, viewS) - 1;
    let carry = i >= 0 ? Lv[i] : 0;
    ctx.beginPath();
    ctx.moveTo(0, memTop + MEM_H);
    for (let x = 0; x < W; x++) {
      const tEnd = viewS + (x + 1) / scale;
      let v = carry;
      while (i + 1 < n && T[i + 1] < tEnd) { i++; if (Lv[i] > v) v = Lv[i]; carry = Lv[i]; }
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
    const top = L.ctrTop[c];
    if (top + CTR_H > L.totalH) return;
    const T = m.counterT, V = m.counterV, lo0 = ctr.offset, hi0 = ctr.offset + ctr.count;
    const viewS = st.viewS, W = st.W;
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

  const timeAt = (x: number) => st.viewS + x / (st.W / (st.viewE - st.viewS));

  function counterAt(c: number, x: number): [string, string][] {
    const ctr = counters[c];
    const t = timeAt(x);
    const i = util.upperBound(m.counterT, ctr.offset, ctr.offset + ctr.count, t) - 1;
    const rows: [string, string][] = [['Time', `+${util.fmtNs(t - st.span0)}`]];
    rows.push(['Value', i >= ctr.offset ? fmtValue(m.counterV[i], ctr.unit) : 'no sample yet']);
    rows.push(['Range', `${fmtValue(ctr.min, ctr.unit)} – ${fmtValue(ctr.max, ctr.unit)}`]);
    return rows;
  }

  function memoryAt(x: number): [string, string][] {
    const t = timeAt(x);
    const i = util.upperBound(m.memT, 0, m.memT.length, t) - 1;
    const live = i >= 0 ? m.memLive[i] : 0;
    return [['Time', `+${util.fmtNs(t - st.span0)}`], ['Live', util.fmtBytes(live)], ['Peak', util.fmtBytes(head.memory!.peak)]];
  }

  return {
    draw(ctx, th) {
      const scale = st.W / (st.viewE - st.viewS);
      if (L.hasMem) drawMemory(ctx, th, scale);
      counters.forEach((_, c) => drawCounter(ctx, th, scale, c));
    },
    tipAt(x, y) {
      if (L.hasMem && y >= L.memTop && y <= L.memTop + MEM_H) return { title: 'Memory', rows: memoryAt(x) };
      const c = L.ctrTop.findIndex((top) => y >= top - CTR_LABEL && y <= top + CTR_H);
      return c >= 0 ? { title: counters[c].name, rows: counterAt(c, x) } : null;
    },
  };
}
