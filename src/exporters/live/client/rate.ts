/**
 * The live page's running rate chart: tokens/s over the window when the app generates, evals/s
 * otherwise, one bar per bucket, newest on the right.
 * Self-contained (no imports at run time): its source text is embedded in the page.
 */
import type { Util } from '../../html/client/types';
import type { RateSeries } from '../protocol';

export function liveRate(canvas: HTMLCanvasElement, rates: RateSeries, util: Util): void {
  const H = 120, ML = 52, MR = 10, MT = 18, MB = 20;
  const { ctx, w: W } = util.fitCanvas(canvas, H);
  const v = util.cssVar;
  ctx.fillStyle = v('--bg');
  ctx.fillRect(0, 0, W, H);
  const vals = rates.values;
  const n = vals.length;
  let max = 0;
  for (const x of vals) if (x > max) max = x;
  const top = max > 0 ? max * 1.15 : 1;
  const unit = rates.what === 'tokens' ? 'tokens/s' : 'evals/s';
  ctx.font = '600 11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.fillStyle = v('--fg');
  ctx.fillText(`${unit} over the last ${util.fmtNs(n * rates.bucketNs)}`, 4, MT / 2);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = v('--muted');
  for (const f of [0, 0.5, 1]) {
    const y = MT + (1 - f) * (H - MT - MB);
    ctx.fillStyle = v('--grid');
    ctx.fillRect(ML, Math.round(y) + 0.5, W - ML - MR, 1);
    ctx.fillStyle = v('--muted');
    ctx.fillText(f === 0 ? '0' : top * f >= 100 ? (top * f).toFixed(0) : (top * f).toFixed(1), 4, y);
  }
  const bw = (W - ML - MR) / Math.max(1, n);
  ctx.fillStyle = v(rates.what === 'tokens' ? '--token' : '--k-eval');
  for (let i = 0; i < n; i++) {
    const h = (vals[i] / top) * (H - MT - MB);
    ctx.fillRect(ML + i * bw, H - MB - h, Math.max(1, bw - 1), h);
  }
  ctx.fillStyle = v('--muted');
  ctx.fillText(`−${util.fmtNs(n * rates.bucketNs)}`, ML, H - MB / 2);
  ctx.fillText('now', W - MR - 22, H - MB / 2);
  canvas.dataset.what = rates.what;
  canvas.dataset.buckets = String(n);
  canvas.setAttribute('aria-label', `${unit} over the window: latest ${n ? vals[n - 1].toFixed(1) : '0'}, highest ${max.toFixed(1)}`);
}
