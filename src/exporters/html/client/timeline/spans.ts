/**
 * Drawing the spans: lane headers, every flame row with level of detail, the selection's spans outlined on top of a
 * dimmed trace, and the hovered and selected span's outline.
 * Level of detail: in each row, a span narrower than 3 px is merged with every span that starts in the same pixel
 * (found by binary search, not by visiting them), so a frame costs O(visible pixels × log n) however many spans the
 * trace has.
 * Self-contained (no imports at run time): its source text is embedded in the report.
 */
import type { Theme } from '../types';
import type { SpanPainter, TimelineState } from './types';

export function timelineSpans(st: TimelineState): SpanPainter {
  const { util, model: m, head } = st.app;
  const L = st.layout;
  const ROW = L.ROW;
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
    const yy = L.rowY[r];
    if (yy + ROW > L.totalH) return;
    const S = m.start, E = m.end;
    const viewS = st.viewS, viewE = st.viewE, W = st.W;
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

  return {
    draw(ctx: CanvasRenderingContext2D, th: Theme) {
      const scale = st.W / (st.viewE - st.viewS);
      head.lanes.forEach((lane, li) => {
        ctx.fillStyle = th.fg;
        ctx.font = '600 11px system-ui, sans-serif';
        ctx.fillText(`${lane.device.toUpperCase()} · thread ${lane.thread}`, 4, L.laneY[li] + L.LANE_HEAD / 2);
      });
      const sel = st.sel, off = L.off;
      ctx.globalAlpha = sel ? 0.28 : 1;
      for (let r = 0; r < L.rowsN; r++) drawRow(ctx, th, r, scale, null, off[r], off[r + 1]);
      ctx.globalAlpha = 1;
      if (sel) for (let r = 0; r < L.rowsN; r++) drawRow(ctx, th, r, scale, sel.ix, sel.rowOff[r], sel.rowOff[r + 1], th.sel);

      for (const [i, color] of [[st.selected, th.sel], [st.hover, th.fg]] as [number, string][]) {
        if (i < 0) continue;
        const r = L.rowOf(i);
        const x0 = Math.max(-2, (m.start[i] - st.viewS) * scale), x1 = Math.min(st.W + 2, (m.end[i] - st.viewS) * scale);
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x0, L.rowY[r] - 0.5, Math.max(2, x1 - x0), ROW);
      }
    },
  };
}
