// Multi-pass statistics: summarize() on known samples, passStats() on real MLX profiles checked against sums the
// test makes itself from the spans, warm-up passes left out, and the text the report appends.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { profile, registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { passLayout, passStats, summarize, withPassStats } from '../../src/core/analysis/stats';
import { formatPassStats } from '../../src/exporters/terminal/pass-stats';
import { loadTrace, saveTrace } from '../../src/core/io/persist';
import { stripAnsi, visibleWidth } from '../../src/exporters/terminal/format';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

/** The test's own statistics: sort, then numpy-style linear percentiles and the n - 1 standard deviation. */
function byHand(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const pct = (q: number) => {
    const pos = (n - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.min(n - 1, lo + 1);
    return s[lo] + (s[hi] - s[lo]) * (pos - lo);
  };
  const std = n > 1 ? Math.sqrt(s.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, p50: pct(0.5), p95: pct(0.95), min: s[0], max: s[n - 1], std };
}

function expectStats(actual: ReturnType<typeof summarize>, expected: ReturnType<typeof byHand>) {
  expect(actual.n).toBe(expected.n);
  for (const k of ['mean', 'p50', 'p95', 'min', 'max', 'std'] as const) expect(actual[k]).toBeCloseTo(expected[k], 6);
}

describe('summarize', () => {
  it.each([
    { xs: [1, 2, 3, 4], mean: 2.5, p50: 2.5, p95: 3.85, min: 1, max: 4, std: Math.sqrt(5 / 3) },
    { xs: [10, 30, 20], mean: 20, p50: 20, p95: 29, min: 10, max: 30, std: 10 },
    { xs: [7], mean: 7, p50: 7, p95: 7, min: 7, max: 7, std: 0 },
    { xs: [5, 5, 5, 5, 5], mean: 5, p50: 5, p95: 5, min: 5, max: 5, std: 0 },
  ])('$xs', ({ xs, ...want }) => {
    const got = summarize(xs);
    expect(got.n).toBe(xs.length);
    for (const [k, v] of Object.entries(want)) expect(got[k as keyof typeof got]).toBeCloseTo(v, 10);
  });

  it('gives finite zeros for no samples', () => {
    expect(summarize([])).toEqual({ n: 0, mean: 0, p50: 0, p95: 0, min: 0, max: 0, std: 0 });
  });
});

describe('passStats on real MLX profiles', () => {
  let inst: MlxInstrumentation;
  let trace: Trace;
  let layered: Trace;

  beforeAll(async () => {
    inst = registerMlxInstrumentation();
    const a = mx.random.normal([96, 96]);
    const b = mx.random.normal([96, 96]);
    mx.eval(a, b);
    inst.takeTrace();
    // Warm-up passes also run Sin, so a row that exists only in warm-up shows whether warm-up is left out.
    trace = await profile(
      (pass) => {
        const y = mx.matmul(a, b);
        mx.eval(pass < 2 ? mx.sin(mx.exp(y)) : mx.exp(y));
      },
      { passes: 5, warmup: 2, name: 'mm-exp' },
    );

    class Net extends nn.Module {
      up: any;
      down: any;
      constructor() {
        super();
        this.up = new nn.Linear(32, 64);
        this.down = new nn.Linear(64, 8);
      }
      forward(x: any) {
        return this.down.forward(nn.relu(this.up.forward(x)));
      }
    }
    const net = new Net();
    const x = mx.random.normal([16, 32]);
    mx.eval(net.parameters(), x);
    layered = await profile(() => mx.eval(net.forward(x)), { passes: 4, warmup: 1, name: 'net' });
  });
  afterAll(() => inst.disable());

  const measuredPrims = (t: Trace) => t.spans.filter((s) => s.kind === 'primitive' && !s.warmup);
  const perPass = (t: Trace, pick: (s: Span) => boolean, passes: number[]) =>
    passes.map((p) => t.spans.filter((s) => s.pass === p && !s.warmup && pick(s)).reduce((acc, s) => acc + (s.end - s.start), 0));

  it('finds the measured and warm-up passes', () => {
    const layout = passLayout(trace);
    expect(layout.multiPass).toBe(true);
    expect(layout.measured).toEqual([2, 3, 4, 5, 6]);
    expect(layout.warmup).toEqual([0, 1]);
    expect(layout.passSpans.map((s) => s.name)).toEqual(['pass 1', 'pass 2', 'pass 3', 'pass 4', 'pass 5']);
  });

  it('per op: count and per-pass time statistics equal sums made from the spans, warm-up left out', () => {
    const st = passStats(trace, { groupBy: 'op' });
    expect(st.passes).toBe(5);
    expect(st.warmup).toBe(2);
    const measured = [2, 3, 4, 5, 6];
    const names = [...new Set(measuredPrims(trace).map((s) => s.name))].sort();
    expect(names).toContain('Matmul');
    expect(names).toContain('Exp');
    expect(st.rows.map((r) => r.key).sort()).toEqual(names);
    // Sin ran in the warm-up passes only.
    expect(trace.spans.some((s) => s.name === 'Sin' && s.warmup)).toBe(true);
    expect(st.rows.find((r) => r.key === 'Sin')).toBeUndefined();

    for (const row of st.rows) {
      const times = perPass(trace, (s) => s.kind === 'primitive' && s.name === row.key, measured);
      expectStats(row.time, byHand(times));
      const calls = measuredPrims(trace).filter((s) => s.name === row.key).length / 5;
      expect(row.calls).toBe(calls);
      expect(row.perCallNs).toBeCloseTo(row.time.mean / calls, 6);
    }
    const matmul = st.rows.find((r) => r.key === 'Matmul')!;
    expect(matmul.calls).toBe(1);
    expect(matmul.flops).toBe(2 * 96 * 96 * 96);
    // Largest mean first.
    for (let i = 1; i < st.rows.length; i++) expect(st.rows[i - 1].time.mean).toBeGreaterThanOrEqual(st.rows[i].time.mean);
  });

  it('pass, eval and primitive totals equal sums made from the spans', () => {
    const st = passStats(trace);
    const measured = [2, 3, 4, 5, 6];
    const passSpans = trace.spans.filter((s) => s.kind === 'user' && s.parentId === null && !s.warmup);
    expectStats(st.pass!, byHand(passSpans.map((s) => s.end - s.start)));
    expectStats(st.eval, byHand(perPass(trace, (s) => s.kind === 'eval', measured)));
    expectStats(st.primitive, byHand(perPass(trace, (s) => s.kind === 'primitive', measured)));
  });

  it('per layer: rows keyed by layer (the layer span name the recorder gives) with the time of the primitives it built', () => {
    const st = passStats(layered, { groupBy: 'layer' });
    expect(st.passes).toBe(4);
    expect(st.warmup).toBe(1);
    const prims = measuredPrims(layered);
    const paths = [...new Set(prims.map((s) => s.layer ?? '(no layer)'))].sort();
    expect(paths).toEqual(expect.arrayContaining(['up (Linear)', 'down (Linear)']));
    expect(st.rows.map((r) => r.key).sort()).toEqual(paths);
    for (const row of st.rows) {
      const times = perPass(layered, (s) => s.kind === 'primitive' && (s.layer ?? '(no layer)') === row.key, [1, 2, 3, 4]);
      expectStats(row.time, byHand(times));
    }
  });

  it('withPassStats returns a copy with meta.passStats and leaves the trace alone; the copy saves and loads', () => {
    const copy = withPassStats(trace);
    expect(trace.meta.passStats).toBeUndefined();
    expect(copy.spans).toBe(trace.spans);
    const ps = copy.meta.passStats as { op: ReturnType<typeof passStats>; layer: ReturnType<typeof passStats> };
    expect(ps.op).toEqual(passStats(trace, { groupBy: 'op' }));
    expect(ps.layer.groupBy).toBe('layer');
    const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-stats-'));
    try {
      saveTrace(copy, join(dir, 't.json'));
      expect(loadTrace(join(dir, 't.json')).meta.passStats).toEqual(JSON.parse(JSON.stringify(ps)));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('formatPassStats lists the passes and every op row, within the width, without color unless asked', () => {
    const lines = formatPassStats(trace, { width: 100 });
    const text = lines.join('\n');
    expect(lines[0]).toBe('Pass statistics over 5 measured passes (2 warm-up passes left out)');
    expect(text).toMatch(/^op\s+calls\/pass\s+mean\s+p50\s+p95\s+min\s+max\s+std$/m);
    expect(text).toMatch(/^pass \(wall\)\s/m);
    expect(text).toMatch(/^Matmul\s+1\s/m);
    expect(text).not.toMatch(/^Sin\s/m);
    expect(text).not.toContain('\x1b[');
    for (const l of lines) expect(visibleWidth(l)).toBeLessThanOrEqual(100);

    const narrow = formatPassStats(trace, { width: 44 });
    for (const l of narrow) expect(visibleWidth(l)).toBeLessThanOrEqual(44);
    expect(narrow.join('\n')).toMatch(/mean/);

    const colored = formatPassStats(trace, { color: true });
    expect(colored.join('\n')).toContain('\x1b[1m');
    expect(colored.map(stripAnsi)).toEqual(formatPassStats(trace, { color: false }));
  });

  it('formatPassStats shows at most `top` rows and counts the rest', () => {
    const lines = formatPassStats(trace, { top: 1, width: 100 });
    const all = passStats(trace).rows.length;
    expect(lines.at(-1)).toBe(`... ${all - 1} more ops`);
  });
});

describe('traces without passes', () => {
  it('count as one pass; formatPassStats has nothing to add', () => {
    const t = syntheticTrace({ steps: 2 });
    expect(passLayout(t).multiPass).toBe(false);
    const st = passStats(t);
    expect(st.passes).toBe(1);
    expect(st.pass).toBeNull();
    const total = t.spans.filter((s) => s.kind === 'primitive').reduce((a, s) => a + s.end - s.start, 0);
    expect(st.primitive.mean).toBe(total);
    expect(st.primitive.std).toBe(0);
    expect(formatPassStats(t)).toEqual([]);
  });

  it('rejects an unknown grouping', () => {
    expect(() => passStats(syntheticTrace(), { groupBy: 'device' as 'op' })).toThrow(/unknown groupBy "device"/);
  });
});
