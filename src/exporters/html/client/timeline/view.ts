/**
 * The visible time range: set (clamped to the trace, never narrower than the minimum range), zoom about a time, pan
 * by pixels. Each change schedules a redraw.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { TimelineState, TimelineView } from './types';

export function timelineView(st: TimelineState): TimelineView {
  function set(s: number, e: number) {
    const len = Math.max(st.minRange, e - s);
    const fullLen = st.fullE - st.fullS;
    if (len >= fullLen) { st.viewS = st.fullS; st.viewE = st.fullE; st.schedule(); return; }
    if (s < st.fullS) s = st.fullS;
    if (s + len > st.fullE) s = st.fullE - len;
    st.viewS = s;
    st.viewE = s + len;
    st.schedule();
  }
  return {
    set,
    zoomAt(factor, anchor) {
      const len = st.viewE - st.viewS;
      const nl = Math.max(st.minRange, len * factor);
      set(anchor - (anchor - st.viewS) * (nl / len), anchor - (anchor - st.viewS) * (nl / len) + nl);
    },
    pan(px) {
      const dt = (px * (st.viewE - st.viewS)) / st.W;
      set(st.viewS + dt, st.viewE + dt);
    },
  };
}
