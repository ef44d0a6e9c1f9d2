/**
 * The live page's store keeps its flame rows as batches come (src/exporters/live/client/store.ts): after every batch
 * its layout is the one the dashboard's packer makes of the same spans from scratch (groupByLane and nestLanes over
 * the spans still in the window, in arrival order). Batches as the server sends them: a lane's spans in end order
 * (a parent after its children, often in a later batch), lanes interleaved, the window moving on.
 * (A pure test of the page's code; it sits with the live tests, whose files the live view owns.)
 */
import { describe, expect, it } from 'vitest';
import { liveStore } from '../../src/exporters/live/client/store';
import type { Util } from '../../src/exporters/html/client/types';
import { groupByLane, nestLanes } from '../../src/exporters/html/pack/rows';
import type { BatchMessage } from '../../src/exporters/live/protocol';
import { encodeColumn } from '../../src/exporters/live/columns';

interface S { id: number; start: number; end: number; lane: number; sig: number }

/** A seeded generator, so a failure repeats. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

/** Properly nested spans of one lane from t0 on: trees of random depth and width, listed in end order (children first). */
function laneSpans(rand: () => number, lane: number, t0: number, until: number, ids: { next: number }): S[] {
  const out: S[] = [];
  const tree = (start: number, depth: number): number => {
    let t = start + rand() * 50 + 1;
    const kids = depth < 4 ? Math.floor(rand() * 4) : 0;
    const id = ids.next++;
    for (let k = 0; k < kids; k++) t = tree(t, depth + 1) + rand() * 20 + 0.5;
    const end = t + rand() * 80 + 1;
    out.push({ id, start, end, lane, sig: depth });
    return end;
  };
  let t = t0;
  while (t < until) t = tree(t, 0) + rand() * 100 + 0.5;
  return out;
}

/** What the store reads of the page's helpers: base64 into a buffer of its own (makeUtil reads the page's styles, which Node has not). */
const NODE_UTIL = { fromBase64: (s: string) => new Uint8Array(Buffer.from(s, 'base64')) } as Util;

const col = (values: number[], delta = false) => encodeColumn(Float64Array.from(values), values.length, delta);

function batch(spans: S[], from: number, to: number, first: boolean, lanes: number): BatchMessage {
  const n = spans.length;
  return {
    reset: first,
    session: first ? { name: 't', meta: {} as BatchMessage['session'] extends infer H ? H extends { meta: infer M } ? M : never : never, kinds: ['eval', 'layer', 'primitive', 'sync', 'user'], categories: [] } : null,
    from, to,
    tables: {
      strings: first ? ['a'] : [],
      sigs: first ? { kind: [4, 4, 4, 4, 4], name: [0, 0, 0, 0, 0], cat: [0, 0, 0, 0, 0], shapes: [0, 0, 0, 0, 0], dtype: [0, 0, 0, 0, 0], flops: [null, null, null, null, null], bytes: [null, null, null, null, null] }
        : { kind: [], name: [], cat: [], shapes: [], dtype: [], flops: [], bytes: [] },
      lanes: first ? Array.from({ length: lanes }, (_, k) => ({ device: 'cpu', thread: 100 - k })) : [],
      layers: [],
    },
    n,
    cols: {
      id: col(spans.map((s) => s.id), true), start: col(spans.map((s) => s.start), true), end: col(spans.map((s) => s.end), true),
      sig: col(spans.map((s) => s.sig)), layer: col(spans.map(() => 0)), lane: col(spans.map((s) => s.lane)),
    },
    memN: 0, mem: { t: col([]), live: col([]) }, memSource: 0,
    rates: { what: 'evals', bucketNs: 1, values: [], latencies: [] },
    stats: {} as BatchMessage['stats'],
    advice: null,
    dropped: 0,
    cut: -Infinity,
    primitives: 0,
    groups: { sig: [], layer: [], lane: [], calls: [], total: [] },
    busy: { ns: 0, coveredNs: 0 },
  };
}

/** The packer's layout of these spans (arrival order), as rows of ids. */
function reference(spans: S[], lanes: number) {
  const compact = new Int32Array(lanes).fill(-1);
  const info: { thread: number; first: number; lane: number }[] = [];
  const lane = new Uint16Array(spans.length);
  spans.forEach((s, i) => {
    let c = compact[s.lane];
    if (c < 0) { compact[s.lane] = c = info.length; info.push({ thread: 100 - s.lane, first: s.start, lane: s.lane }); }
    else if (s.start < info[c].first) info[c].first = s.start;
    lane[i] = c;
  });
  const scan = { n: spans.length, start: spans.map((s) => s.start), end: spans.map((s) => s.end), lane, lanes: { info } };
  const { laneOrder, laneStart, byLane } = groupByLane(scan);
  const { depth, laneRows } = nestLanes(scan, laneStart, byLane);
  const rows: number[][] = [];
  const lanesOut: number[] = [];
  laneOrder.forEach((c, rank) => {
    lanesOut.push(100 - info[c].lane);
    const mine: number[][] = Array.from({ length: laneRows[rank] }, () => []);
    for (let k = laneStart[rank]; k < laneStart[rank + 1]; k++) mine[depth[byLane[k]]].push(spans[byLane[k]].id);
    rows.push(...mine);
  });
  return { threads: lanesOut, rows };
}

describe('live page store', () => {
  // Fractional times go as f64 columns; whole ns (the recorder's) as narrow differences, with the jumps listed apart.
  for (const [seed, scale] of [[1, 0], [7, 0], [42, 1000], [1234, 1000]]) {
    it(`lays out each batch as the packer would from scratch (seed ${seed}, ${scale ? 'whole ns' : 'fractional times'})`, () => {
      const rand = rng(seed);
      const LANES = 3;
      const ids = { next: 1 };
      // Lanes start at different times, so their order by first span changes as the window moves.
      const k = scale || 1;
      const all = Array.from({ length: LANES }, (_, l) => laneSpans(rand, l, l * 700, 20_000, ids)).flat()
        .map((s) => (scale ? { ...s, start: Math.round(s.start * scale), end: Math.round(s.end * scale) } : s));
      // A batch holds what ended in its stretch of time; within it, lanes interleave and keep their end order.
      all.sort((a, b) => a.end - b.end);
      const store = liveStore(NODE_UTIL);
      const windowNs = 3000 * k;
      const seen: S[] = [];
      let at = 0, batches = 0;
      for (let t = 500 * k; at < all.length; t += (150 + rand() * 600) * k) {
        const part: S[] = [];
        while (at < all.length && all[at].end <= t) part.push(all[at++]);
        // Lanes come in turn within a batch, as the server sends a chunk's primitives and then its JS-side spans.
        part.sort((a, b) => a.lane - b.lane);
        seen.push(...part);
        const from = t - windowNs;
        store.append(batch(part, from, t, batches === 0, LANES));
        batches++;
        const kept = seen.filter((s) => s.end >= from);
        const ref = reference(kept, LANES);
        const { head, columns } = store.layout();
        const idCol = columns.get('idVal') as Float64Array;
        const rows = head.rowLane.map((_, r) => Array.from(idCol.subarray(head.rowOffset[r], head.rowOffset[r + 1])));
        expect(head.lanes.map((l) => l.thread)).toEqual(ref.threads);
        expect(rows).toEqual(ref.rows);
        expect(head.spanCount).toBe(kept.length);
        // Start and duration sit beside their id.
        const byId = new Map(kept.map((s) => [s.id, s]));
        const start = columns.get('start') as Float64Array, dur = columns.get('dur') as Float32Array;
        for (let p = 0; p < head.spanCount; p++) {
          const s = byId.get(idCol[p])!;
          expect(start[p]).toBe(s.start);
          expect(dur[p]).toBe(Math.fround(s.end - s.start));
        }
      }
      expect(batches).toBeGreaterThan(20);
    });
  }
});
