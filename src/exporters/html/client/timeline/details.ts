/**
 * What the timeline says about a span: which span is under the pointer, its description (the tooltip's and the
 * details panel's rows) and the details panel itself.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { TimelineDetails, TimelineState } from './types';

export function timelineDetails(st: TimelineState, root: HTMLElement): TimelineDetails {
  const { util, model: m, head } = st.app;
  const L = st.layout;
  const panel = root.querySelector('.tl-details') as HTMLElement;

  function rowAtY(yy: number) {
    for (let r = 0; r < L.rowsN; r++) if (yy >= L.rowY[r] && yy < L.rowY[r] + L.ROW) return r;
    return -1;
  }

  function hitTest(x: number, yy: number): { span: number; inPixel: number } | null {
    const r = rowAtY(yy);
    if (r < 0) return null;
    const scale = st.W / (st.viewE - st.viewS);
    const t = st.viewS + x / scale;
    const tol = 2 / scale;
    const lo = L.off[r], hi = L.off[r + 1];
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
    const lane = head.lanes[head.rowLane[L.rowOf(i)]];
    rows.push(['Kind', kind === 'primitive' ? `primitive · ${head.categories[m.sigCat[s]]?.label ?? ''}` : kind]);
    if (m.layer[i]) rows.push(['Layer', m.str(head.layers[m.layer[i] - 1])]);
    rows.push(['Duration', util.fmtNs(m.dur[i])]);
    if (m.self[i] < m.dur[i]) rows.push(['Self', util.fmtNs(m.self[i])]);
    rows.push(['Start', `+${util.fmtNs(m.start[i] - st.span0)}`]);
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
      if (secs > 0 && f === f && m.ceilings) rows.push(['Ceilings', m.ceilings.text]);
    }
    rows.push(['Lane', `${lane.device} · thread ${lane.thread}`]);
    const pass = m.passOf(i);
    if (pass) rows.push(['Pass', pass.warmup ? `${pass.pass} (warm-up: left out of the statistics)` : String(pass.pass)]);
    const id = m.spanId(i);
    if (id !== null) rows.push(['Span id', String(id)]);
    if (inPixel > 1) rows.push(['Here', `${util.fmtCount(inPixel)} spans share this pixel: zoom in to see them`]);
    return rows;
  }

  return {
    hitTest,
    describe,
    show(i, lead) {
      const dl = util.el('dl');
      for (const [k, v] of describe(i, 1)) dl.append(util.el('dt', {}, k), util.el('dd', {}, v));
      panel.replaceChildren(...(lead ? [util.el('p', { class: 'lead' }, lead)] : []), util.el('strong', {}, m.str(m.sigName[m.sig[i]])), dl);
    },
    note(text, muted = false) {
      panel.replaceChildren(util.el('span', muted ? { class: 'muted' } : {}, text));
    },
    locate(name) {
      const scale = st.W / (st.viewE - st.viewS);
      for (let r = 0; r < L.rowsN; r++) {
        for (let i = L.off[r]; i < L.off[r + 1]; i++) {
          if (m.str(m.sigName[m.sig[i]]) !== name) continue;
          const x0 = Math.max(0, (m.start[i] - st.viewS) * scale), x1 = Math.min(st.W, (m.end[i] - st.viewS) * scale);
          if (x1 - x0 >= 4) return { x: (x0 + x1) / 2, y: L.rowY[r] + L.ROW / 2 };
        }
      }
      return null;
    },
  };
}
