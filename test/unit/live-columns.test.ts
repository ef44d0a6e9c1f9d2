/**
 * The live page's wire columns (src/exporters/live/columns.ts): whatever a column holds, the page's decoding
 * (the live store's, over a batch of one column) gives back every value exactly, in the narrowest type that fits.
 */
import { describe, expect, it } from 'vitest';
import { encodeColumn } from '../../src/exporters/live/columns';
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
