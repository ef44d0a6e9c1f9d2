/**
 * The time axis: gridlines at a round step about every 90 px, labelled with the time since the first span, and the
 * line under the canvas that says which range is visible.
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

  function ticks(): TimelineTick[] {
    const scale = st.W / (st.viewE - st.viewS);
    const step = niceStep(90 / scale);
    const out: TimelineTick[] = [];
    for (let t = Math.ceil((st.viewS - st.span0) / step) * step + st.span0; t <= st.viewE; t += step) {
      out.push({ x: Math.round((t - st.viewS) * scale) + 0.5, t, label: util.fmtNs(t - st.span0) });
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
      const { viewS, viewE, span0, span1 } = st;
      return `Showing ${util.fmtNs(viewS - span0)} – ${util.fmtNs(viewE - span0)} (${util.fmtNs(viewE - viewS)} of ${util.fmtNs(span1 - span0)})`;
    },
  };
}
