/** The memory curve's columns (memT, memLive) and its head entry. */
import type { Trace } from '../../../core/model/trace';
import type { HeadMemory } from '../format';
import { finiteNum } from './common';

/** Above this many memory events the curve is reduced to per-bucket extremes (the exact peak is kept). */
export const MEMORY_POINT_CAP = 120_000;

export interface PackedMemory {
  head: HeadMemory;
  t: Float64Array;
  live: Float64Array;
}

/**
 * Memory curve: sorted by time; above the cap, each time bucket keeps its min, max and last point in time order.
 * Recorders write events in time order, so the common case is one pass over the event objects straight into the
 * buckets; out-of-order input is copied and sorted first.
 */
export function packMemory(trace: Trace): PackedMemory | null {
  const events = Array.isArray(trace.memory) ? trace.memory : [];
  let first = -1, last = -1;
  for (let i = 0; i < events.length && first < 0; i++) if (finiteNum(events[i]?.t) && finiteNum(events[i]?.live)) first = i;
  for (let i = events.length - 1; i >= 0 && last < 0; i--) if (finiteNum(events[i]?.t) && finiteNum(events[i]?.live)) last = i;
  if (first < 0) return null;
  const big = events.length > MEMORY_POINT_CAP;
  const buckets = Math.floor(MEMORY_POINT_CAP / 3);
  const lo = events[first].t, hi = events[last].t;
  const width = Math.max(hi - lo, 1) / buckets;
  const outT = new Float64Array(big ? buckets * 3 : events.length);
  const outL = new Float64Array(big ? buckets * 3 : events.length);
  let m = 0;
  let count = 0;
  let peak = -Infinity, peakT = 0;
  // Current bucket: its min, max and last points.
  let cur = -1, minT = 0, minL = 0, maxT = 0, maxL = 0, lastT = 0, lastL = 0, minI = 0, maxI = 0, lastI = 0;
  // Up to three distinct points, in event order: min and max in order, then the last point, which comes at or after
  // both. Written without arrays or a sort: a bucket a few events wide is flushed per few events.
  const put = (t: number, l: number) => {
    outT[m] = t;
    outL[m] = l;
    m++;
  };
  const flush = () => {
    if (cur < 0) return;
    if (minI === maxI) put(minT, minL);
    else if (minI < maxI) { put(minT, minL); put(maxT, maxL); }
    else { put(maxT, maxL); put(minT, minL); }
    if (lastI !== minI && lastI !== maxI) put(lastT, lastL);
  };
  let prevT = -Infinity;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const t = e?.t, live = e?.live;
    if (!finiteNum(t) || !finiteNum(live)) continue;
    if (t < prevT || t > hi || t < lo) return packMemorySorted(events);
    prevT = t;
    count++;
    if (live > peak) { peak = live; peakT = t; }
    if (!big) { outT[m] = t; outL[m] = live; m++; continue; }
    const b = Math.min(buckets - 1, Math.floor((t - lo) / width));
    if (b !== cur) {
      flush();
      cur = b;
      minT = maxT = t; minL = maxL = live; minI = maxI = i;
    } else {
      if (live < minL) { minL = live; minT = t; minI = i; }
      if (live > maxL) { maxL = live; maxT = t; maxI = i; }
    }
    lastT = t; lastL = live; lastI = i;
  }
  if (big) flush();
  const downsampled = big && m < count;
  return { head: { count: m, sourceCount: count, downsampled, peak, peakT }, t: outT.slice(0, m), live: outL.slice(0, m) };
}

/** The rare out-of-order case: copy, sort by time (stable), then bucket as above. */
function packMemorySorted(events: Trace['memory']): PackedMemory | null {
  const valid = events.filter((e) => finiteNum(e?.t) && finiteNum(e?.live));
  const sorted = valid.map((e, i) => ({ t: e.t, live: e.live, i })).sort((a, b) => a.t - b.t || a.i - b.i);
  return packMemory({ memory: sorted } as unknown as Trace);
}
