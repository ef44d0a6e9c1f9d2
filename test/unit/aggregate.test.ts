// Busy time and coverage on hand-made traces whose answers are known: an asyncEval whose work runs after its
// span ended, a sync point overlapping it, nested evals, primitives the recorder gave the wrong owner, forcing spans
// that share an id; the measured passes' sums in their slots whatever order the passes come in; SpanById.
import { describe, expect, it } from 'vitest';
import { aggregate } from '../../src/core/analysis/aggregate';
import { summarizeReport } from '../../src/exporters/terminal/report';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { SpanById } from '../../src/core/analysis/span-by-id';

const mk = (p: Partial<Span> & Pick<Span, 'id' | 'kind' | 'name' | 'start' | 'end'>): Span => ({
  parentId: null, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, ...p,
});
const traceOf = (spans: Span[]): Trace => ({ ...syntheticTrace({ steps: 1 }), spans, memory: [] });

describe('busy time', () => {
  it('an asyncEval counts until its work finished; the item() waiting on it is not counted twice', () => {
    const t = traceOf([
      mk({ id: 1, kind: 'eval', name: 'asyncEval', start: 0, end: 100 }),
      mk({ id: 2, kind: 'primitive', name: 'Matmul', start: 50, end: 400, parentId: 1 }),
      mk({ id: 3, kind: 'primitive', name: 'Add', start: 400, end: 600, parentId: 1 }),
      mk({ id: 4, kind: 'sync', name: 'item', start: 300, end: 700 }),
      mk({ id: 5, kind: 'primitive', name: 'Add', start: 900, end: 950, parentId: 6 }),
      mk({ id: 6, kind: 'eval', name: 'eval', start: 800, end: 1000 }),
      mk({ id: 7, kind: 'eval', name: 'eval', start: 850, end: 990, parentId: 6 }),
    ]);
    const a = aggregate(t, { by: ['op'] });
    // [0, 700] from the asyncEval stretched to 600 and the item() to 700; [800, 1000] from the outer eval.
    expect(a.busy.ns).toBe(900);
    expect(a.coveredNs).toBe(600);
    expect(a.evalCount).toBe(2);
    expect(a.forcingCount).toBe(4);
    const sum = summarizeReport(t);
    expect(sum.coverage).toBe(600 / 900);
    expect(sum.rows.find((r) => r.key === 'Matmul')!.busyFraction).toBe(350 / 900);
  });

  it('an asyncEval stretches to the end of its last primitive, gaps between its primitives included', () => {
    const t = traceOf([
      mk({ id: 1, kind: 'eval', name: 'asyncEval', start: 0, end: 100 }),
      mk({ id: 2, kind: 'primitive', name: 'Matmul', start: 50, end: 200, parentId: 1 }),
      mk({ id: 3, kind: 'user', name: 'step', start: 250, end: 260 }),
      mk({ id: 4, kind: 'primitive', name: 'Add', start: 300, end: 400, parentId: 1 }),
    ]);
    const a = aggregate(t, { by: [] });
    expect([a.busy.ns, a.coveredNs]).toEqual([400, 250]);
  });

  it('a primitive whose owner started after it ran still lies inside busy time', () => {
    const t = traceOf([
      mk({ id: 1, kind: 'sync', name: 'item', start: 0, end: 100 }),
      mk({ id: 2, kind: 'primitive', name: 'Add', start: 10, end: 90, parentId: 3 }),
      mk({ id: 3, kind: 'eval', name: 'asyncEval', start: 500, end: 510 }),
    ]);
    const a = aggregate(t, { by: [] });
    expect(a.busy.ns).toBe(110);
    expect(a.coveredNs).toBe(80);
  });

  it('overlapping primitives count once in coverage, which stays at or under 100 %', () => {
    const t = traceOf([
      mk({ id: 1, kind: 'eval', name: 'eval', start: 0, end: 100 }),
      mk({ id: 2, kind: 'primitive', name: 'Compiled', start: 0, end: 100, parentId: 1 }),
      mk({ id: 3, kind: 'primitive', name: 'Add', start: 10, end: 60, parentId: 1 }),
    ]);
    const sum = summarizeReport(t);
    expect(sum.busyNs).toBe(100);
    expect(sum.coverage).toBe(1);
  });

  it('a trace without evals or syncs is as busy as its primitives', () => {
    const t = traceOf([mk({ id: 1, kind: 'primitive', name: 'Add', start: 0, end: 30 }), mk({ id: 2, kind: 'primitive', name: 'Add', start: 50, end: 60 })]);
    const a = aggregate(t, { by: ['op'] });
    expect([a.busy.ns, a.coveredNs, a.rows[0].calls, a.rows[0].totalNs]).toEqual([40, 40, 2, 40]);
  });
});

describe('busy time, owners met before their primitives', () => {
  it('a primitive that starts before its owner counts from its own start', () => {
    const t = traceOf([
      mk({ id: 1, kind: 'eval', name: 'eval', start: 100, end: 200 }),
      mk({ id: 2, kind: 'primitive', name: 'Add', start: 90, end: 150, parentId: 1 }),
      mk({ id: 3, kind: 'primitive', name: 'Add', start: 150, end: 260, parentId: 1 }),
    ]);
    const a = aggregate(t, { by: [] });
    expect([a.busy.ns, a.coveredNs]).toEqual([170, 170]);
  });

  it('primitives owned by an eval whose id a later eval takes count with the later one', () => {
    // At the end id 1 names the second eval: it is the forcing span, stretched to 250; the first eval's primitives
    // are no longer inside a forcing span and count on their own.
    const t = traceOf([
      mk({ id: 1, kind: 'eval', name: 'eval', start: 0, end: 100 }),
      mk({ id: 2, kind: 'primitive', name: 'Add', start: 10, end: 50, parentId: 1 }),
      mk({ id: 3, kind: 'primitive', name: 'Add', start: 60, end: 90, parentId: 1 }),
      mk({ id: 1, kind: 'eval', name: 'eval', start: 200, end: 240 }),
      mk({ id: 4, kind: 'primitive', name: 'Add', start: 210, end: 250, parentId: 1 }),
    ]);
    const a = aggregate(t, { by: [] });
    expect([a.busy.ns, a.coveredNs, a.forcingCount, a.evalCount]).toEqual([40 + 30 + 50, 110, 1, 2]);
  });
});

describe('measured passes', () => {
  const pass = (p: number, warmup: boolean, s: Span): Span => ({ ...s, pass: p, warmup });
  // A primitive before any pass mark, then passes 3, 1, warm-up 0 and 3 again; each pass has an eval owning its
  // primitives and a user span profile() would open.
  const spans: Span[] = [
    mk({ id: 1, kind: 'primitive', name: 'Exp', start: 0, end: 5 }),
    mk({ id: 2, kind: 'eval', name: 'eval', start: 6, end: 7 }),
    pass(3, false, mk({ id: 10, kind: 'user', name: 'pass 3', start: 10, end: 100, attrs: { pass: 3 } })),
    pass(3, false, mk({ id: 11, kind: 'eval', name: 'eval', start: 20, end: 30, parentId: 10 })),
    pass(3, false, mk({ id: 12, kind: 'primitive', name: 'Add', start: 25, end: 60, parentId: 11 })),
    pass(1, false, mk({ id: 20, kind: 'user', name: 'pass 1', start: 110, end: 200, attrs: { pass: 1 } })),
    pass(1, false, mk({ id: 21, kind: 'eval', name: 'eval', start: 120, end: 190, parentId: 20 })),
    pass(1, false, mk({ id: 22, kind: 'primitive', name: 'Add', start: 130, end: 140, parentId: 21 })),
    pass(1, false, mk({ id: 23, kind: 'primitive', name: 'Exp', start: 150, end: 170, parentId: 21 })),
    pass(0, true, mk({ id: 30, kind: 'primitive', name: 'Exp', start: 210, end: 290 })),
    pass(3, false, mk({ id: 40, kind: 'primitive', name: 'Exp', start: 300, end: 303 })),
  ];

  it('sum in the slot of their pass, in pass order; warm-up and spans before the passes count nowhere', () => {
    const a = aggregate(traceOf(spans), { by: ['op'], passes: 'measured' });
    expect(a.layout.measured).toEqual([1, 3]);
    expect(a.layout.warmup).toEqual([0]);
    expect(a.layout.passSpans.map((s) => s.id)).toEqual([20, 10]);
    expect([...a.primitive.slotNs]).toEqual([30, 38]);
    expect(a.rows.map((r) => [r.key, r.calls, [...r.slotNs]])).toEqual([['Add', 2, [10, 35]], ['Exp', 2, [20, 3]]]);
    expect([...a.eval.slotNs]).toEqual([70, 10]);
    // Pass 1: its eval [120, 190]; pass 3: [20, 60] (the eval stretched to its primitive's end) and [300, 303].
    expect([...a.busy.slotNs]).toEqual([70, 43]);
    expect([a.primitiveCount, a.evalCount, a.forcingCount, a.coveredNs]).toEqual([4, 2, 2, 30 + 38]);
  });

  it("a trace whose spans all come before a warm-up pass counts nothing, in one slot", () => {
    const a = aggregate(traceOf([...spans.slice(0, 2), spans[9]]), { by: ['op'], passes: 'measured' });
    expect([a.slots, a.primitiveCount, a.busy.ns, a.rows.length, a.layout.multiPass]).toEqual([1, 0, 0, 0, true]);
  });
});

describe('SpanById', () => {
  const span = (id: number, name = `s${id}`) => mk({ id, kind: 'layer', name, start: 0, end: 1 });

  it('finds spans by id while ids rise, and after they fall or repeat', () => {
    const index = new SpanById();
    const rising = [1, 2, 5, 9, 10, 40, 41, 100].map((id) => span(id));
    for (const s of rising) index.add(s);
    for (const s of rising) expect(index.get(s.id)).toBe(s);
    for (const id of [0, 3, 11, 99, 101, NaN]) expect(index.get(id)).toBeUndefined();
    expect(index.get('5' as unknown as number)).toBeUndefined();
    expect(index.repeated).toBe(false);
    const late = span(7);
    index.add(late);
    expect([index.get(7), index.get(9), index.repeated]).toEqual([late, rising[3], false]);
    const again = span(9, 'again');
    index.add(again);
    expect([index.get(9), index.repeated]).toEqual([again, true]);
  });

  it('an id met twice in a row is a repeat', () => {
    const index = new SpanById();
    const [a, b] = [span(3, 'a'), span(3, 'b')];
    index.add(a);
    index.add(b);
    expect([index.get(3), index.repeated]).toEqual([b, true]);
  });
});
