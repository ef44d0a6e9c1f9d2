/**
 * The timeline: one lane per device/thread, spans as flame rows by nesting depth, the memory curve underneath, and a
 * small line lane per counter track (CPU frequency, temperature...) under that. Drawn on a canvas, not one DOM node
 * per span, so a million spans stay cheap.
 * installTimeline builds the shared state and puts the units together: layout, view (zoom and pan), axis, spans,
 * tracks (memory and counters), details, selection and input.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { App } from '../types';
import type { TimelineHandle, TimelineParts, TimelineState } from './types';

export function installTimeline(app: App, parts: TimelineParts): TimelineHandle {
  const { util, head } = app;
  const root = document.getElementById('timeline')!;
  const canvas = root.querySelector('canvas') as HTMLCanvasElement;
  const rangeLine = root.querySelector('.tl-range') as HTMLElement;
  const layout = parts.timelineLayout(app);
  canvas.dataset.counterLanes = JSON.stringify(head.counters.map((c) => c.name));

  // A little room after the last span, none before the first: the axis starts at 0.
  const range = () => {
    const span0 = head.t0, span1 = head.t1 > head.t0 ? head.t1 : head.t0 + 1000;
    return { span0, span1, fullS: span0, fullE: span1 + (span1 - span0) * 0.01 };
  };
  let scheduled = false;
  const st: TimelineState = {
    app, canvas, layout, ...range(), minRange: 10,
    viewS: 0, viewE: 0, W: 300, hover: -1, selected: -1, sel: null,
    schedule() {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => { scheduled = false; draw(); });
    },
  };
  st.viewS = st.fullS;
  st.viewE = st.fullE;
  const view = parts.timelineView(st);
  const axis = parts.timelineAxis(st);
  const spans = parts.timelineSpans(st);
  const tracks = parts.timelineTracks(st);
  const details = parts.timelineDetails(st, root);
  const selection = parts.timelineSelection(st, view, details);
  parts.timelineInput(st, view, details, tracks, selection);

  function draw() {
    const fit = util.fitCanvas(canvas, layout.totalH);
    const ctx = fit.ctx;
    st.W = fit.w;
    const th = app.colors();
    ctx.fillStyle = th.bg;
    ctx.fillRect(0, 0, st.W, layout.totalH);
    axis.draw(ctx, th);
    spans.draw(ctx, th);
    tracks.draw(ctx, th);
    canvas.dataset.viewStart = String(st.viewS);
    canvas.dataset.viewEnd = String(st.viewE);
    rangeLine.textContent = axis.rangeText();
  }

  // The live view's data grows: the rows are laid out anew, and the view stays where it was, or, when it showed the
  // newest time, moves on with it.
  app.onData(() => {
    const len = st.viewE - st.viewS;
    const atEnd = st.viewE >= st.fullE - len * 0.02;
    const whole = atEnd && st.viewS <= st.fullS;
    Object.assign(layout, parts.timelineLayout(app));
    Object.assign(st, range());
    st.hover = -1;
    st.selected = -1;
    if (whole) view.set(st.fullS, st.fullE);
    else if (atEnd) view.set(st.fullE - len, st.fullE);
    else view.set(st.viewS, st.viewE);
  });
  app.onTheme(st.schedule);
  util.onWidth(canvas.parentElement!, st.schedule);
  draw();
  return {
    draw,
    view: () => ({ start: st.viewS, end: st.viewE }),
    setView: (s, e) => { view.set(s, e); draw(); },
    locate: details.locate,
    counterLanes: () => head.counters.map((c, k) => ({ name: c.name, unit: c.unit, y: layout.ctrTop[k], h: layout.CTR_H })),
    highlighted: () => (st.sel ? Array.from(st.sel.ix) : []),
    ticks: axis.ticks,
    rangeText: axis.rangeText,
  };
}
