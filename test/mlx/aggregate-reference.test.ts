// The one aggregation (src/core/analysis/aggregate.ts) against a straightforward reference written here: string keys
// in a Map, the layer rule through span-facts layerOf with a plain id lookup, busy time as the union of every
// interval sorted at once. Compared field by field on real recorded traces (the decode loop's asyncEval + item(),
// and profile() with warm-up and measured passes), in trace order and with the spans reversed, which takes the
// aggregation's path for primitives out of start order. Times are integer nanoseconds, so sums agree exactly.
// (In these traces primitives fill the time after an asyncEval returns, so stretching it to its work's end changes
// nothing here: test/unit/aggregate.test.ts checks that rule on traces made for it.)
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profile, registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { createLlama, generate, TINY_LLAMA } from '../../src/demo/llama';
import { aggregate, shapeSignature, type AggregateKey, type AggregateRow, type Aggregation } from '../../src/core/analysis/aggregate';
import { passLayout } from '../../src/core/analysis/passes';
import { isForcing, layerOf } from '../../src/core/model/span-facts';
import type { Span, Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');

/** A row in plain terms: the sample as its span id, slot times as an array, devices sorted. */
type RefRow = Omit<AggregateRow, 'sample' | 'slotNs' | 'devices'> & { sample: number; slotNs: number[]; devices: string[] };

/** Length of the union of closed intervals, by sorting them all and merging. */
function unionNs(iv: [number, number][]): number {
  const sorted = [...iv].sort((a, b) => a[0] - b[0]);
  let ns = 0;
  let lo = NaN;
  let hi = NaN;
  for (const [s, e] of sorted) {
    if (Number.isNaN(lo)) [lo, hi] = [s, e];
    else if (s > hi) {
      ns += hi - lo;
      [lo, hi] = [s, e];
    } else hi = Math.max(hi, e);
  }
  return Number.isNaN(lo) ? 0 : ns + (hi - lo);
}

function reference(trace: Trace, by: readonly AggregateKey[], passes: 'measured' | 'all') {
  const layout = passes === 'measured' ? passLayout(trace) : null;
  const slots = layout ? layout.slots : 1;
  const slotOf = (s: Span) => (layout ? layout.slotOf(s) : 0);
  const byId = new Map(trace.spans.map((s) => [s.id, s]));
  const layer = (s: Span) => layerOf(s, (id) => byId.get(id));
  const ancestors = function* (s: Span) {
    for (let p = s.parentId != null ? byId.get(s.parentId) : undefined; p; p = p.parentId != null ? byId.get(p.parentId) : undefined) yield p;
  };
  const rows = new Map<string, RefRow>();
  const primitive = new Array(slots).fill(0);
  const evalNs = new Array(slots).fill(0);
  const uncosted = new Set<string>();
  let primitiveCount = 0;
  let evalCount = 0;
  // Each forcing span's interval: from its start to the latest end of itself and the primitives it owns.
  const forcingEnd = new Map<Span, number>();
  for (const s of trace.spans) if (isForcing(s) && slotOf(s) >= 0) forcingEnd.set(s, Math.max(s.start, s.end));
  const prims: [number, number, number][] = [];
  for (const s of trace.spans) {
    const slot = slotOf(s);
    if (slot < 0) continue;
    if (s.kind === 'eval' && ![...ancestors(s)].some((p) => p.kind === 'eval')) {
      evalCount++;
      evalNs[slot] += s.end - s.start;
    }
    if (s.kind !== 'primitive') continue;
    const d = s.end - s.start;
    primitiveCount++;
    primitive[slot] += d;
    if (s.flops == null) uncosted.add(s.name);
    prims.push([slot, s.start, Math.max(s.start, s.end)]);
    const owner = [...ancestors(s)].find(isForcing);
    if (owner && forcingEnd.has(owner)) forcingEnd.set(owner, Math.max(forcingEnd.get(owner)!, Math.max(s.start, s.end)));
    const fields = { op: s.name, layer: layer(s), device: s.device, shapes: shapeSignature(s) };
    const key = by.map((k) => fields[k]).join('\u0000');
    let r = rows.get(key);
    if (!r) {
      r = {
        key, op: by.includes('op') ? s.name : '', layer: by.includes('layer') ? fields.layer : '', device: by.includes('device') ? s.device : '',
        sample: s.id, calls: 0, totalNs: 0, slotNs: new Array(slots).fill(0), flops: 0, flopsNs: 0, costed: 0, bytes: 0, bytesNs: 0,
        bytesKnown: 0, intensityFlops: 0, intensityBytes: 0, outputBytes: 0, devices: [],
      };
      rows.set(key, r);
    }
    r.calls++;
    r.totalNs += d;
    r.slotNs[slot] += d;
    if (!r.devices.includes(s.device)) r.devices.push(s.device);
    if (s.flops != null) [r.flops, r.flopsNs, r.costed] = [r.flops + s.flops, r.flopsNs + d, r.costed + 1];
    if (s.bytes != null) [r.bytes, r.bytesNs, r.bytesKnown] = [r.bytes + s.bytes, r.bytesNs + d, r.bytesKnown + 1];
    if (s.flops != null && s.bytes != null) [r.intensityFlops, r.intensityBytes] = [r.intensityFlops + s.flops, r.intensityBytes + s.bytes];
    for (const o of s.outputs) r.outputBytes += o.bytes;
  }
  const busy = new Array(slots).fill(0);
  let coveredNs = 0;
  for (let slot = 0; slot < slots; slot++) {
    const ps = prims.filter((p) => p[0] === slot).map((p): [number, number] => [p[1], p[2]]);
    const fs = [...forcingEnd].filter(([s]) => slotOf(s) === slot).map(([s, end]): [number, number] => [s.start, end]);
    coveredNs += unionNs(ps);
    busy[slot] = unionNs([...ps, ...fs]);
  }
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    slots, rows: [...rows.values()].map((r) => ({ ...r, devices: r.devices.sort() })), primitiveCount,
    primitive: { ns: sum(primitive), slotNs: primitive }, evalCount, eval: { ns: sum(evalNs), slotNs: evalNs },
    forcingCount: forcingEnd.size, busy: { ns: sum(busy), slotNs: busy }, coveredNs, uncosted: [...uncosted].sort(),
  };
}

/** The aggregation in the reference's terms: plain arrays, the sample as its span id, devices sorted. */
function plain(a: Aggregation) {
  const slotTotal = (t: { ns: number; slotNs: Float64Array }) => ({ ns: t.ns, slotNs: [...t.slotNs] });
  return {
    slots: a.slots,
    rows: a.rows.map((r) => ({
      key: r.key, op: r.op, layer: r.layer, device: r.device, sample: r.sample.id, calls: r.calls, totalNs: r.totalNs,
      slotNs: [...r.slotNs], flops: r.flops, flopsNs: r.flopsNs, costed: r.costed, bytes: r.bytes, bytesNs: r.bytesNs,
      bytesKnown: r.bytesKnown, intensityFlops: r.intensityFlops, intensityBytes: r.intensityBytes, outputBytes: r.outputBytes,
      devices: [...r.devices].sort(),
    })),
    primitiveCount: a.primitiveCount, primitive: slotTotal(a.primitive), evalCount: a.evalCount, eval: slotTotal(a.eval),
    forcingCount: a.forcingCount, busy: slotTotal(a.busy), coveredNs: a.coveredNs, uncosted: a.uncosted,
  };
}

const KEYS: AggregateKey[][] = [[], ['op'], ['layer'], ['device'], ['shapes'], ['layer', 'op', 'shapes'], ['op', 'device', 'layer']];

let inst: MlxInstrumentation;
const traces: Record<string, Trace> = {};

beforeAll(async () => {
  inst = registerMlxInstrumentation();
  const model = createLlama(mlx, TINY_LLAMA);
  const prompt = Array.from({ length: 8 }, (_, i) => (i * 7 + 3) % TINY_LLAMA.vocab);
  generate(mlx, model, { prompt, tokens: 4 });
  inst.takeTrace();
  generate(mlx, model, { prompt, tokens: 12 });
  traces.decode = inst.takeTrace();
  traces.passes = await profile(() => generate(mlx, model, { prompt, tokens: 4 }), { name: 'passes', passes: 3, warmup: 1 });
  for (const name of Object.keys(traces)) traces[`${name} reversed`] = { ...traces[name], spans: [...traces[name].spans].reverse() };
}, 120_000);

afterAll(() => inst?.disable());

describe('aggregate equals the reference computation on real traces', () => {
  it('records what the comparison needs: asyncEval and item(), layers, integer times, passes', () => {
    const d = traces.decode;
    expect(d.spans.some((s) => s.kind === 'eval' && s.name === 'asyncEval')).toBe(true);
    expect(d.spans.some((s) => s.kind === 'sync')).toBe(true);
    expect(d.spans.filter((s) => s.kind === 'primitive').length).toBeGreaterThan(500);
    for (const t of Object.values(traces)) for (const s of t.spans) expect(Number.isInteger(s.start) && Number.isInteger(s.end)).toBe(true);
    expect(passLayout(traces.passes).slots).toBe(3);
    // Enough distinct rows that the aggregation's row table grows several times.
    expect(aggregate(d, { by: ['layer', 'op', 'shapes'] }).rows.length).toBeGreaterThan(300);
  });

  for (const name of ['decode', 'passes', 'decode reversed', 'passes reversed']) {
    for (const passes of ['all', 'measured'] as const) {
      it(`${name}, passes: ${passes}, every key`, () => {
        const t = traces[name];
        for (const by of KEYS) {
          const want = reference(t, by, passes);
          const got = plain(aggregate(t, { by, passes }));
          expect({ by, ...got }).toEqual({ by, ...want });
          const totals = aggregate(t, { by, passes, rows: false });
          expect([totals.rows, totals.uncosted, totals.busy.ns, totals.coveredNs, totals.primitiveCount]).toEqual([[], [], want.busy.ns, want.coveredNs, want.primitiveCount]);
        }
      });
    }
  }
});
