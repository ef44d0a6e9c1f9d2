/**
 * The time axis: gridlines at a round step about every 90 px, labelled with the time since the first span to as many
 * decimals as the step needs (zoomed in at 163 ms, ticks read 163.005, 163.010 ms...), and the line under the canvas
 * that says which part of the trace is visible.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Theme } from '../types';
import type { TimelineAxis, TimelineState, TimelineTick } from './types';

export function timelineAxis(st: TimelineState): TimelineAxis {
  const { util } = st.app;
  const L = st.layout;

  function niceStep(raw: number) {
    const p = 10 ** Math.floor(Math.log10(raw));
    const f = raw / p;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
  }

  const UNITS: [number, string][] = [[1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns']];
  /** ns in the unit of its magnitude (or of the step's, near 0), with the decimals that tell two ticks apart. */
  function tickLabel(ns: number, step: number) {
    const mag = Math.max(Math.abs(ns), step);
    const [unit, name] = UNITS.find(([u]) => mag >= u) ?? UNITS[UNITS.length - 1];
    const decimals = Math.max(0, Math.min(9, Math.ceil(Math.log10(unit / step) - 1e-9)));
    return `${(ns / unit).toFixed(decimals)} ${name}`;
  }

  function ticks(): TimelineTick[] {
    const scale = st.W / (st.viewE - st.viewS);
    const step = niceStep(90 / scale);
    const out: TimelineTick[] = [];
    // Each tick from its index, so labels carry no rounding error summed over the steps.
    const first = Math.ceil((st.viewS - st.span0) / step);
    for (let k = first; st.span0 + k * step <= st.viewE; k++) {
      const t = st.span0 + k * step;
      out.push({ x: Math.round((t - st.viewS) * scale) + 0.5, t, label: tickLabel(k * step, step) });
    }
    return out;
  }

  return {
    ticks,
    draw(ctx: CanvasRenderingContext2D, th: Theme) {
      ctx.font = '10px system-ui, sans-serif';
      ctx.textBaseline = 'middle';
      for (const { x, label } of ticks()) {
        ctx.fillStyle = th.grid;
        ctx.fillRect(x, L.AXIS - 4, 1, L.totalH - L.AXIS + 4);
        ctx.fillStyle = th.muted;
        ctx.fillText(label, x + 3, L.AXIS / 2);
      }
      ctx.fillStyle = th.grid;
      ctx.fillRect(0, L.AXIS - 1, st.W, 1);
    },
    rangeText() {
      // The view may reach into the room left after the last span: say only what of the trace is visible.
      const { span0, span1 } = st;
      const from = Math.max(st.viewS, span0) - span0, to = Math.min(st.viewE, span1) - span0;
      return `Showing ${util.fmtNs(from)} – ${util.fmtNs(to)} (${util.fmtNs(Math.max(0, to - from))} of ${util.fmtNs(span1 - span0)})`;
    },
  };
}
