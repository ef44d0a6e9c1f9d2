// Busy time and coverage on hand-made traces whose answers are known: an asyncEval whose work runs after its
// span ended, a sync point overlapping it, nested evals, primitives the recorder gave the wrong owner.
import { describe, expect, it } from 'vitest';
import { aggregate } from '../../src/core/analysis/aggregate';
import { summarizeReport } from '../../src/exporters/terminal/report';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

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
