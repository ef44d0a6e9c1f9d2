// JS-level mode: what a user gets when the native layer is off or refused this MLX build.
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

const inst = registerMlxInstrumentation({ native: false });
afterAll(() => inst.disable());

describe('JS-level timing', () => {
  it('labels the trace timing: js with the reason, times op building and evals honestly', () => {
    expect(inst.timing).toBe('js');
    const a = mx.ones([32, 32]);
    mx.eval(a);
    inst.takeTrace();
    const m = new nn.Linear(32, 8);
    const y = m.forward(mx.exp(a));
    mx.eval(y);
    const t = inst.takeTrace();
    expect(t.meta.timing).toBe('js');
    expect(t.meta.fallbackReason).toMatch(/disabled by config/);
    const prims = t.spans.filter((s) => s.kind === 'primitive');
    // exp built by the program, addmm built inside Linear: build-time spans, attributed to the layer
    const exp = prims.find((p) => p.name === 'exp')!;
    const addmm = prims.find((p) => p.name === 'addmm')!;
    expect(exp.attrs?.phase).toBe('build');
    expect(addmm.layer).toBe('Linear');
    expect(addmm.flops).toBe(2 * 32 * 32 * 8 + 2 * 32 * 8);
    const ev = t.spans.find((s) => s.kind === 'eval')!;
    expect(ev.end).toBeGreaterThan(ev.start);
    // building is not running: the eval happens after every op was built
    for (const p of prims) expect(p.end).toBeLessThanOrEqual(ev.start);
  });

  it('leaves mx.array a class: instanceof holds, nn.Module finds its parameters', () => {
    const made = new mx.array([1, 2, 3]);
    expect(made.shape).toEqual([3]);
    expect(made instanceof mx.array).toBe(true);
    expect(mx.ones([2]) instanceof mx.array).toBe(true);
    expect(Object.keys(new nn.Linear(4, 2).parameters()).sort()).toEqual(['bias', 'weight']);
    inst.takeTrace();
    mx.array([1, 2], mx.int32);
    expect(inst.takeTrace().spans.map((s) => s.name)).toEqual(['array']);
  });

  it("records the array's own methods (a.reshape(), a.sum()) as ops, with the array as first input", () => {
    const a = mx.ones([4, 6]);
    mx.eval(a);
    inst.takeTrace();
    const s = a.reshape([6, 4]).sum(0);
    mx.eval(s);
    const prims = inst.takeTrace().spans.filter((x) => x.kind === 'primitive');
    expect(prims.map((p) => p.name)).toEqual(['reshape', 'sum']);
    expect(prims[0].inputs[0].shape).toEqual([4, 6]);
    expect(prims[0].outputs[0].shape).toEqual([6, 4]);
    expect(prims[1].inputs[0].shape).toEqual([6, 4]);
    expect(prims[1].outputs[0].shape).toEqual([4]);
    // Reduce: one combine per input element
    expect(prims[1].flops).toBe(24);
    // and disable() gives the prototype its own methods back
    const reshape = mx.array.prototype.reshape;
    inst.disable();
    try {
      expect(mx.array.prototype.reshape).not.toBe(reshape);
      expect(mx.array.prototype.reshape.toString()).toMatch(/native code/);
    } finally {
      inst.enable();
    }
    expect(mx.array.prototype.reshape.toString()).not.toMatch(/native code/);
  });

  it('offers the forced-eval method only when asked, clearly labelled', () => {
    inst.disable();
    const forced = registerMlxInstrumentation({ native: false, syncEachOp: true });
    try {
      const a = mx.ones([16, 16]);
      mx.eval(a);
      forced.takeTrace();
      mx.eval(mx.matmul(a, a));
      const t = forced.takeTrace();
      const mm = t.spans.find((s) => s.name === 'matmul')!;
      expect(mm.attrs?.phase).toBe('forced-eval');
    } finally {
      forced.disable();
    }
  });
});
