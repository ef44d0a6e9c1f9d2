// The native drain writes the recorder's columns in place (native/drain.h Columns). A drain can bring
// more rows than the columns hold: it stops, the recorder grows the columns (primitive and memory
// columns fill at different rates), and it goes on. Nothing may be lost on the way: every primitive
// under the eval that ran it, with its layer and shapes, and every allocator event kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

let inst: MlxInstrumentation;

beforeAll(() => {
  inst = registerMlxInstrumentation();
});
afterAll(() => inst.disable());

describe('the drain into the recorder columns', () => {
  it('brings an eval far bigger than the first columns whole: owners, layers, shapes and memory', () => {
    class Chain extends mlx.nn.Module {
      forward(x: unknown, n: number) {
        let y = x;
        // Alternating shapes: each step has a signature of its own kind, and allocates.
        for (let i = 0; i < n; i++) y = mx.add(y, i % 2 ? x : mx.ones([4]));
        return y;
      }
    }
    const chain = new Chain();
    const x = mx.ones([4]);
    mx.eval(x);
    inst.takeTrace();
    const N = 6000;
    mx.eval(chain.forward(x, N));
    const t = inst.takeTrace();
    const evals = t.spans.filter((s) => s.kind === 'eval');
    expect(evals).toHaveLength(1);
    const prims = t.spans.filter((s) => s.kind === 'primitive');
    // N adds and the Full of each ones([4]) made in the loop (the first columns hold 1,024 rows).
    expect(prims.length).toBeGreaterThanOrEqual(N + N / 2);
    expect(prims.every((s) => s.parentId === evals[0].id)).toBe(true);
    expect(prims.every((s) => s.start >= evals[0].start && s.end <= evals[0].end)).toBe(true);
    expect(prims.every((s) => s.layer === 'Chain')).toBe(true);
    const adds = prims.filter((s) => s.name === 'Add');
    expect(adds).toHaveLength(N);
    expect(adds.every((s) => s.outputs.length === 1 && s.outputs[0].dtype === 'float32' && s.outputs[0].shape.join() === '4' && s.inputs.length === 2)).toBe(true);
    // Ids are unique and in drain order.
    const ids = prims.map((s) => s.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Every allocation of the eval is there: at least one per primitive that made an output buffer.
    expect(t.memory.filter((m) => m.delta > 0).length).toBeGreaterThanOrEqual(adds.length);
    expect(t.dropped).toBe(0);
  });

  it('counts primitives past maxSpans as dropped, and still ends every asyncEval at its work', () => {
    inst.disable();
    const bounded = new MlxInstrumentation({ maxSpans: 500 });
    try {
      const x = mx.ones([1]);
      mx.eval(x);
      bounded.takeTrace();
      let y = x;
      for (let i = 0; i < 2000; i++) y = mx.add(y, x);
      mx.asyncEval(y);
      expect(y.item()).toBe(2001);
      const t = bounded.takeTrace();
      expect(t.spans.length).toBeLessThanOrEqual(500);
      expect(t.dropped).toBeGreaterThan(1000);
      const launch = t.spans.find((s) => s.kind === 'eval' && s.name === 'asyncEval');
      expect(launch).toBeDefined();
      // Its work ran under it, or under item() where item() waited for it (which, on a loaded machine,
      // can be all of what fits under the cap).
      const wait = t.spans.find((s) => s.kind === 'sync' && s.start >= launch!.start);
      const owned = t.spans.filter((s) => s.kind === 'primitive' && (s.parentId === launch!.id || s.parentId === wait?.id));
      expect(owned.length).toBeGreaterThan(0);
      // The span lasts until the work it launched finished (the Synchronizer past the cap still ends it).
      expect(owned.every((s) => s.end <= launch!.end)).toBe(true);
    } finally {
      bounded.disable();
    }
  });

  it('tells hundreds of shapes apart: each primitive keeps its own signature', () => {
    // Signatures are numbered by a hash the recording thread computes (native/signatures.h): equal
    // hashes would give one shape's tensors to another's primitives.
    inst.enable();
    const x = mx.ones([1]);
    mx.eval(x);
    inst.takeTrace();
    const outs = [];
    for (let i = 1; i <= 300; i++) outs.push(mx.multiply(mx.ones([i, 3]), mx.ones([i % 7 + 1, i, 1])));
    mx.eval(...outs);
    const t = inst.takeTrace();
    const muls = t.spans.filter((s) => s.kind === 'primitive' && s.name === 'Multiply');
    expect(muls).toHaveLength(300);
    const seen = new Set(muls.map((s) => s.outputs[0].shape.join()));
    expect(seen.size).toBe(300);
    for (const s of muls) {
      const [b, i] = s.outputs[0].shape;
      expect(s.outputs[0].shape).toEqual([(i % 7) + 1, i, 3]);
      expect(b).toBe((i % 7) + 1);
      expect(s.inputs.map((a) => a.shape.join())).toEqual([`${b},${i},3`, `${b},${i},3`]);
    }
  });
});
