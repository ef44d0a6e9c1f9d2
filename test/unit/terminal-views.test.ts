// What every terminal view shows of names that come from a trace: layer paths stay readable (the leaf kept, rows
// told apart), the by-layer view sorts by compute time, and control characters never reach the terminal.
import { describe, expect, it } from 'vitest';
import { formatReport, summarizeReport } from '../../src/exporters/terminal/report';
import { formatPassStats } from '../../src/exporters/terminal/pass-stats';
import { formatFindings } from '../../src/exporters/terminal/findings';
import { fitLayerName, makeColors, printable, stripAnsi } from '../../src/exporters/terminal/format';
import { formatComparison } from '../../src/cli/commands/compare';
import { compareTraces } from '../../src/core/analysis/compare';
import type { Finding } from '../../src/core/analysis/advisor';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const mk = (p: Partial<Span> & Pick<Span, 'id' | 'kind' | 'name' | 'start' | 'end'>): Span => ({
  parentId: null, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, ...p,
});

/** One forward pass of a model with `blocks` blocks: a root layer, per block an attention with four projections. */
function deepModel(blocks: number, names: { op?: string; layer?: (b: number, leaf: string) => string; trace?: string } = {}): Trace {
  const spans: Span[] = [];
  let id = 1;
  let t = 0;
  const layerName = names.layer ?? ((b: number, leaf: string) => `model.layers.${b}.self_attention.${leaf} (Linear)`);
  const root = mk({ id: id++, kind: 'layer', name: 'model (Transformer)', start: t, end: 0 });
  spans.push(root);
  const leaves: Span[] = [];
  for (let b = 0; b < blocks; b++) {
    for (const leaf of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      const l = mk({ id: id++, kind: 'layer', name: layerName(b, leaf), parentId: root.id, start: t, end: t + 100 });
      t += 110;
      spans.push(l);
      leaves.push(l);
    }
  }
  root.end = t;
  const ev = mk({ id: id++, kind: 'eval', name: 'eval', start: t, end: 0 });
  spans.push(ev);
  leaves.forEach((l, k) => {
    const d = 1000 + 10 * k;
    spans.push(mk({ id: id++, kind: 'primitive', name: names.op ?? 'Matmul', parentId: ev.id, start: t, end: t + d, layerId: l.id, layer: l.name, flops: 2e6, bytes: 1e4 }));
    t += d;
  });
  ev.end = t;
  return { ...syntheticTrace({ steps: 1 }), name: names.trace ?? 'deep', spans, memory: [] };
}

function tableNames(text: string): string[] {
  const lines = stripAnsi(text).split('\n');
  const start = lines.findIndex((l) => /^-{10,}$/.test(l));
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l === '' || l.startsWith('...') || l.startsWith('total/self') || l.startsWith('busy time')) break;
    out.push(l.split(/\s{2,}/)[0]);
  }
  return out;
}

describe('by-layer view', () => {
  it.each([80, 100, 120])('at width %i every layer row keeps its leaf and rows stay distinct', (width) => {
    const trace = deepModel(4);
    const names = tableNames(formatReport(trace, { groupBy: 'layer', width, top: 100 }));
    const leaves = trace.spans.filter((s) => s.kind === 'layer' && s.name !== 'model (Transformer)');
    expect(names.length).toBe(leaves.length + 1);
    expect(new Set(names).size).toBe(names.length);
    for (const n of names) expect(n, n).toMatch(/(_proj \(Linear\)|model \(Transformer\))$/);
    // The block number survives: each row can be read back to its layer.
    for (const l of leaves) {
      const block = /layers\.(\d+)\./.exec(l.name)![1];
      const leaf = /(\w+_proj) \(Linear\)$/.exec(l.name)![1];
      expect(names.some((n) => n.includes(`.${block}.`) && n.endsWith(`${leaf} (Linear)`)), `${l.name} in ${names.join(' | ')}`).toBe(true);
    }
  });

  it('sorts by compute time by default, the root that builds but computes nothing last; --sort total still works', () => {
    const trace = deepModel(2);
    const sum = summarizeReport(trace, { groupBy: 'layer' });
    expect(sum.sortBy).toBe('compute');
    const compute = sum.rows.map((r) => r.computeNs);
    expect(compute).toEqual([...compute].sort((a, b) => b - a));
    expect(sum.rows[sum.rows.length - 1].key).toBe('model (Transformer)');
    const byTotal = summarizeReport(trace, { groupBy: 'layer', sortBy: 'total' });
    expect(byTotal.rows[0].key).toBe('model (Transformer)');
    expect(summarizeReport(trace).sortBy).toBe('total');
  });

  it('fitLayerName shrinks path segments from the left, keeps numbers and the leaf, then cuts the start', () => {
    expect(fitLayerName('model.layers.11.self_attn.q_proj (Linear)', 100)).toBe('model.layers.11.self_attn.q_proj (Linear)');
    expect(fitLayerName('model.layers.11.self_attn.q_proj (Linear)', 34)).toBe('m.l.11.self_attn.q_proj (Linear)');
    expect(fitLayerName('model.layers.11.self_attn.q_proj (Linear)', 24)).toBe('m.l.11.s.q_proj (Linear)');
    expect([...fitLayerName('model.layers.11.self_attn.q_proj (Linear)', 12)].length).toBe(12);
    expect(fitLayerName('model.layers.11.self_attn.q_proj (Linear)', 12).endsWith('(Linear)')).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Control characters

const NASTY = [
  '\x1b]0;pwned\x07', // window title (OSC, BEL-terminated)
  '\x1b[2J\x1b[H', // clear screen, cursor home
  '\x1b]52;c;cm0gLXJmIH4=\x1b\\', // OSC 52 clipboard write, ST-terminated
  '\x9b31m', // C1 CSI
  '\u202e', // right-to-left override
];
const evil = (s: string) => `${NASTY.join('')}${s}${NASTY.join('')}`;

/** No control character except newline; with color on, only SGR color codes. */
function expectClean(text: string) {
  const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
  expect(plain).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
}

function evilTrace(): Trace {
  const t = deepModel(2, { op: evil('Matmul'), layer: (b, leaf) => evil(`layers.${b}.${leaf}`) + ' (Linear)', trace: evil('trace') });
  t.meta = { ...t.meta, timing: 'js', fallbackReason: evil('reason') } as Trace['meta'];
  for (const s of t.spans) if (s.kind === 'primitive') s.device = evil('cpu') as Span['device'];
  return t;
}

describe('control characters in names never reach the terminal', () => {
  it.each(['op', 'layer', 'device'] as const)('report by %s, at every width, with and without color', (groupBy) => {
    const t = evilTrace();
    for (const width of [40, 60, 100, 200]) {
      for (const color of [false, true]) expectClean(formatReport(t, { groupBy, width, color, top: 100 }));
    }
  });

  it('pass statistics', () => {
    const t = evilTrace();
    const pass = mk({ id: 10_000, kind: 'user', name: 'pass 1', start: 0, end: t.spans.reduce((a, s) => Math.max(a, s.end), 0), attrs: { pass: 1 }, pass: 1, warmup: false });
    const pass2 = { ...pass, id: 10_001, attrs: { pass: 2 }, pass: 2 };
    const spans = [pass, pass2, ...t.spans.map((s) => ({ ...s, pass: 1, warmup: false })), ...t.spans.map((s) => ({ ...s, id: s.id + 20_000, parentId: s.parentId == null ? null : s.parentId + 20_000, layerId: s.layerId == null ? s.layerId : s.layerId + 20_000, pass: 2, warmup: false }))];
    const multi: Trace = { ...t, spans };
    for (const groupBy of ['op', 'layer'] as const) {
      const lines = formatPassStats(multi, { groupBy, width: 80, color: true });
      expect(lines.length).toBeGreaterThan(3);
      expectClean(lines.join('\n'));
    }
  });

  it('findings, including ones read from a file with text in every field', () => {
    const f = { rule: evil('unfused-op'), severity: evil('warning'), message: evil('message'), suggestion: evil('fix'), evidence: [1, evil('2')], timeAtStake: 5 } as unknown as Finding;
    const lines = formatFindings([f, { ...f, severity: 'critical' } as Finding], { color: true });
    expectClean(lines.join('\n'));
    expect(lines.join('\n')).toContain('message');
    const report = formatReport({ ...evilTrace(), meta: { ...evilTrace().meta, advice: [f] } }, { advice: true, width: 100 });
    expectClean(report);
  });

  it('compare', () => {
    const a = evilTrace();
    const cmp = compareTraces(a, a, { groupBy: 'detail' });
    for (const width of [50, 100]) expectClean(formatComparison(cmp, { width, colors: makeColors(true), labelA: evil('a.json'), labelB: evil('b.json') }));
    expectClean(formatComparison(compareTraces(a, a, { groupBy: 'layer' }), { width: 60, colors: makeColors(false) }));
  });

  it('printable replaces each control character and leaves other text as it is', () => {
    expect(printable('\x1b[31mred\x1b[0m')).toBe('?[31mred?[0m');
    expect(printable('layers.0 (Linear) · µs → 8x64')).toBe('layers.0 (Linear) · µs → 8x64');
    expect(printable(42)).toBe('42');
  });
});
