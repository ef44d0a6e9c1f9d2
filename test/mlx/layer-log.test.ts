// Layer calls are kept as rows of the recorder's layer log and become spans only when the spans are
// read (take, flush, drain listeners). What is read must be what span objects gave: every layer, in
// id order among the evals and sync points, nested by parent, with its time, even when the spans are
// read while a layer is still open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import type { Span } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

let inst: MlxInstrumentation;

beforeAll(() => {
  inst = registerMlxInstrumentation();
  Outer = models();
});
afterAll(() => inst.disable());

// Defined once the instrumentation is registered (classes extend the nn.Module it patched).
function models() {
  class Inner extends mlx.nn.Module {
    forward(x: unknown) {
      return mx.multiply(x, x);
    }
  }
  class Outer extends mlx.nn.Module {
    a = new Inner();
    b = new Inner();
    constructor(private readonly during?: () => void) {
      super();
    }
    forward(x: unknown) {
      const y = this.a.forward(x);
      mx.eval(y); // an eval span inside the layer, begun between two of its children
      this.during?.();
      return this.b.forward(mx.add(y, x));
    }
  }
  return Outer;
}
let Outer: ReturnType<typeof models>;

const layers = (t: { spans: Span[] }) => t.spans.filter((s) => s.kind === 'layer');

/** A new Outer and an evaluated input, with what came before them taken away. */
function fresh(during?: () => void) {
  const model = new Outer(during);
  const x = mx.ones([4]);
  mx.eval(x);
  inst.takeTrace();
  return { model, x };
}

describe('the layer log', () => {
  it('gives every layer call as a span, in id order with the evals, nested by parent and in time', () => {
    const { model, x } = fresh();
    for (let i = 0; i < 3; i++) mx.eval(model.forward(x));
    const t = inst.takeTrace();
    const ids = t.spans.filter((s) => s.kind !== 'primitive').map((s) => s.id);
    expect(ids).toEqual([...ids].sort((p, q) => p - q));
    const ls = layers(t);
    expect(ls).toHaveLength(9);
    const byId = new Map(t.spans.map((s) => [s.id, s]));
    for (const l of ls) {
      if (l.name.includes('Outer')) {
        expect(l.parentId).toBeNull();
        continue;
      }
      const parent = byId.get(l.parentId!)!;
      expect(parent.name).toContain('Outer');
      expect(l.start).toBeGreaterThanOrEqual(parent.start);
      expect(l.end).toBeLessThanOrEqual(parent.end);
      expect(l.end).toBeGreaterThan(l.start);
    }
    // The eval inside Outer hangs under it; its primitive (Multiply) names the Inner layer that built it.
    const inner = t.spans.filter((s) => s.kind === 'eval' && byId.get(s.parentId ?? -1)?.kind === 'layer');
    expect(inner).toHaveLength(3);
    const muls = t.spans.filter((s) => s.kind === 'primitive' && s.name === 'Multiply');
    expect(muls).toHaveLength(6);
    expect(muls.every((s) => s.layerId != null && byId.get(s.layerId)?.kind === 'layer' && /Inner/.test(s.layer ?? ''))).toBe(true);
  });

  it('keeps a taken window\'s layers as they were while the next window is recorded into the same log', () => {
    const { model, x } = fresh();
    for (let i = 0; i < 3; i++) mx.eval(model.forward(x));
    const first = inst.takeTrace(); // its spans not read yet
    const second = (() => {
      mx.eval(model.forward(x));
      return inst.takeTrace();
    })();
    const a = layers(first);
    const b = layers(second);
    expect(a).toHaveLength(9);
    expect(b).toHaveLength(3);
    // No row of the first window was written over by the second's: ids, names and times stay apart.
    const lastOfFirst = Math.max(...a.map((s) => s.id));
    expect(b.every((s) => s.id > lastOfFirst)).toBe(true);
    expect(a.filter((s) => s.name.includes('Outer'))).toHaveLength(3);
    for (const s of a) expect(s.end).toBeGreaterThan(s.start);
    expect(new Set(a.map((s) => s.start)).size).toBe(9);
    // Nor were the first window's layer names: its primitives still name the Inner layers that built them.
    const muls = first.spans.filter((s) => s.kind === 'primitive' && s.name === 'Multiply');
    expect(muls).toHaveLength(6);
    expect(muls.every((s) => /Inner/.test(s.layer ?? ''))).toBe(true);
  });

  it('reads a layer that is still open: it is in the trace taken meanwhile and ends when it returns', () => {
    let midway: ReturnType<MlxInstrumentation['takeTrace']> | null = null;
    const { model, x } = fresh(() => (midway = inst.takeTrace()));
    mx.eval(model.forward(x));
    const after = inst.takeTrace();
    const open = layers(midway!).find((s) => s.name.includes('Outer'))!;
    expect(open).toBeDefined();
    expect(layers(midway!).filter((s) => /\ba\b/.test(s.name))).toHaveLength(1);
    // Read after the forward returned: the open layer ends where it returned, after a (which ended
    // before the take), not where it began.
    const a = layers(midway!).find((s) => /\ba\b/.test(s.name))!;
    expect(open.end).toBeGreaterThan(a.end);
    // Begun after the take: b's layer is in the next trace, under Outer's id.
    const b = layers(after).find((s) => /\bb\b/.test(s.name))!;
    expect(b.parentId).toBe(open.id);
    expect(layers(after).some((s) => s.id === open.id)).toBe(false);
  });

  it('hands layers to drain listeners in id order, once each', () => {
    const seen: number[] = [];
    const rec = inst._recorder!;
    const off = rec.onDrain((rows) => {
      for (let i = rows.spanFrom; i < rows.spans.length; i++) seen.push(rows.spans[i].id);
    });
    try {
      const model = new Outer();
      const x = mx.ones([4]);
      mx.eval(x);
      for (let i = 0; i < 2; i++) mx.eval(model.forward(x));
    } finally {
      off();
    }
    const t = inst.takeTrace();
    const expected = t.spans.filter((s) => s.kind !== 'primitive' && s.id >= seen[0]).map((s) => s.id);
    expect(seen).toEqual(expected.slice(0, seen.length));
    expect(new Set(seen).size).toBe(seen.length);
    expect(layers(t).filter((s) => seen.includes(s.id))).toHaveLength(6);
  });

  it('counts layer calls past maxSpans as dropped, and the spans it keeps have ids of their own', () => {
    inst.disable();
    const bounded = new MlxInstrumentation({ maxSpans: 40 });
    try {
      const model = new Outer();
      const x = mx.ones([4]);
      mx.eval(x);
      bounded.takeTrace();
      for (let i = 0; i < 20; i++) mx.eval(model.forward(x));
      const t = bounded.takeTrace();
      expect(t.spans.length).toBeLessThanOrEqual(40);
      expect(t.dropped).toBeGreaterThan(0);
      const ids = t.spans.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      bounded.disable();
      inst.enable();
    }
  });
});
