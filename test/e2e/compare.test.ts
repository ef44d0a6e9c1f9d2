// compareTraces / regressions on real MLX profiles and on hand-built multi-pass traces with exact times; the
// `mlx-trace compare` CLI as a subprocess (exit codes, one-line errors, HTML diff with escaped names); the diff
// page in headless Chromium (sorting, filtering, no injected script runs).
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../helpers/cli';
import { chromium, type Browser } from 'playwright-core';
import { profile, registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import { compareTraces, regressions, rowVerdict, totalVerdict, type CompareRow, type Comparison } from '../../src/core/analysis/compare';
import { saveTrace } from '../../src/core/io/persist';
import { renderDiffHtml } from '../../src/exporters/html/diff';
import { formatComparison, fitLabel, parsePercent } from '../../src/cli/commands/compare';
import { makeColors, stripAnsi, visibleWidth } from '../../src/exporters/terminal/format';
import { TRACE_SCHEMA, type MemoryEvent, type Span, type Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const require = createRequire(import.meta.url);
const { core: mx } = require('@frost-beta/mlx');

const ROOT = join(__dirname, '../..');
const OUT = join(ROOT, 'test-output', 'compare');
let CLI_DIR = '';
let CLI = '';

// ---------------------------------------------------------------------------------------------------------------
// Hand-built multi-pass traces

interface RowSpec {
  layer?: string;
  op: string;
  inputs: number[][];
  outputs: number[][];
  /** Duration of the row's primitive in each measured pass, ns (one call per pass unless `calls`). */
  times: number[];
  calls?: number;
  flops?: number | null;
}

/**
 * A trace shaped like profile(fn, { passes, warmup }): per pass a top-level user span 'pass N' (attrs pass/warmup)
 * with one eval holding the rows' primitives back to back, each alloc'ing its outputs; everything is freed at the
 * end of the pass. Warm-up passes run every row for `warmupNs` so they would show if they were not left out.
 */
function passTrace(name: string, rows: RowSpec[], opts: { warmup?: number; warmupNs?: number } = {}): Trace {
  const warmup = opts.warmup ?? 0;
  const passes = rows[0].times.length;
  const spans: Span[] = [];
  const memory: MemoryEvent[] = [];
  let id = 1;
  let t = 1000;
  const base = { thread: 1, device: 'cpu' as const, inputs: [], outputs: [], flops: null, bytes: null };
  const tensor = (shape: number[]) => ({ shape, dtype: 'float32', bytes: shape.reduce((a, b) => a * b, 1) * 4 });
  for (let p = 0; p < warmup + passes; p++) {
    const isWarm = p < warmup;
    const pass = { ...base, id: id++, parentId: null, kind: 'user' as const, name: isWarm ? `warmup ${p + 1}` : `pass ${p - warmup + 1}`, start: t, end: 0, attrs: { pass: p, warmup: isWarm }, pass: p, warmup: isWarm };
    spans.push(pass);
    t += 100;
    const ev = { ...base, id: id++, parentId: pass.id, kind: 'eval' as const, name: 'eval', start: t, end: 0, pass: p, warmup: isWarm };
    spans.push(ev);
    t += 50;
    let live = 0;
    for (const r of rows) {
      const calls = r.calls ?? 1;
      for (let k = 0; k < calls; k++) {
        const d = isWarm ? opts.warmupNs ?? 1_000_000 : Math.round(r.times[p - warmup] / calls);
        const outputs = r.outputs.map(tensor);
        spans.push({
          ...base, id: id++, parentId: ev.id, kind: 'primitive', name: r.op, start: t, end: t + d,
          inputs: r.inputs.map(tensor), outputs, flops: r.flops === undefined ? 1000 : r.flops, bytes: 4000,
          layer: r.layer ?? null, layerId: null, pass: p, warmup: isWarm,
        });
        for (const o of outputs) {
          live += o.bytes;
          memory.push({ t: t + 1, delta: o.bytes, live, op: r.op });
        }
        t += d + 10;
      }
    }
    ev.end = t;
    t += 20;
    memory.push({ t, delta: -live, live: 0, op: null });
    pass.end = t;
    t += 500;
  }
  const meta = syntheticTrace({ steps: 0 }).meta;
  return { schema: TRACE_SCHEMA, name, meta: { ...meta, passes, warmup }, spans, memory, dropped: 0 };
}

const row = (cmp: Comparison, pred: (r: CompareRow) => boolean) => {
  const found = cmp.rows.filter(pred);
  expect(found).toHaveLength(1);
  return found[0];
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sampleStd = (xs: number[]) => {
  const m = mean(xs);
  return xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1)) : 0;
};

const MM = { op: 'Matmul', inputs: [[64, 64], [64, 64]], outputs: [[64, 64]] };
const ADD = { op: 'Add', inputs: [[64, 64], [64, 64]], outputs: [[64, 64]] };

describe('compareTraces on hand-built passes', () => {
  it('matches rows by layer, op and shapes; per-pass means, per-call and cost deltas; only-in rows', () => {
    const a = passTrace('a', [
      { ...MM, layer: 'l0 (Block)', times: [1000, 1100, 900] },
      { ...ADD, layer: 'l0 (Block)', times: [200, 200, 200], calls: 2, flops: 4096 },
      { op: 'Exp', inputs: [[8]], outputs: [[8]], times: [50, 50, 50] },
    ], { warmup: 2 });
    const b = passTrace('b', [
      { ...MM, layer: 'l0 (Block)', times: [1500, 1500, 1500] },
      { ...ADD, layer: 'l0 (Block)', times: [300, 300, 300], calls: 1, flops: 2048 },
      { op: 'Exp', inputs: [[16]], outputs: [[16]], times: [80, 80, 80] },
    ], { warmup: 1, warmupNs: 9_999_999 });
    const cmp = compareTraces(a, b);
    expect(cmp.a).toEqual({ name: 'a', passes: 3, warmup: 2, spans: a.spans.length });
    expect(cmp.b.warmup).toBe(1);

    const mm = row(cmp, (r) => r.op === 'Matmul');
    expect(mm.presence).toBe('both');
    expect(mm.layer).toBe('l0 (Block)');
    expect(mm.shapes).toBe('64x64 64x64 → 64x64');
    expect(mm.label).toBe('l0 (Block) · Matmul 64x64 64x64 → 64x64');
    expect(mm.a!.timeNs).toBe(1000);
    expect(mm.b!.timeNs).toBe(1500);
    expect(mm.deltaNs).toBe(500);
    expect(mm.deltaFraction).toBeCloseTo(0.5, 12);
    expect(mm.a!.stdNs).toBeCloseTo(100, 9);
    expect(mm.b!.stdNs).toBe(0);
    // 2 standard errors of the difference of the means.
    expect(mm.noiseNs).toBeCloseTo(2 * Math.sqrt(100 ** 2 / 3), 9);

    const add = row(cmp, (r) => r.op === 'Add');
    expect(add.a!.calls).toBe(2);
    expect(add.b!.calls).toBe(1);
    expect(add.a!.perCallNs).toBe(100);
    expect(add.b!.perCallNs).toBe(300);
    expect(add.deltaPerCallNs).toBe(200);
    expect(add.a!.flops).toBe(2 * 4096);
    expect(add.deltaFlops).toBe(2048 - 2 * 4096);
    expect(add.a!.memoryBytes).toBe(2 * 64 * 64 * 4);
    expect(add.deltaMemoryBytes).toBe(-64 * 64 * 4);

    // Exp changed shape: one row in each trace only; no layer, so the label leaves '(no layer)' out.
    expect(cmp.onlyA.map((r) => r.label)).toEqual(['Exp 8 → 8']);
    expect(cmp.onlyB.map((r) => r.label)).toEqual(['Exp 16 → 16']);
    expect(cmp.onlyA[0].layer).toBe('(no layer)');
    expect(cmp.onlyB[0].deltaNs).toBe(80);
    expect(cmp.onlyB[0].deltaFraction).toBeNaN();
    expect(cmp.rows).toHaveLength(4);
    // Largest |delta| first.
    expect(cmp.rows.map((r) => r.op)).toEqual(['Matmul', 'Add', 'Exp', 'Exp']);

    const tp = cmp.totals.primitiveNs;
    expect(tp.a).toBeCloseTo(mean([1000 + 200 + 50, 1100 + 200 + 50, 900 + 200 + 50]), 9);
    expect(tp.b).toBe(1500 + 300 + 80);
    expect(tp.fraction).toBeCloseTo((tp.b - tp.a) / tp.a, 12);
    expect(cmp.totals.passNs).not.toBeNull();
    // Peak: every output stays alive until its pass ends.
    expect(cmp.totals.peakMemoryBytes.a).toBe((64 * 64 * 3 + 8) * 4);
    expect(cmp.totals.peakMemoryBytes.b).toBe((64 * 64 * 2 + 16) * 4);
    expect(cmp.totals.flops.b).toBe(1000 + 2048 + 1000);
  });

  it('groups by op or by layer on request', () => {
    const a = passTrace('a', [{ ...MM, layer: 'x', times: [100] }, { ...MM, inputs: [[8, 8]], layer: 'y', times: [50] }]);
    const b = passTrace('b', [{ ...MM, layer: 'x', times: [120] }, { ...ADD, layer: 'y', times: [70] }]);
    const byOp = compareTraces(a, b, { groupBy: 'op' });
    expect(byOp.rows.map((r) => [r.key, r.a?.timeNs ?? null, r.b?.timeNs ?? null])).toEqual([
      ['Add', null, 70],
      ['Matmul', 150, 120],
    ]);
    const byLayer = compareTraces(a, b, { groupBy: 'layer' });
    // Equal deltas: by key.
    expect(byLayer.rows.map((r) => [r.key, r.deltaNs])).toEqual([['x', 20], ['y', 20]]);
    expect(() => compareTraces(a, b, { groupBy: 'device' as 'op' })).toThrow(/unknown groupBy/);
  });

  it('keeps rows apart whose shapes differ only in how the dims split between inputs and outputs', () => {
    const specs = [
      { op: 'Reshape', inputs: [[2, 3]], outputs: [[6]], times: [10] },
      { op: 'Reshape', inputs: [[2], [3]], outputs: [[6]], times: [20] },
      { op: 'Reshape', inputs: [[2, 3, 6]], outputs: [], times: [30] },
      { op: 'Reshape', inputs: [[2]], outputs: [[3, 6]], times: [40] },
      { op: 'Reshape', inputs: [[]], outputs: [[2, 3]], times: [50] },
    ];
    const cmp = compareTraces(passTrace('a', specs), passTrace('b', specs));
    expect(cmp.rows.map((r) => [r.shapes, r.a!.timeNs, r.b!.timeNs])).toEqual(
      [['scalar → 2x3', 50, 50], ['2 → 3x6', 40, 40], ['2x3x6 → -', 30, 30], ['2 3 → 6', 20, 20], ['2x3 → 6', 10, 10]].sort((x, y) => (x[0] < y[0] ? -1 : 1)),
    );
  });

  // Each case: times per pass in A and B for a big row (Matmul) and a small one (Add, ~1% of time).
  it.each([
    { name: '+10%, no noise', a: [1000, 1000, 1000], b: [1100, 1100, 1100], threshold: 0.05, verdict: 'regressed' },
    { name: '+10% under a 15% threshold', a: [1000, 1000, 1000], b: [1100, 1100, 1100], threshold: 0.15, verdict: 'unchanged' },
    { name: '+10% inside the noise', a: [800, 1000, 1200], b: [900, 1100, 1300], threshold: 0.05, verdict: 'unchanged' },
    { name: '+50% beyond the noise', a: [950, 1000, 1050], b: [1450, 1500, 1550], threshold: 0.05, verdict: 'regressed' },
    { name: '-20%', a: [1000, 1000, 1000], b: [800, 800, 800], threshold: 0.05, verdict: 'improved' },
    { name: 'single pass +6%', a: [1000], b: [1060], threshold: 0.05, verdict: 'regressed' },
  ])('row verdict: $name', ({ a, b, threshold, verdict }) => {
    const cmp = compareTraces(passTrace('a', [{ ...MM, times: a }]), passTrace('b', [{ ...MM, times: b }]));
    const r = cmp.rows[0];
    const noise = 2 * Math.sqrt(sampleStd(a) ** 2 / a.length + sampleStd(b) ** 2 / b.length);
    expect(r.noiseNs).toBeCloseTo(noise, 9);
    expect(rowVerdict(r, { threshold })).toBe(verdict);
    const regs = regressions(cmp, { threshold });
    if (verdict === 'regressed') {
      // The only row is the whole primitive time, so the total regresses with it.
      expect(regs.map((x) => [x.kind, x.name])).toEqual([
        ['total', 'primitive time'],
        ['total', 'eval time'],
        ['row', 'Matmul 64x64 64x64 → 64x64'],
      ]);
      const rr = regs[2];
      expect(rr.fraction).toBeCloseTo((mean(b) - mean(a)) / mean(a), 12);
      expect(rr.beyondNoise).toBeCloseTo((mean(b) - mean(a) - noise) / mean(a), 12);
    } else {
      expect(regs).toEqual([]);
    }
  });

  it('a row under minShare is ignored by the gate; a row above it is caught even when the total is not', () => {
    const a = passTrace('a', [{ ...MM, times: [10_000] }, { ...ADD, times: [50] }, { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], times: [800] }]);
    // Add doubles (0.5% of time); Exp grows 50% (7% of time), the total only 4%.
    const b = passTrace('b', [{ ...MM, times: [10_000] }, { ...ADD, times: [100] }, { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], times: [1200] }]);
    const cmp = compareTraces(a, b);
    const add = row(cmp, (r) => r.op === 'Add');
    // Shares are of busy time (evals and syncs), like every "% of" column; here B's eval holds 11,300 ns of primitives.
    expect(cmp.totals.busyNs.b).toBeGreaterThanOrEqual(11_300);
    expect(add.share).toBeCloseTo(100 / cmp.totals.busyNs.b, 12);
    expect(rowVerdict(add)).toBe('small');
    expect(totalVerdict(cmp.totals.primitiveNs)).toBe('unchanged');
    expect(regressions(cmp).map((r) => r.name)).toEqual(['Exp 64x64 → 64x64']);
    expect(regressions(cmp, { minShare: 0 }).map((r) => r.name)).toEqual(['Add 64x64 64x64 → 64x64', 'Exp 64x64 → 64x64']);
  });

  it('warm-up passes do not count: a slow warm-up in B is not a regression', () => {
    const a = passTrace('a', [{ ...MM, times: [1000, 1000] }]);
    const b = passTrace('b', [{ ...MM, times: [1000, 1000] }], { warmup: 3, warmupNs: 50_000 });
    const cmp = compareTraces(a, b);
    expect(cmp.rows[0].deltaNs).toBe(0);
    expect(regressions(cmp, { threshold: 0 })).toEqual([]);
  });

  it('a trace compared with itself has no deltas and no regressions, even at a zero threshold', () => {
    const t = syntheticTrace({ steps: 3 });
    const cmp = compareTraces(t, t);
    expect(cmp.onlyA).toEqual([]);
    expect(cmp.onlyB).toEqual([]);
    expect(cmp.rows.every((r) => r.deltaNs === 0 && r.presence === 'both')).toBe(true);
    expect(regressions(cmp, { threshold: 0, minShare: 0 })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Real MLX traces

let small: Trace;
let big: Trace;

// Two real profiles (3 passes + 1 warm-up): a 256² or 512² matmul, then the same 64² exp. Saved for the CLI tests.
beforeAll(async () => {
  const inst = registerMlxInstrumentation();
  try {
    const record = async (n: number) => {
        const m = mx.random.normal([n, n]);
        const e = mx.random.normal([64, 64]);
        mx.eval(m, e);
        return profile(() => {
          mx.eval(mx.matmul(m, m));
          mx.eval(mx.exp(e));
        }, { passes: 3, warmup: 1, name: `matmul ${n}` });
      };
      small = await record(256);
      big = await record(512);
    } finally {
      inst.disable();
    }
    mkdirSync(OUT, { recursive: true });
    saveTrace(small, join(OUT, 'small.json'));
    saveTrace(big, join(OUT, 'big.json'));
});

describe('compareTraces on real MLX profiles', () => {
  const measured = (t: Trace, name: string) => {
    const passes = [...new Set(t.spans.filter((s) => !s.warmup && s.pass !== undefined).map((s) => s.pass!))];
    return passes.map((p) => t.spans.filter((s) => s.pass === p && s.kind === 'primitive' && (name === '*' || s.name === name)).reduce((a, s) => a + s.end - s.start, 0));
  };

  it('matches the Exp of the same shape, keeps the two Matmul shapes apart, and the deltas are the spans\' sums', () => {
    const cmp = compareTraces(small, big);
    expect(cmp.a.passes).toBe(3);
    expect(cmp.a.warmup).toBe(1);
    const exp = row(cmp, (r) => r.op === 'Exp');
    expect(exp.presence).toBe('both');
    expect(exp.shapes).toBe('64x64 → 64x64');
    expect(exp.a!.timeNs).toBeCloseTo(mean(measured(small, 'Exp')), 6);
    expect(exp.b!.timeNs).toBeCloseTo(mean(measured(big, 'Exp')), 6);
    expect(exp.deltaNs).toBeCloseTo(mean(measured(big, 'Exp')) - mean(measured(small, 'Exp')), 6);
    expect(exp.deltaFlops).toBe(0);
    expect(exp.a!.memoryBytes).toBe(64 * 64 * 4);

    expect(cmp.onlyA.map((r) => [r.op, r.shapes, r.a!.flops])).toEqual([['Matmul', '256x256 256x256 → 256x256', 2 * 256 ** 3]]);
    expect(cmp.onlyB.map((r) => [r.op, r.shapes, r.b!.flops])).toEqual([['Matmul', '512x512 512x512 → 512x512', 2 * 512 ** 3]]);
    expect(cmp.onlyB[0].deltaMemoryBytes).toBe(512 * 512 * 4);
    expect(cmp.totals.primitiveNs.a).toBeCloseTo(mean(measured(small, '*')), 6);
    expect(cmp.totals.primitiveNs.b).toBeCloseTo(mean(measured(big, '*')), 6);
    expect(cmp.totals.flops.delta).toBe(2 * 512 ** 3 - 2 * 256 ** 3);
    // 8x the work: the total regresses far beyond any noise.
    expect(regressions(cmp).map((r) => r.name)).toContain('primitive time');
  });

  it('grouped by op, the two Matmuls are one row with the FLOP delta of the sizes', () => {
    const cmp = compareTraces(small, big, { groupBy: 'op' });
    const mm = row(cmp, (r) => r.key === 'Matmul');
    expect(mm.deltaFlops).toBe(2 * (512 ** 3 - 256 ** 3));
    expect(mm.b!.perCallNs).toBeCloseTo(mean(measured(big, 'Matmul')), 6);
    expect(rowVerdict(mm)).toBe('regressed');
  });

  it('formatComparison: plain text without color, within the width, verdict last', () => {
    const cmp = compareTraces(small, big);
    const text = formatComparison(cmp, { colors: makeColors(false), width: 80, labelA: 'small.json', labelB: 'big.json' });
    expect(text).not.toContain('\x1b[');
    for (const l of text.split('\n')) expect(visibleWidth(l)).toBeLessThanOrEqual(80);
    expect(text.split('\n')[0]).toBe('mlx-trace compare: small.json → big.json');
    expect(text).toMatch(/^primitive time .* slower$/m);
    expect(text).toMatch(/^Matmul 512x512 512x512 → 512x512 .* only B$/m);
    expect(text).toContain('1 row matched · 1 only in A · 1 only in B');
    // The verdict closes the text, wrapped to the width.
    const verdict = text.slice(text.lastIndexOf('\n\n') + 2).split('\n');
    expect(verdict.length).toBeGreaterThan(1);
    expect(verdict.join(' ')).toMatch(/^Regressed \(more than 5\.0% beyond noise; rows under 1\.0% of time ignored\): primitive time \+[\d.]+% \(.*\); eval time \+/);
    const colored = formatComparison(cmp, { colors: makeColors(true), width: 80 });
    expect(colored).toContain('\x1b[31m');
    expect(stripAnsi(colored)).toBe(formatComparison(cmp, { colors: makeColors(false), width: 80 }));
  });
});

describe('CLI helpers', () => {
  it.each([
    ['5%', 0.05],
    ['5', 0.05],
    ['0.5%', 0.005],
    [' 12 % ', 0.12],
  ])('parsePercent(%j) = %d', (text, want) => expect(parsePercent(text, '--x')).toBeCloseTo(want, 12));

  it.each(['', 'abc', '-5%', '5%%', '1e2'])('parsePercent(%j) is a usage error', (text) => {
    expect(() => parsePercent(text, '--x')).toThrow(/--x takes a percentage such as 5%/);
  });

  it('fitLabel keeps the op name when the label is too long, shortening shapes, then the layer', () => {
    const cmp = compareTraces(
      passTrace('a', [{ op: 'Matmul', layer: 'model.layers.11.self_attention.q_proj (Linear)', inputs: [[1, 128, 4096], [4096, 4096]], outputs: [[1, 128, 4096]], times: [1] }]),
      passTrace('b', [{ op: 'Matmul', layer: 'x', inputs: [[1]], outputs: [[1]], times: [1] }]),
    );
    const r = cmp.onlyA[0];
    for (const w of [80, 60, 40, 20]) {
      const l = fitLabel(r, w);
      expect([...l].length).toBeLessThanOrEqual(w);
      expect(l).toContain('Matmul');
    }
    expect(fitLabel(r, 200)).toBe(r.label);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The CLI as a subprocess, and the HTML diff in a browser

const XSS = '<script>alert(1)</script>';

describe('mlx-trace compare (subprocess)', () => {
  beforeAll(async () => {
    // Own build of the package (test/helpers/cli.ts) so tests never race another build of dist/.
    CLI_DIR = await buildCli('compare');
    CLI = join(CLI_DIR, 'cli.js');
    // Hand-built traces: one row grows 50% while the total grows 4% (a row-only regression), and one with a
    // layer named like a script.
    const base = [{ ...MM, times: [10_000, 10_000, 10_000] }, { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], layer: XSS, times: [800, 800, 800] }];
    const grown = [{ ...MM, times: [10_000, 10_000, 10_000] }, { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], layer: XSS, times: [1200, 1200, 1200] }];
    saveTrace(passTrace('row-a', base), join(OUT, 'row-a.json'));
    saveTrace(passTrace('row-b', grown), join(OUT, 'row-b.json'));
  }, 120_000);

  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'compare', ...args], { cwd: OUT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '' } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('exits 1 on a real regression with --fail-on-regression 5%, saying what regressed by how much in one line', () => {
    const r = run('small.json', 'big.json', '--fail-on-regression', '5%');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mlx-trace compare: regressed by more than 5\.0% beyond noise: primitive time \+\d[\d.]*% \(\d.* → \d.*\)/);
    // The table went to stdout, plain (not a TTY).
    expect(r.stdout).toContain('mlx-trace compare: small.json → big.json');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('exits 0 comparing a trace with itself', () => {
    const r = run('small.json', 'small.json', '--fail-on-regression', '5%');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No regression');
  });

  it('reports without failing when --fail-on-regression is not given', () => {
    const r = run('small.json', 'big.json');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Regressed/m);
  });

  it('catches a row that regressed while the total stayed under the threshold, and honours --min-share', () => {
    const r = run('row-a.json', 'row-b.json', '--fail-on-regression', '5%');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Exp 64x64 → 64x64 +50.0% (800 ns → 1.20 µs)`);
    expect(r.stderr).not.toContain('primitive time');
    expect(run('row-a.json', 'row-b.json', '--fail-on-regression', '5%', '--min-share', '20%').code).toBe(0);
    expect(run('row-a.json', 'row-b.json', '--fail-on-regression', '60%').code).toBe(0);
  });

  it.each([
    { why: 'a missing file', args: ['small.json', 'nope.json'], message: /^mlx-trace compare: .*nope\.json.*$/ },
    { why: 'an unknown flag', args: ['small.json', 'big.json', '--bogus'], message: /option.*--bogus/i },
    { why: 'a bad percentage', args: ['small.json', 'big.json', '--fail-on-regression', 'lots'], message: /--fail-on-regression takes a percentage such as 5%, not "lots"/ },
    { why: 'a flag without its value', args: ['small.json', 'big.json', '--fail-on-regression'], message: /--fail-on-regression/ },
    { why: 'one file only', args: ['small.json'], message: /give two trace files/ },
    { why: 'a bad --top', args: ['small.json', 'big.json', '--top', 'x'], message: /--top must be a whole number/ },
    { why: 'a bad --group-by', args: ['small.json', 'big.json', '--group-by', 'device'], message: /--group-by must be one of detail, op, layer/ },
  ])('exits 2 with one line on $why', ({ args, message }) => {
    const r = run(...args);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('exits 2 on a file that is not a trace', () => {
    const r = run('small.json', join(CLI_DIR, 'cli.js'));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help prints the usage and exits 0', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: mlx-trace compare A\.json B\.json/);
    expect(r.stdout).toContain('--fail-on-regression P');
  });

  it('--html writes the diff view with every name escaped', () => {
    const file = join(OUT, 'diff.html');
    rmSync(file, { force: true });
    const r = run('row-a.json', 'row-b.json', '--html', 'diff.html');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${file}`);
    const html = readFileSync(file, 'utf8');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain(XSS);
    expect(html).toContain('<tr class="v-regressed">');
  });
});

describe('HTML diff view in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('sorts by a clicked column, filters by name, and runs no injected script', async () => {
    const a = passTrace('<b>a</b>', [
      { ...MM, times: [1000, 1000] },
      { ...ADD, layer: XSS, times: [400, 400] },
      { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], layer: '"><img src=x onerror=alert(2)>', times: [300, 300] },
      { op: 'Sin', inputs: [[64, 64]], outputs: [[64, 64]], times: [500, 500] },
    ]);
    const b = passTrace('b', [
      { ...MM, times: [900, 900] },
      { ...ADD, layer: XSS, times: [800, 800] },
      { op: 'Exp', inputs: [[64, 64]], outputs: [[64, 64]], layer: '"><img src=x onerror=alert(2)>', times: [330, 330] },
      { op: 'Sin', inputs: [[64, 64]], outputs: [[64, 64]], times: [500, 500] },
    ]);
    const html = renderDiffHtml(compareTraces(a, b));
    const page = await browser.newPage();
    const dialogs: string[] = [];
    const errors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent(html);
    const names = () => page.$$eval('#rows tbody tr:not([hidden]) td.name', (els) => els.map((e) => e.textContent ?? ''));
    const ops = () => page.$$eval('#rows tbody tr:not([hidden]) td.name .op', (els) => els.map((e) => e.textContent ?? ''));
    // Names are shown as text, exactly as in the trace; largest |Δ| first.
    expect(await names()).toEqual([
      `${XSS} Add 64x64 64x64 → 64x64`,
      'Matmul 64x64 64x64 → 64x64',
      '"><img src=x onerror=alert(2)> Exp 64x64 → 64x64',
      'Sin 64x64 → 64x64',
    ]);
    expect(await page.$$eval('img, #rows script', (els) => els.length)).toBe(0);
    expect(await page.title()).toBe('mlx-trace diff: <b>a</b> → b');

    // Δ%: Add +100%, Exp +10%, Sin 0%, Matmul -10%. First click sorts descending, second ascending.
    await page.click('#rows th:nth-child(5)');
    expect(await ops()).toEqual(['Add', 'Exp', 'Sin', 'Matmul']);
    await page.click('#rows th:nth-child(5)');
    expect(await ops()).toEqual(['Matmul', 'Sin', 'Exp', 'Add']);
    expect(await page.getAttribute('#rows th:nth-child(5)', 'aria-sort')).toBe('ascending');
    // Text columns sort A to Z first (by the whole label: '"><img' < '<script' < 'Matmul' < 'Sin').
    await page.click('#rows th:nth-child(1)');
    expect(await ops()).toEqual(['Exp', 'Add', 'Matmul', 'Sin']);
    expect(await page.getAttribute('#rows th:nth-child(1)', 'aria-sort')).toBe('ascending');

    await page.fill('#filter', 'EXP');
    expect(await ops()).toEqual(['Exp']);
    await page.fill('#filter', '');
    // No noise: Add and Exp regressed, Matmul improved, Sin did not change.
    await page.check('#changed');
    expect(await ops()).toEqual(['Exp', 'Add', 'Matmul']);
    expect(await page.$$eval('#rows tr.v-regressed .op', (els) => els.map((e) => e.textContent))).toEqual(['Exp', 'Add']);
    expect(await page.$$eval('#rows tr.v-improved .op', (els) => els.map((e) => e.textContent))).toEqual(['Matmul']);

    expect(await page.$eval('.verdict-line', (e) => e.className)).toContain('bad');
    expect(dialogs).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
