/** Counter tracks' columns (counterT, counterV, shared by all tracks) and their head entries. */
import type { Trace } from '../../../core/model/trace';
import type { HeadCounter } from '../format';
import { finiteNum, str } from './common';

/** Points kept per counter track (a sensor sampled at 100 Hz for an hour is reduced), and at most this many tracks. */
export const COUNTER_POINT_CAP = 30_000;
export const COUNTER_TRACK_CAP = 32;

export interface PackedCounters {
  heads: HeadCounter[];
  t: Float64Array;
  v: Float64Array;
}

/**
 * Counter tracks (CPU frequency, temperature...): finite samples in time order, each track above the cap reduced to
 * its min and max per time bucket (in time order), like the memory curve. All tracks share two columns.
 */
export function packCounters(trace: Trace): PackedCounters | null {
  const tracks = Array.isArray(trace.counters) ? trace.counters.slice(0, COUNTER_TRACK_CAP) : [];
  const heads: HeadCounter[] = [];
  const ts: number[] = [];
  const vs: number[] = [];
  for (const c of tracks) {
    if (!c || typeof c !== 'object' || !Array.isArray(c.samples)) continue;
    let pts: [number, number][] = c.samples.filter((x): x is [number, number] => Array.isArray(x) && finiteNum(x[0]) && finiteNum(x[1]));
    if (pts.length === 0) continue;
    for (let i = 1; i < pts.length; i++) {
      if (pts[i][0] < pts[i - 1][0]) { pts = pts.slice().sort((a, b) => a[0] - b[0]); break; }
    }
    let min = Infinity, max = -Infinity;
    for (const [, v] of pts) { if (v < min) min = v; if (v > max) max = v; }
    const offset = ts.length;
    if (pts.length <= COUNTER_POINT_CAP) {
      for (const [t, v] of pts) { ts.push(t); vs.push(v); }
    } else reduceTrack(pts, ts, vs);
    heads.push({ name: str(c.name, 'counter'), unit: str(c.unit), offset, count: ts.length - offset, sourceCount: pts.length, min, max });
  }
  return heads.length ? { heads, t: Float64Array.from(ts), v: Float64Array.from(vs) } : null;
}

/** Appends each time bucket's min and max sample (one when they are the same), in time order. */
function reduceTrack(pts: [number, number][], ts: number[], vs: number[]): void {
  const buckets = COUNTER_POINT_CAP >> 1;
  const lo = pts[0][0], width = Math.max(pts[pts.length - 1][0] - lo, 1) / buckets;
  let k = 0;
  while (k < pts.length) {
    const b = Math.min(buckets - 1, Math.floor((pts[k][0] - lo) / width));
    let iMin = k, iMax = k, j = k;
    for (; j < pts.length && Math.min(buckets - 1, Math.floor((pts[j][0] - lo) / width)) === b; j++) {
      if (pts[j][1] < pts[iMin][1]) iMin = j;
      if (pts[j][1] > pts[iMax][1]) iMax = j;
    }
    for (const i of iMin === iMax ? [iMin] : [Math.min(iMin, iMax), Math.max(iMin, iMax)]) { ts.push(pts[i][0]); vs.push(pts[i][1]); }
    k = j;
  }
}
