// Walks that tag layers stop at nodes an eval has taken, by MLX's own status of the node, not by a mark
// the instrumentation had to make: here the graph is launched by an asyncEval the instrumentation never
// wrapped (taken before registration, as code that destructures `mx` at import does), and layers are
// then built on it while it runs. A walk that read those nodes would read inputs the stream thread
// frees as it goes, and would hand the layer being built the primitives of the launched graph.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { layerResolver, NO_LAYER } from '../../src/core/model/span-facts';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const rawAsyncEval: (...a: unknown[]) => void = mx.asyncEval;

let inst: MlxInstrumentation;
let Block: new () => { forward(x: unknown): unknown };

beforeAll(() => {
  inst = registerMlxInstrumentation();
  Block = class extends mlx.nn.Module {
    forward(x: unknown) {
      return mx.add(mx.multiply(x, 1.0001), 0.5);
    }
  };
});
afterAll(() => inst.disable());

describe('a graph launched behind the instrumentation', () => {
  it('is not the wrapped asyncEval (else this test shows nothing)', () => {
    expect(mx.asyncEval).not.toBe(rawAsyncEval);
  });

  it('keeps its primitives out of the layer built on it while it runs, and every primitive is recorded', () => {
    const block = new Block();
    const ROUNDS = 40, CHAIN = 300, BLOCKS = 20;
    inst.takeTrace();
    for (let r = 0; r < ROUNDS; r++) {
      let x = mx.ones([8]);
      for (let i = 0; i < CHAIN; i++) x = mx.cos(mx.sin(x));
      mx.eval(mx.ones([1])); // a traced eval: the chain's tags now belong to an earlier eval
      rawAsyncEval(x);
      let y = x;
      for (let i = 0; i < BLOCKS; i++) y = block.forward(y);
      mx.eval(y);
    }
    const t = inst.takeTrace();
    expect(t.dropped).toBe(0);
    const layerOf = layerResolver(t);
    const count = new Map<string, number>();
    const misplaced = new Map<string, number>();
    for (const s of t.spans) {
      if (s.kind !== 'primitive') continue;
      count.set(s.name, (count.get(s.name) ?? 0) + 1);
      const layer = layerOf(s);
      if ((s.name === 'Sin' || s.name === 'Cos') && layer !== NO_LAYER) misplaced.set(layer, (misplaced.get(layer) ?? 0) + 1);
      if ((s.name === 'Multiply' || s.name === 'Add') && !layer.includes('Block')) misplaced.set(`${s.name} outside Block`, 1 + (misplaced.get(`${s.name} outside Block`) ?? 0));
    }
    expect(Object.fromEntries(misplaced)).toEqual({});
    expect(count.get('Sin')).toBe(ROUNDS * CHAIN);
    expect(count.get('Cos')).toBe(ROUNDS * CHAIN);
    expect(count.get('Multiply')).toBe(ROUNDS * BLOCKS);
  });
});
