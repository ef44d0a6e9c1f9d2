/**
 * The timeline's side of the shared selection: which spans to highlight (an op's calls, or explicit spans such as a
 * finding's evidence or a token, brought into view), picking a span's op, and stepping through the highlighted spans.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Selection } from '../types';
import type { TimelineDetails, TimelineSelection, TimelineState, TimelineView } from './types';

export function timelineSelection(st: TimelineState, view: TimelineView, details: TimelineDetails): TimelineSelection {
  const { app } = st;
  const { util, model: m } = app;
  // The layout is read at each use: the live view lays the rows out anew as data comes.
  const L = st.layout;

  /** Explicit spans (evidence, a token): positions ascending, so each row's share is a contiguous run. */
  function highlightSpans(s: Selection, sp: Int32Array) {
    const off = L.off, rowsN = L.rowsN;
    const rowOff = new Int32Array(rowsN + 1);
    for (let r = 0; r <= rowsN; r++) rowOff[r] = util.lowerBound(sp, 0, sp.length, r < rowsN ? off[r] : Infinity);
    st.sel = { ix: sp, rowOff };
    if (sp.length > 0 && s.source !== 'timeline') {
      // Bring them into view: their whole extent, with a margin.
      let lo = Infinity, hi = -Infinity;
      for (const i of sp) { if (m.start[i] < lo) lo = m.start[i]; if (m.end[i] > hi) hi = m.end[i]; }
      const pad = Math.max((hi - lo) * (sp.length === 1 ? 0.5 : 0.08), st.minRange);
      view.set(lo - pad, hi + pad);
      st.selected = sp[0];
      const lead = sp.length > 1 ? `${util.fmtCount(sp.length)} spans (${s.label}) highlighted; N and Shift+N step through them. The first:`
        : s.label !== m.str(m.sigName[m.sig[sp[0]]]) ? `${s.label}:` : undefined;
      details.show(sp[0], lead);
    }
  }

  /** Every span whose group key under s.by is s.key. */
  function highlightGroup(s: Selection) {
    const off = L.off, rowsN = L.rowsN;
    const rowOff = new Int32Array(rowsN + 1);
    const picked: number[] = [];
    for (let r = 0; r < rowsN; r++) {
      rowOff[r] = picked.length;
      for (let i = off[r]; i < off[r + 1]; i++) if (app.groupKeyOfSpan(i, s.by) === s.key) picked.push(i);
    }
    rowOff[rowsN] = picked.length;
    st.sel = { ix: Int32Array.from(picked), rowOff };
    if (s.source !== 'timeline') {
      st.selected = -1;
      details.note(`${util.fmtCount(picked.length)} spans of ${s.label} highlighted. In the timeline, N and Shift+N jump to the next and previous one.`);
    }
  }

  app.onSelect((s: Selection | null) => {
    if (!s) {
      st.sel = null;
      st.selected = -1;
      details.note('Click a span to see its details here.', true);
    } else if (s.spans) highlightSpans(s, s.spans);
    else highlightGroup(s);
    st.schedule();
  });

  return {
    pick(i) {
      st.selected = i;
      const title = m.str(m.sigName[m.sig[i]]);
      details.show(i);
      app.select({ by: 'op', key: m.sigName[m.sig[i]], label: title, source: 'timeline' });
    },
    jump(dir) {
      const sel = st.sel;
      if (!sel || sel.ix.length === 0) return;
      const mid = (st.viewS + st.viewE) / 2;
      const centre = (i: number) => (m.start[i] + m.end[i]) / 2;
      let best = -1;
      for (const i of sel.ix) {
        const c = centre(i);
        if (dir > 0 ? c > mid + 1e-6 : c < mid - 1e-6) {
          if (best < 0 || (dir > 0 ? c < centre(best) : c > centre(best))) best = i;
        }
      }
      if (best < 0) {
        // Wrap around: the first call (or the last, going back).
        for (const i of sel.ix) if (best < 0 || (dir > 0 ? m.start[i] < m.start[best] : m.start[i] > m.start[best])) best = i;
      }
      const c = centre(best);
      const len = Math.max(st.viewE - st.viewS, (m.end[best] - m.start[best]) * 3, st.minRange);
      view.set(c - len / 2, c + len / 2);
      details.show(best);
      st.selected = best;
    },
  };
}
