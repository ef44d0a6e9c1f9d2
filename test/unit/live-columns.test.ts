/**
 * The live page's wire columns (src/exporters/live/columns.ts): whatever a column holds, the page's decoding
 * (the live store's, over a batch of one column) gives back every value exactly, in the narrowest type that fits.
 */
import { describe, expect, it } from 'vitest';
import { encodeColumn } from '../../src/exporters/live/columns';
import { reduceMemory } from '../../src/exporters/live/batch';
import { liveStore } from '../../src/exporters/live/client/store';
import type { Util } from '../../src/exporters/html/client/types';
import type { BatchMessage, WireColumn } from '../../src/exporters/live/protocol';

const NODE_UTIL = { fromBase64: (s: string) => new Uint8Array(Buffer.from(s, 'base64')) } as Util;

/** The values the page gets from a column: as the memory times of a batch (the store keeps them as they come). */
function roundTrip(col: WireColumn, n: number): number[] {
  const store = liveStore(NODE_UTIL);
  const empty = encodeColumn(new Float64Array(0), 0);
  const live = encodeColumn(new Float64Array(n).fill(1), n);
  store.append({
    reset: true, session: { name: 't', meta: {} as never, kinds: [], categories: [] }, from: -Infinity, to: 0,
    tables: { strings: [], sigs: { kind: [], name: [], cat: [], shapes: [], dtype: [], flops: [], bytes: [] }, lanes: [], layers: [] },
    n: 0, cols: { id: empty, start: empty, end: empty, sig: empty, layer: empty, lane: empty },
    memN: n, mem: { t: col, live }, memSource: n, rates: { what: 'evals', bucketNs: 1, values: [], latencies: [] }, stats: {} as never, advice: null, dropped: 0,
    cut: -Infinity, primitives: 0, groups: { sig: [], layer: [], lane: [], calls: [], total: [] }, busy: { ns: 0, coveredNs: 0 },
  } satisfies BatchMessage);
  return Array.from(store.layout().columns.get('memT') as Float64Array);
}

const cases: [string, number[], boolean, string][] = [
  ['small table numbers', [0, 3, 7, 255, 1], false, 'u8'],
  ['larger numbers from a base', [70_000, 70_001, 130_000], false, 'u16'],
  ['ns times in order, as differences', Array.from({ length: 100 }, (_, i) => 5e9 + i * 1500), true, 'i16'],
  ['ns times with a few jumps back, listed apart', Array.from({ length: 100 }, (_, i) => 5e9 + (i % 40) * 100 + (i >= 40 ? 1e9 : 0)), true, 'i8'],
  ['ids far apart (token spans above the recorder ids)', [...Array.from({ length: 40 }, (_, i) => 100 + i), 2 ** 48 + 1, 2 ** 48 + 2], true, 'i8'],
  ['fractional times', [0.5, 1.25, 3.125], true, 'f64'],
  ['values past the widest integer type', Array.from({ length: 20 }, (_, i) => (i % 2) * 2 ** 40), false, 'f64'],
  ['negative values', [-5, -3, 10], false, 'u8'],
  ['empty', [], false, 'f64'],
];

describe('live wire columns', () => {
  for (const [what, values, delta, type] of cases) {
    it(`${what}: ${type}, exact`, () => {
      const col = encodeColumn(Float64Array.from(values), values.length, delta);
      expect(col.type).toBe(type);
      expect(roundTrip(col, values.length)).toEqual(values);
    });
  }
});

describe('live memory points', () => {
  it('keep the lowest, highest and last point of each time bucket, in time order, so the peak and the latest value stay', () => {
    // A saw over 10 buckets of 100 ns, a point every 7 ns, with one spike.
    const n = 140;
    const t = Float64Array.from({ length: n }, (_, i) => i * 7);
    const live = Float64Array.from({ length: n }, (_, i) => 1000 + (i % 9) * 10 + (i === 77 ? 5000 : 0));
    const r = reduceMemory(t, live, n, 100);
    const times = Array.from(r.t);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const buckets = new Map<number, number[]>();
    times.forEach((x, k) => buckets.set(Math.floor(x / 100), [...(buckets.get(Math.floor(x / 100)) ?? []), r.live[k]]));
    expect(buckets.size).toBe(10);
    for (const [b, kept] of buckets) {
      const inBucket = Array.from(live).filter((_, i) => Math.floor(t[i] / 100) === b);
      expect(kept.length).toBeLessThanOrEqual(3);
      expect(Math.max(...kept)).toBe(Math.max(...inBucket));
      expect(Math.min(...kept)).toBe(Math.min(...inBucket));
      expect(kept[kept.length - 1]).toBe(inBucket[inBucket.length - 1]);
    }
    expect(Math.max(...r.live)).toBe(6000 + 5 * 10);
    expect(r.n).toBeLessThan(n / 3);
  });
});
