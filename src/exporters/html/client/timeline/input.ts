/**
 * Pointer, wheel and keyboard on the timeline: wheel zooms about the pointer (or pans when horizontal), drag pans,
 * click picks a span's op, double-click zooms to a span, hover shows a tooltip; keys zoom, pan, reset, clear and
 * step through the highlighted spans.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { TimelineDetails, TimelineSelection, TimelineState, TimelineView, TrackPainter } from './types';

export function timelineInput(st: TimelineState, view: TimelineView, details: TimelineDetails, tracks: TrackPainter, selection: TimelineSelection): void {
  const { app, canvas } = st;
  const { util, model: m } = app;
  const local = (e: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  let drag: { x: number; s: number; e: number; moved: boolean } | null = null;

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    const { x } = local(e);
    if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) view.pan(e.deltaX);
    else view.zoomAt(Math.exp(e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.002)), st.viewS + (x / st.W) * (st.viewE - st.viewS));
  }, { passive: false });

  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, s: st.viewS, e: st.viewE, moved: false };
  });
  canvas.addEventListener('pointermove', (e) => {
    if (drag) {
      const dx = e.clientX - drag.x;
      if (Math.abs(dx) > 3) drag.moved = true;
      if (drag.moved) {
        const dt = (-dx * (drag.e - drag.s)) / st.W;
        view.set(drag.s + dt, drag.e + dt);
        util.hideTip();
        return;
      }
    }
    const { x, y } = local(e);
    const h = details.hitTest(x, y);
    const next = h ? h.span : -1;
    if (next !== st.hover) { st.hover = next; st.schedule(); }
    if (h) { util.showTip(details.describe(h.span, h.inPixel), m.str(m.sigName[m.sig[h.span]]), e.clientX, e.clientY); return; }
    const tip = tracks.tipAt(x, y);
    if (tip) util.showTip(tip.rows, tip.title, e.clientX, e.clientY);
    else util.hideTip();
  });
  canvas.addEventListener('pointerup', (e) => {
    const d = drag;
    drag = null;
    if (d && !d.moved) {
      const { x, y } = local(e);
      const h = details.hitTest(x, y);
      if (h) selection.pick(h.span);
    }
  });
  canvas.addEventListener('pointerleave', () => {
    util.hideTip();
    if (st.hover >= 0) { st.hover = -1; st.schedule(); }
  });
  canvas.addEventListener('dblclick', (e) => {
    const { x, y } = local(e);
    const h = details.hitTest(x, y);
    if (h) {
      const d = m.end[h.span] - m.start[h.span];
      view.set(m.start[h.span] - d * 0.1, m.end[h.span] + d * 0.1);
    }
  });
  canvas.addEventListener('keydown', (e) => {
    const mid = (st.viewS + st.viewE) / 2;
    switch (e.key) {
      case '+': case '=': case 'w': view.zoomAt(1 / 1.5, mid); break;
      case '-': case '_': case 's': view.zoomAt(1.5, mid); break;
      case 'ArrowLeft': case 'a': view.pan(-st.W * 0.1); break;
      case 'ArrowRight': case 'd': view.pan(st.W * 0.1); break;
      case '0': case 'Home': view.set(st.fullS, st.fullE); break;
      case 'Escape': app.select(null); break;
      case 'n': case 'N': selection.jump(e.key === 'N' ? -1 : 1); break;
      default: return;
    }
    e.preventDefault();
  });
}
