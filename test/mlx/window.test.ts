// What one trace window holds on real MLX: a primitive still running when disable() is called
// belongs to no later window; memory events stop at maxMemoryEvents, as spans stop at maxSpans, and
// what is dropped is counted.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';

const require = createRequire(import.meta.url);
const { core: mx } = require('@frost-beta/mlx');

let inst: MlxInstrumentation;
beforeAll(() => {
  inst = registerMlxInstrumentation();
});
afterAll(() => inst.disable());

describe('trace windows', () => {
  it('a primitive still running at disable() appears in no later window (no orphan with a negative start)', () => {
    const x = mx.random.normal([512, 512]);
    mx.eval(x);
    inst.takeTrace();
    let leaked = 0;
    let inFlight = 0;
    for (let trial = 0; trial < 4; trial++) {
      const big = mx.matmul(x, x);
      mx.asyncEval(big); // the Matmul starts on the stream thread and runs for a while
      const before = Date.now();
      inst.disable();
      inst.takeTrace();
      inst.enable();
      mx.eval(big); // waits for the Matmul, which ends inside the new window
      if (Date.now() - before > 5) inFlight++;
      const small = mx.add(mx.ones([4]), 1);
      mx.eval(small);
      const t = inst.takeTrace();
      const prims = t.spans.filter((s) => s.kind === 'primitive');
      leaked += prims.filter((s) => s.start < 0).length;
      expect(prims.filter((s) => s.name === 'Add')).toHaveLength(1);
    }
    // The Matmul was really still running at disable() in at least some trials.
    expect(inFlight).toBeGreaterThan(0);
    expect(leaked).toBe(0);
  });
});

describe('memory events', () => {
  /** Allocations the graph makes: each eval allocates its outputs (and frees what it drops). */
  function allocate(evals: number): void {
    const a = mx.ones([256]);
    mx.eval(a);
    for (let i = 0; i < evals; i++) mx.eval(mx.exp(mx.add(mx.multiply(a, i), 1)));
  }

  it('are bounded by maxMemoryEvents per window, with the drops counted in trace.dropped and meta', () => {
    inst.disable();
    const bounded = new MlxInstrumentation({ maxMemoryEvents: 100 });
    try {
      bounded.takeTrace();
      allocate(400);
      const t = bounded.takeTrace();
      expect(t.memory).toHaveLength(100);
      const droppedMem = t.meta.droppedMemoryEvents as number;
      expect(droppedMem).toBeGreaterThan(100); // 400 evals make far more than 100 allocations
      expect(t.dropped).toBe(droppedMem); // no span was dropped: all drops are memory events
      // The kept events are the window's first ones, in time order.
      for (let i = 1; i < t.memory.length; i++) expect(t.memory[i].t).toBeGreaterThanOrEqual(t.memory[i - 1].t);
      // Spans were not cut by the memory bound.
      expect(t.spans.filter((s) => s.kind === 'eval').length).toBe(401);
      // The next window has its own bound and count.
      allocate(5);
      const next = bounded.takeTrace();
      expect(next.memory.length).toBeGreaterThan(0);
      expect(next.memory.length).toBeLessThan(100);
      expect(next.meta.droppedMemoryEvents).toBeUndefined();
      expect(next.dropped).toBe(0);
    } finally {
      bounded.disable();
      inst.enable();
    }
  });
});
