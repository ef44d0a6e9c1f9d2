// The JS-level shape memo (op-shapes.ts) on real node-mlx: what a memo hit records is what the getters
// say, a second identical call asks node-mlx nothing, calls it cannot key fall back to the getters.
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { INFO, opShapeStats, opShapesEntries, setOpShapesCap, tensorInfo } from '../../src/instrumentations/mlx/op-shapes';
import type { Span, TensorInfo } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const { core: mx } = require('@frost-beta/mlx');

const inst = registerMlxInstrumentation({ native: false });
afterAll(() => inst.disable());

const isArray = (v: unknown) => typeof v === 'object' && v !== null && typeof (v as any).shape === 'object' && 'dtype' in (v as any);

/** What node-mlx's own getters say about the arrays among v (one level into lists), in order. */
function truth(v: unknown): TensorInfo[] {
  const arrays = isArray(v) ? [v] : Array.isArray(v) ? v.filter(isArray) : [];
  return arrays.map((a: any) => ({ shape: a.shape, dtype: String(a.dtype), bytes: a.nbytes }));
}

/** An argument as a test title shows it: arrays by shape, dtypes by name. */
function label(v: unknown): string {
  if (isArray(v)) return (v as any).shape.join('x');
  if (Array.isArray(v)) return `[${v.map(label).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** Calls op(...args) with the recorder fresh; its one primitive span and the counters' change. */
function record(name: string, op: (...a: any[]) => any, args: unknown[]) {
  inst.takeTrace();
  const before = { ...opShapeStats };
  const out = op(...args);
  const after = { ...opShapeStats };
  const prims = inst.takeTrace().spans.filter((s) => s.kind === 'primitive');
  expect(prims.map((s) => s.name)).toEqual([name]);
  const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before as any)[k]])) as typeof opShapeStats;
  return { out, span: prims[0] as Span, delta };
}

describe('dtypes', () => {
  it('node-mlx hands out one Dtype object per dtype (identity keys hit across arrays)', () => {
    expect(mx.float32).toBe(mx.float32);
    for (const d of ['bool', 'uint8', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'complex64']) {
      const a = mx.zeros([2], mx[d]);
      expect(a.dtype).toBe(mx[d]);
      expect(a.dtype).toBe(a.dtype);
      expect(mx.add(a, a).dtype).toBe(mx[d]);
    }
  });
});

describe('op shape memo', () => {
  const f = (...s: number[]) => mx.ones(s);
  const i32 = mx.ones([3, 2], mx.int32);
  const cases: Array<[string, (...a: any[]) => any, () => unknown[]]> = [
    ['add', mx.add, () => [f(2, 3), f(3)]], // broadcasting
    ['add', mx.add, () => [f(4, 1, 5), f(1, 6, 1)]],
    ['multiply', mx.multiply, () => [i32, 2]], // JS int scalar
    ['multiply', mx.multiply, () => [i32, 2.5]], // JS float scalar
    ['subtract', mx.subtract, () => [1, f(2, 2)]], // scalar first
    ['add', mx.add, () => [mx.ones([2], mx.bool), true]],
    ['exp', mx.exp, () => [f(5, 7)]],
    ['negative', mx.negative, () => [i32]],
    ['sum', mx.sum, () => [f(2, 3, 4), [0, 2], true]], // axes + keepdims
    ['sum', mx.sum, () => [f(2, 3, 4), 1]],
    ['sum', mx.sum, () => [f(2, 3, 4)]],
    ['mean', mx.mean, () => [f(2, 3, 4), -1, false]],
    ['max', mx.max, () => [i32, true]],
    ['reshape', mx.reshape, () => [f(2, 3, 4), [6, 4]]],
    ['reshape', mx.reshape, () => [f(2, 3, 4), 4, -1]],
    ['transpose', mx.transpose, () => [f(2, 3, 4), [2, 0, 1]]],
    ['transpose', mx.transpose, () => [f(2, 3, 4)]],
    ['matmul', mx.matmul, () => [f(5, 8), f(8, 3)]],
    ['matmul', mx.matmul, () => [f(2, 5, 8), f(8, 3)]],
    ['addmm', mx.addmm, () => [f(3), f(4, 5), f(5, 3)]], // inputs in AddMM's order
    // node-mlx 0.0.7 has astype only as an array method (not patched); mx.array(a, dtype) casts
    ['array', mx.array, () => [f(2, 3), mx.float16]],
    ['array', mx.array, () => [i32, mx.bfloat16]],
    ['full', mx.full, () => [[2, 3], 7, mx.int32]],
    ['concatenate', mx.concatenate, () => [[f(2, 3), f(4, 3)], 0]], // a short list of arrays
    ['stack', mx.stack, () => [[f(2, 3), f(2, 3), f(2, 3)], 1]],
    ['split', mx.split, () => [f(4, 6), 3, 1]], // several outputs
    ['split', mx.split, () => [f(10, 2), [2, 7]]],
    ['arange', mx.arange, () => [0, 10, 2]],
    ['zeros', mx.zeros, () => [[3, 4], mx.int32]],
    ['random.uniform', mx.random.uniform, () => [0, 1, [2, 3]]],
  ];

  for (const [name, op, make] of cases) {
    it(`${name}(${make().map(label).join(', ')}): recorded = getters, second call a hit`, () => {
      const args = make();
      const inputs = args.flatMap(truth);
      const first = record(name, op, args);
      const ordered = name === 'addmm' ? [inputs[1], inputs[2], inputs[0]] : inputs;
      expect(first.span.inputs).toEqual(ordered);
      expect(first.span.outputs).toEqual(truth(first.out));
      expect(first.delta.hits + first.delta.misses).toBe(1);

      const second = record(name, op, args);
      expect(second.span.inputs).toEqual(ordered);
      expect(second.span.outputs).toEqual(truth(second.out));
      expect(second.delta).toMatchObject({ hits: 1, misses: 0, unmemoizable: 0, getterReads: 0 });
      // the spans share the memo's arrays
      expect(second.span.outputs).toBe(first.span.outputs);

      // the hit's outputs carry their info: the next op taking them reads no getter
      const outs = Array.isArray(second.out) ? second.out : [second.out];
      for (const o of outs) expect(o[INFO]).toEqual(truth(o)[0]);
      const next = record('exp', mx.exp, [outs[0]]);
      expect(next.delta.getterReads).toBe(next.delta.misses); // exp's own output, on a miss only
      expect(next.span.inputs).toEqual(truth(outs[0]));
    });
  }

  const device = new mx.Device(mx.cpu, 0);
  const fallbacks: Array<[string, string, (...a: any[]) => any, () => unknown[]]> = [
    ['a Device object', 'add', mx.add, () => [f(2, 3), f(3), device]],
    ['a Stream object', 'add', mx.add, () => [f(2, 3), f(3), mx.defaultStream(mx.cpu)]],
    ['a nested list', 'pad', mx.pad, () => [f(2, 3), [[1, 1], [0, 2]]]],
    ['a list of 9 arrays', 'concatenate', mx.concatenate, () => [Array.from({ length: 9 }, () => f(1, 2)), 0]],
    ['a list of 9 numbers', 'reshape', mx.reshape, () => [f(2, 3), [1, 1, 1, 1, 1, 1, 1, 2, 3]]],
  ];
  for (const [what, name, op, make] of fallbacks) {
    it(`a call with ${what} falls back to the getters, both times, and records what they say`, () => {
      const args = make();
      const inputs = args.flatMap(truth);
      for (let i = 0; i < 2; i++) {
        const r = record(name, op, args);
        expect(r.delta).toMatchObject({ hits: 0, misses: 0, unmemoizable: 1 });
        expect(r.delta.getterReads).toBeGreaterThanOrEqual(1); // the new output
        expect(r.span.inputs).toEqual(inputs);
        expect(r.span.outputs).toEqual(truth(r.out));
      }
    });
  }

  it('calls that differ only in a scalar, a list element, a flag or a dtype get their own leaves', () => {
    const a = mx.ones([2, 3, 4]);
    const variants: Array<[string, (...a: any[]) => any, unknown[]]> = [
      ['reshape', mx.reshape, [a, [6, 4]]],
      ['reshape', mx.reshape, [a, [4, 6]]],
      ['reshape', mx.reshape, [a, 6, 4]],
      ['sum', mx.sum, [a, [0], true]],
      ['sum', mx.sum, [a, [0], false]],
      ['sum', mx.sum, [a, [0, 1], false]],
      ['sum', mx.sum, [a, 0]],
      ['full', mx.full, [[2], 1, mx.int32]],
      ['full', mx.full, [[2], 1, mx.float16]],
      ['full', mx.full, [[2], 1]],
      ['full', mx.full, [[2], true]],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [name, op, args] of variants) {
        const r = record(name, op, args);
        expect(r.span.outputs).toEqual(truth(r.out));
        if (round > 0) expect(r.delta.hits).toBe(1);
      }
    }
  });

  it('TensorInfo is interned and frozen; the info property is invisible', () => {
    const a = mx.ones([7, 3]);
    const b = mx.zeros([7, 3]);
    expect(tensorInfo(a)).toBe(tensorInfo(b));
    expect(Object.isFrozen(tensorInfo(a))).toBe(true);
    expect(tensorInfo(mx.ones([7, 3], mx.int32))).not.toBe(tensorInfo(a));
    expect(Object.keys(a)).toEqual([]);
    const keys: string[] = [];
    for (const k in a) keys.push(k);
    expect(keys).not.toContain(String(INFO));
    expect(JSON.stringify({ a: a[INFO] === undefined ? 0 : 1 })).toBe('{"a":1}');
  });

  it('the memo is capped: past the cap it is cleared, and stays exact', () => {
    const old = setOpShapesCap(200);
    try {
      const clears = opShapeStats.clears;
      for (let n = 1; n <= 150; n++) {
        const a = mx.ones([n]);
        const r = record('add', mx.add, [a, a]);
        expect(r.span.outputs).toEqual(truth(r.out));
        expect(opShapesEntries()).toBeLessThanOrEqual(200);
      }
      expect(opShapeStats.clears).toBeGreaterThan(clears);
      // after a clear, a repeated call misses once, then hits again
      const a = mx.ones([3, 3]);
      record('exp', mx.exp, [a]);
      expect(record('exp', mx.exp, [a]).delta.hits).toBe(1);
    } finally {
      setOpShapesCap(old);
    }
  });
});
