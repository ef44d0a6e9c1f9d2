import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { formatReport, summarizeReport, type ReportGroupBy } from '../../src/exporters/terminal/report';
import {
  formatBytes, formatCount, formatDuration, formatPercent, formatSI, makeColors, parseDuration, shouldColor, stripAnsi, truncateMiddle,
} from '../../src/exporters/terminal/format';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';

const here = fileURLToPath(new URL('.', import.meta.url));
const ANSI = /\x1b\[/;

// ---- Independent arithmetic: plain loops over the trace, written without the report's code. ----

interface Expected { calls: number; total: number; compute: number; flops: number; flopsNs: number; bytes: number; bytesNs: number }

function expectedByOp(trace: Trace, key: (s: Span) => string): Map<string, Expected> {
  const m = new Map<string, Expected>();
  for (const s of trace.spans) {
    if (s.kind !== 'primitive') continue;
    const k = key(s);
    const e = m.get(k) ?? { calls: 0, total: 0, compute: 0, flops: 0, flopsNs: 0, bytes: 0, bytesNs: 0 };
    const d = s.end - s.start;
    e.calls += 1;
    e.total += d;
    e.compute += d;
    if (s.flops !== null) { e.flops += s.flops; e.flopsNs += d; }
    if (s.bytes !== null) { e.bytes += s.bytes; e.bytesNs += d; }
    m.set(k, e);
  }
  return m;
}

function evalTime(trace: Trace): number {
  // Top-level evals only; the synthetic and real traces have no nested evals, so a plain sum must agree.
  return trace.spans.filter((s) => s.kind === 'eval').reduce((a, s) => a + (s.end - s.start), 0);
}

/** Merged [start, end] intervals, by a plain sort. */
function merged(iv: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of [...iv].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/**
 * Busy time and the primitive time inside it, written plainly: eval and sync spans, each stretched to the end of
 * the primitives whose parent it is, and the primitives themselves, merged; primitives merged and clipped to that.
 */
function busyTime(trace: Trace): { busy: number; covered: number } {
  const lastChildEnd = new Map<number, number>();
  for (const s of trace.spans) if (s.kind === 'primitive' && s.parentId != null) lastChildEnd.set(s.parentId, Math.max(lastChildEnd.get(s.parentId) ?? -Infinity, s.end));
  const prims = merged(trace.spans.filter((s) => s.kind === 'primitive').map((s) => [s.start, s.end]));
  const busy = merged([
    ...trace.spans.filter((s) => s.kind === 'eval' || s.kind === 'sync').map((s): [number, number] => [s.start, Math.max(s.end, lastChildEnd.get(s.id) ?? -Infinity)]),
    ...prims,
  ]);
  let covered = 0;
  for (const [a, b] of prims) for (const [c, d] of busy) covered += Math.max(0, Math.min(b, d) - Math.max(a, c));
  return { busy: busy.reduce((t, [a, b]) => t + b - a, 0), covered };
}

/** Table rows as cells: lines after the dashed rule, split on runs of 2+ spaces. */
function tableRows(text: string): Map<string, string[]> {
  const lines = stripAnsi(text).split('\n');
  const start = lines.findIndex((l) => /^-{10,}$/.test(l));
  const header = lines[start - 1].trim().split(/\s{2,}/);
  const rows = new Map<string, string[]>();
  for (const l of lines.slice(start + 1)) {
    if (l === '' || l.startsWith('...') || l.startsWith('total/self') || l.startsWith('busy time')) break;
    const cells = l.trim().split(/\s{2,}/);
    expect(cells.length).toBe(header.length);
    rows.set(cells[0], cells);
  }
  return rows;
}

function headerIndex(text: string): (title: string) => number {
  const lines = stripAnsi(text).split('\n');
  const start = lines.findIndex((l) => /^-{10,}$/.test(l));
  const header = lines[start - 1].trim().split(/\s{2,}/);
  return (title) => {
    const i = header.indexOf(title);
    expect(i, `column ${title} in ${header.join('|')}`).toBeGreaterThan(-1);
    return i;
  };
}

/** A displayed duration has three significant digits: it must match the exact value to within that rounding. */
function expectDurationCell(cell: string, ns: number) {
  const shown = parseDuration(cell);
  expect(Number.isNaN(shown), `cell '${cell}'`).toBe(false);
  expect(Math.abs(shown - ns)).toBeLessThanOrEqual(Math.max(0.5, Math.abs(ns) * 0.005));
}

function expectNumberCell(cell: string, value: number) {
  expect(Math.abs(Number(cell) - value)).toBeLessThanOrEqual(Math.abs(value) * 0.005 + 1e-12);
}

function checkOpTable(trace: Trace) {
  const text = formatReport(trace, { groupBy: 'op', sortBy: 'total', top: 1000, width: 200 });
  const rows = tableRows(text);
  const col = headerIndex(text);
  const expected = expectedByOp(trace, (s) => s.name);
  const { busy: busyNs, covered } = busyTime(trace);
  expect(rows.size).toBe(expected.size);
  for (const [name, e] of expected) {
    const cells = rows.get(name)!;
    expect(cells, `row for ${name}`).toBeDefined();
    expect(Number(cells[col('calls')].replace(/,/g, ''))).toBe(e.calls);
    expectDurationCell(cells[col('total')], e.total);
    expectDurationCell(cells[col('self')], e.total); // primitives have no child spans
    expectDurationCell(cells[col('mean')], e.total / e.calls);
    const pct = (e.total / busyNs) * 100;
    if (busyNs > 0) expect(cells[col('% busy')]).toBe(pct > 0 && pct < 0.05 ? '<0.1%' : `${pct.toFixed(1)}%`);
    if (e.flopsNs > 0) expectNumberCell(cells[col('GFLOP/s')], e.flops / (e.flopsNs / 1e9) / 1e9);
    else expect(cells[col('GFLOP/s')]).toBe('-');
    if (e.bytesNs > 0) expectNumberCell(cells[col('GB/s')], e.bytes / (e.bytesNs / 1e9) / 1e9);
  }
  // Rows come largest total first.
  const totals = [...rows.keys()].map((k) => expected.get(k)!.total);
  expect(totals).toEqual([...totals].sort((a, b) => b - a));

  // Header: totals and coverage.
  const primNs = trace.spans.filter((s) => s.kind === 'primitive').reduce((a, s) => a + (s.end - s.start), 0);
  const plain = stripAnsi(text);
  const m = /primitive time ([\d.]+ \S+) in ([\d,]+) primitives/.exec(plain)!;
  expect(m, plain).not.toBeNull();
  expectDurationCell(m[1], primNs);
  expect(Number(m[2].replace(/,/g, ''))).toBe(trace.spans.filter((s) => s.kind === 'primitive').length);
  if (busyNs > 0) expect(plain).toContain(`coverage ${((covered / busyNs) * 100).toFixed(1)}%`);
  expect(plain).toContain(`${trace.dropped.toLocaleString('en-US')} dropped events`);
  expect(plain).toContain(`timing: ${trace.meta.timing}`);
}

describe('formatReport on a synthetic trace', () => {
  const trace = syntheticTrace({ steps: 3, blocks: 3, primitivesPerLayer: 5, dropped: 12 });
  afterEach(() => {
    delete process.env.NO_COLOR;
  });

  it('op table numbers equal the sums over the trace', () => {
    checkOpTable(trace);
  });

  it('summarizeReport raw numbers are the exact sums', () => {
    const sum = summarizeReport(trace, { groupBy: 'op' });
    const expected = expectedByOp(trace, (s) => s.name);
    for (const r of sum.rows) {
      const e = expected.get(r.key)!;
      expect([r.calls, r.totalNs, r.flops, r.flopsNs, r.bytes, r.bytesNs]).toEqual([e.calls, e.total, e.flops, e.flopsNs, e.bytes, e.bytesNs]);
    }
    expect(sum.evalNs).toBe(evalTime(trace));
    expect(sum.evalCount).toBe(3);
    expect(sum.dropped).toBe(12);
  });

  it('device grouping sums all primitives into one cpu row', () => {
    const text = formatReport(trace, { groupBy: 'device', width: 200 });
    const rows = tableRows(text);
    const col = headerIndex(text);
    const e = expectedByOp(trace, (s) => s.device).get('cpu')!;
    expect([...rows.keys()]).toEqual(['cpu']);
    expect(Number(rows.get('cpu')![col('calls')])).toBe(e.calls);
    expectDurationCell(rows.get('cpu')![col('total')], e.total);
  });

  it('layer grouping: wall time, self = wall minus child layers, compute = primitives each layer built', () => {
    const byId = new Map(trace.spans.map((s) => [s.id, s]));
    const path = (s: Span) => s.name;
    const wall = new Map<string, number>();
    const self = new Map<string, number>();
    const calls = new Map<string, number>();
    for (const s of trace.spans) {
      if (s.kind !== 'layer') continue;
      const d = s.end - s.start;
      wall.set(path(s), (wall.get(path(s)) ?? 0) + d);
      calls.set(path(s), (calls.get(path(s)) ?? 0) + 1);
      self.set(path(s), (self.get(path(s)) ?? 0) + d);
      const parent = s.parentId != null ? byId.get(s.parentId) : undefined;
      if (parent?.kind === 'layer') self.set(path(parent), (self.get(path(parent)) ?? 0) - d);
    }
    const compute = expectedByOp(trace, (s) => byId.get(s.layerId!)!.name);

    const text = formatReport(trace, { groupBy: 'layer', top: 1000, width: 200 });
    const rows = tableRows(text);
    const col = headerIndex(text);
    expect(new Set(rows.keys())).toEqual(new Set([...wall.keys(), ...compute.keys()]));
    for (const [k, w] of wall) {
      const cells = rows.get(k)!;
      expect(Number(cells[col('calls')])).toBe(calls.get(k));
      expectDurationCell(cells[col('total')], w);
      expectDurationCell(cells[col('self')], self.get(k)!);
      expectDurationCell(cells[col('compute')], compute.get(k)?.compute ?? 0);
    }
    // The block's self time excludes its attention and mlp children, so it is strictly smaller than its total.
    expect(self.get('layers.0 (Block)')!).toBeLessThan(wall.get('layers.0 (Block)')!);
    expect(rows.has('layers.0.attention (Attention)')).toBe(true);
  });

  it('layer self time subtracts child layers only, not an eval run inside the layer', () => {
    const base = syntheticTrace({ steps: 1, blocks: 1, primitivesPerLayer: 1 });
    const mk = (p: Partial<Span> & Pick<Span, 'id' | 'kind' | 'name' | 'start' | 'end'>): Span => ({
      parentId: null, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, ...p,
    });
    const t: Trace = {
      ...base,
      spans: [
        mk({ id: 1, kind: 'layer', name: 'outer (Outer)', start: 0, end: 10_000 }),
        mk({ id: 2, kind: 'layer', name: 'outer.inner (Inner)', start: 1_000, end: 3_000, parentId: 1 }),
        mk({ id: 3, kind: 'eval', name: 'eval', start: 4_000, end: 9_000, parentId: 1 }),
        mk({ id: 4, kind: 'primitive', name: 'Add', start: 4_500, end: 8_500, parentId: 3, layerId: 2, layer: 'outer.inner', flops: 10, bytes: 20 }),
      ],
    };
    const sum = summarizeReport(t, { groupBy: 'layer' });
    const outer = sum.rows.find((r) => r.key === 'outer (Outer)')!;
    const inner = sum.rows.find((r) => r.key === 'outer.inner (Inner)')!;
    expect([outer.totalNs, outer.selfNs, outer.computeNs]).toEqual([10_000, 8_000, 0]);
    expect([inner.totalNs, inner.selfNs, inner.computeNs, inner.flops]).toEqual([2_000, 2_000, 4_000, 10]);
    expect(sum.evalNs).toBe(5_000);
    expect(sum.busyNs).toBe(5_000);
    expect(sum.coverage).toBe(0.8);
  });

  it.each(['total', 'self', 'mean', 'calls', 'flops'] as const)('sortBy %s sorts rows largest first', (sortBy) => {
    const sum = summarizeReport(trace, { sortBy });
    const field = { total: 'totalNs', self: 'selfNs', mean: 'meanNs', calls: 'calls', flops: 'flops' }[sortBy] as 'totalNs';
    const values = sum.rows.map((r) => r[field]);
    expect(values).toEqual([...values].sort((a, b) => b - a));
  });

  it('sortBy name sorts A-Z', () => {
    const rows = tableRows(formatReport(trace, { sortBy: 'name', width: 200 }));
    expect([...rows.keys()]).toEqual([...rows.keys()].sort());
  });

  it('top limits rows and says how many are hidden', () => {
    const text = formatReport(trace, { top: 2, width: 200 });
    expect(tableRows(text).size).toBe(2);
    expect(text).toContain('... 5 more ops not shown (top 2 of 7 by total)');
  });

  it('lists ops without a cost formula', () => {
    const names = [...new Set(trace.spans.filter((s) => s.kind === 'primitive' && s.flops === null).map((s) => s.name))].sort();
    expect(names.length).toBeGreaterThan(0);
    expect(formatReport(trace)).toContain(`no cost formula for: ${names.join(', ')}`);
    const allCosted = syntheticTrace({ withUncosted: false });
    expect(formatReport(allCosted)).not.toContain('no cost formula');
  });

  it.each([40, 60, 80, 100, 140])('fits width %i and truncates long names', (width) => {
    const long = structuredClone(trace);
    for (const s of long.spans) if (s.name === 'Matmul') s.name = 'Matmul_with_an_extremely_long_name_that_cannot_fit_anywhere_reasonable_at_all';
    const text = formatReport(long, { width, groupBy: 'op' });
    for (const line of text.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(width);
    if (width < 100) expect(text).toContain('…');
    // The most important columns survive any width.
    expect(text).toMatch(/calls\s+total/);
  });

  it('NO_COLOR gives no ANSI escapes even when color is asked for; without it color:true colors', () => {
    expect(formatReport(trace, { color: true })).toMatch(ANSI);
    expect(formatReport(trace)).not.toMatch(ANSI);
    process.env.NO_COLOR = '1';
    expect(formatReport(trace, { color: true })).not.toMatch(ANSI);
  });

  it('bad input gives one clear line, never a throw', () => {
    for (const bad of [null, undefined, 42, {}, { schema: 'other' }, { schema: 'mlx-trace/1', spans: 'x' }]) {
      const out = formatReport(bad as unknown as Trace);
      expect(out.split('\n')).toHaveLength(1);
      expect(out).toMatch(/^mlx-trace: cannot make a report: (expected a Trace object|not an mlx-trace\/1 trace)/);
    }
    expect(formatReport(trace, { sortBy: 'speed' as never })).toBe(
      "mlx-trace: cannot make a report: unknown sortBy \"speed\" (use total, self, mean, calls, compute, flops, name)",
    );
    expect(formatReport(trace, { groupBy: 'thread' as ReportGroupBy })).toMatch(/unknown groupBy "thread"/);
  });

  it('a trace without primitives says so', () => {
    const empty: Trace = { ...trace, spans: [] };
    expect(formatReport(empty)).toContain('No primitive spans in this trace.');
  });
});

describe('printReport to a real stdout', () => {
  let script: string;
  beforeAll(async () => {
    // Bundle a tiny program that prints the report, so it runs as its own process with a real stdout.
    const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-report-'));
    const entry = join(dir, 'print.ts');
    writeFileSync(
      entry,
      `import { printReport } from ${JSON.stringify(join(here, '../../src/exporters/terminal/report'))};\n` +
        `import { syntheticTrace } from ${JSON.stringify(join(here, '../helpers/synthetic-trace'))};\n` +
        `printReport(syntheticTrace({ dropped: 3 }), { width: 100 });\n`,
    );
    script = join(dir, 'print.mjs');
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: script, logLevel: 'silent' });
  });

  const env = (extra: Record<string, string>) => {
    const e: Record<string, string> = { ...(process.env as Record<string, string>), ...extra };
    delete e.NO_COLOR;
    delete e.FORCE_COLOR;
    return { ...e, ...extra };
  };

  it('a pipe gets no ANSI', () => {
    const out = execFileSync(process.execPath, [script], { env: env({}), encoding: 'utf8' });
    expect(out).toContain('mlx-trace report: synthetic');
    expect(out).not.toMatch(ANSI);
  });

  // util-linux `script` gives the child a pseudo-terminal, so stdout.isTTY is really true.
  const hasScript = existsSync('/usr/bin/script');
  it('a TTY gets color, and NO_COLOR turns it off', () => {
    // util-linux script(1) gives the child a real pseudo-terminal; .ci/run installs it.
    expect(hasScript).toBe(true);
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(script)}`;
    const tty = execFileSync('script', ['-qec', cmd, '/dev/null'], { env: env({}), encoding: 'utf8' });
    expect(tty).toContain('mlx-trace report: synthetic');
    expect(tty).toMatch(ANSI);
    const noColor = execFileSync('script', ['-qec', cmd, '/dev/null'], { env: env({ NO_COLOR: '1' }), encoding: 'utf8' });
    expect(noColor).toContain('mlx-trace report: synthetic');
    expect(noColor).not.toMatch(ANSI);
  });
});

// A real MLX model profiled natively (see helpers/real-or-recorded.ts).
describe('formatReport on a real recorded trace', () => {
  let trace: Trace;
  beforeAll(async () => {
    trace = await recordRealOrMlp();
  });

  it('op table numbers equal the sums over the trace', () => {
    expect(trace.spans.some((s) => s.kind === 'primitive')).toBe(true);
    checkOpTable(trace);
  });

  it('layer compute column equals the primitive time each layer built', () => {
    const text = formatReport(trace, { groupBy: 'layer', top: 10_000, width: 250 });
    const rows = tableRows(text);
    const col = headerIndex(text);
    const byId = new Map(trace.spans.map((s) => [s.id, s]));
    const key = (s: Span) => {
      const l = s.layerId != null ? byId.get(s.layerId) : undefined;
      return l?.kind === 'layer' ? l.name : s.layer || '(no layer)';
    };
    for (const [k, e] of expectedByOp(trace, key)) expectDurationCell(rows.get(k)![col('compute')], e.compute);
  });
});

describe('core/format (shared by the report, the CLI and the other exporters)', () => {
  it.each([
    [0, '0 ns'], [812, '812 ns'], [999.4, '999 ns'], [999.6, '1.00 µs'], [12_345, '12.3 µs'], [999_700, '1.00 ms'],
    [1_234_567, '1.23 ms'], [2.5e9, '2.50 s'], [125e9, '125 s'],
  ])('formatDuration(%d) = %s, and parseDuration reads it back', (ns, text) => {
    expect(formatDuration(ns)).toBe(text);
    expect(Math.abs(parseDuration(text) - ns)).toBeLessThanOrEqual(Math.max(0.5, ns * 0.005));
  });

  it.each([[512, '512 B'], [1536, '1.50 KiB'], [12.3 * 2 ** 20, '12.3 MiB'], [-2048, '-2.00 KiB']])('formatBytes(%d) = %s', (b, text) => {
    expect(formatBytes(b)).toBe(text);
  });

  it('counts, SI rates and percentages', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatSI(1.5e12, 'FLOP/s')).toBe('1.50 TFLOP/s');
    expect(formatSI(20e9, 'B/s')).toBe('20.0 GB/s');
    expect(formatSI(12, 'B/s')).toBe('12.0 B/s');
    expect(formatPercent(0.1234)).toBe('12.3%');
    expect(formatPercent(0.0004)).toBe('<0.1%');
    expect(formatPercent(0.00096)).toBe('0.1%');
    expect(formatPercent(NaN)).toBe('-');
  });

  it('truncateMiddle keeps both ends and the width', () => {
    expect(truncateMiddle('layers.10.self_attn.q_proj', 12)).toBe('layers…_proj');
    expect([...truncateMiddle('layers.10.self_attn.q_proj', 12)].length).toBe(12);
    expect(truncateMiddle('short', 12)).toBe('short');
  });

  it('shouldColor: TTY only, NO_COLOR always wins, an explicit choice otherwise', () => {
    expect(shouldColor({ isTTY: true }, undefined, {})).toBe(true);
    expect(shouldColor({ isTTY: false }, undefined, {})).toBe(false);
    expect(shouldColor(undefined, undefined, {})).toBe(false);
    expect(shouldColor({ isTTY: true }, undefined, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor({ isTTY: true }, true, { NO_COLOR: '1' })).toBe(false);
    expect(shouldColor({ isTTY: true }, undefined, { NO_COLOR: '' })).toBe(true); // empty means unset (no-color.org)
    expect(shouldColor({ isTTY: false }, true, {})).toBe(true);
    expect(makeColors(false).bold('x')).toBe('x');
    expect(stripAnsi(makeColors(true).bold('x'))).toBe('x');
    expect(makeColors(true).bold('x')).toMatch(ANSI);
  });
});
