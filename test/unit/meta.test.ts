import { describe, it, expect } from 'vitest';
import { readAdvice, readGeneration, readRank, readRanks } from '../../src/core/model/meta';
import { formatReport } from '../../src/exporters/terminal/report';
import { packTrace } from '../../src/exporters/html/pack';
import { mergeTraces } from '../../src/core/analysis/merge';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const withMeta = (extra: Record<string, unknown>): Trace => {
  const t = syntheticTrace({ steps: 1 });
  return { ...t, meta: { ...t.meta, ...extra } };
};

describe('typed meta sections', () => {
  it('reads generation figures, null where a file has none, and both views agree', () => {
    const t = withMeta({ generation: { promptTokens: 7, timeToFirstTokenMs: 12.5, decodeTokensPerSec: 'fast', tokenLatencyMs: { p50: 3 } } });
    const g = readGeneration(t.meta)!;
    expect(g.promptTokens).toBe(7);
    expect(g.decodeTokensPerSec).toBeNull();
    expect(g.tokenLatencyMs).toEqual({ p50: 3, p95: null, mean: null, min: null, max: null });
    // The report prints what is there instead of throwing on a missing figure.
    const report = formatReport(t, { width: 120 });
    expect(report).toMatch(/time to first token 12\.50 ms \(prompt of 7 tokens: \? tokens\/s\)/);
    expect(report).toMatch(/p50 3\.00 ms, p95 \? ms/);
    expect(packTrace(t).head.generation).toMatchObject({ promptTokens: 7, decodeTokensPerSec: null, timeToFirstTokenMs: 12.5 });
    expect(readGeneration(withMeta({ generation: 'x' }).meta)).toBeNull();
  });

  it('tells "advisor not run" from "no findings"', () => {
    expect(readAdvice(syntheticTrace({ steps: 1 }).meta)).toBeNull();
    expect(readAdvice(withMeta({ advice: [] }).meta)).toEqual([]);
    expect(readAdvice(withMeta({ advice: { rule: 'x' } }).meta)).toBeNull();
    expect(packTrace(withMeta({ advice: [] })).head.adviceRan).toBe(true);
    expect(packTrace(syntheticTrace({ steps: 1 })).head.adviceRan).toBe(false);
  });

  it('reads rank and the ranks of a merge', () => {
    expect(readRank(withMeta({ rank: 3 }).meta)).toBe(3);
    expect(readRank(withMeta({ rank: -1 }).meta)).toBeNull();
    const merged = mergeTraces([withMeta({ rank: 0 }), withMeta({ rank: 1 })]);
    expect(readRanks(merged.meta).map((r) => r.rank)).toEqual([0, 1]);
    expect(readRanks(syntheticTrace({ steps: 1 }).meta)).toEqual([]);
  });
});
