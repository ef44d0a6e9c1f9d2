/**
 * exportHtml as a document: self-contained, escaped, and packed data (see src/exporters/html/pack/) that adds up
 * to the trace, including what passes, counters, findings and generation add.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportHtml, renderHtml } from '../../src/exporters/html';
import { packTrace } from '../../src/exporters/html/pack';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { withAdvice, xssTrace, XSS_LAYER, XSS_NAME, XSS_OP } from '../helpers/html-fixture';
import { OUT } from '../helpers/html-browser';

mkdirSync(OUT, { recursive: true });


describe('exportHtml (document)', () => {
  const trace = withAdvice(syntheticTrace({ steps: 3, blocks: 2 }));

  it('returns one self-contained document and writes the same bytes to a file', async () => {
    const html = exportHtml(trace);
    expect(typeof html).toBe('string');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html.trimEnd().endsWith('</html>')).toBe(true);
    // Nothing refers to another resource: no src/href to a URL, no @import, no url() in CSS.
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:|\/\/)/i);
    expect(html).not.toMatch(/@import|url\(/i);
    // CSP: scripts only by hash, nothing fetched.
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'/);
    // Exactly one executable script (the rest are data blocks).
    const scripts = [...html.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
    expect(scripts.filter((a) => !/type="application\/(json|octet-stream)"/.test(a))).toEqual(['']);

    const file = join(OUT, 'written.html');
    const result = exportHtml(trace, file);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).resolves.toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(html);
    expect(renderHtml(trace)).toBe(html);
  });

  it('gives one clear error for input that is not a trace', async () => {
    expect(() => exportHtml(null as unknown as Trace)).toThrow(/^exportHtml: expected a Trace object, got null$/);
    expect(() => exportHtml({ schema: 'other/2', spans: [] } as unknown as Trace)).toThrow(/^exportHtml: not an mlx-trace\/1 trace: its schema is "other\/2"$/);
    await expect(exportHtml(trace, '' as string)).rejects.toThrow(/output path must be a non-empty string/);
    await expect(exportHtml(trace, join(OUT, 'no-such-dir', 'x.html'))).rejects.toThrow(/^cannot write the HTML report to .*x\.html: no such file or directory$/);
  });

  it('packs spans into columns whose sums equal the trace', () => {
    const { head, columns } = packTrace(trace);
    const col = (id: string) => columns.find((c) => c.desc.id === id)!.data;
    const start = col('start') as Float64Array;
    const dur = col('dur') as Float32Array;
    const sig = col('sig');
    const sigKind = col('sigKind');
    const sigName = col('sigName');
    const sigFlops = col('sigFlops') as Float64Array;
    expect(head.spanCount).toBe(trace.spans.length);
    expect(start.length).toBe(trace.spans.length);

    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    let primTime = 0, flops = 0, matmuls = 0;
    for (let i = 0; i < head.spanCount; i++) {
      if (head.kinds[sigKind[sig[i]]] !== 'primitive') continue;
      primTime += dur[i];
      if (!Number.isNaN(sigFlops[sig[i]])) flops += sigFlops[sig[i]];
      if (head.strings[sigName[sig[i]]] === 'Matmul') matmuls++;
    }
    expect(primTime).toBe(prims.reduce((a, s) => a + (s.end - s.start), 0));
    expect(flops).toBe(prims.reduce((a, s) => a + (s.flops ?? 0), 0));
    expect(matmuls).toBe(prims.filter((s) => s.name === 'Matmul').length);
    // Uncosted ops stay uncosted (NaN in the column, never a silent 0).
    expect(prims.some((s) => s.flops === null)).toBe(true);
    for (let s = 0; s < head.sigCount; s++) {
      if (head.strings[sigName[s]] === 'CustomKernel') expect(Number.isNaN(sigFlops[s])).toBe(true);
    }
    // Rows are in start order and their spans never overlap.
    for (let r = 0; r < head.rowLane.length; r++) {
      for (let i = head.rowOffset[r] + 1; i < head.rowOffset[r + 1]; i++) {
        expect(start[i]).toBeGreaterThanOrEqual(start[i - 1] + dur[i - 1]);
      }
    }
    // Two threads in the trace, two lanes.
    expect(head.lanes.map((l) => l.thread).sort()).toEqual([4242, 4243]);
    expect(head.memory!.peak).toBe(Math.max(...trace.memory.map((e) => e.live)));
  });

  it('sorts unsorted spans and memory, and skips spans without times', () => {
    const t = syntheticTrace({ steps: 2 });
    const shuffled: Trace = {
      ...t,
      spans: [...t.spans].reverse().concat([{ ...t.spans[0], id: 99999, start: NaN }]),
      memory: [...t.memory].reverse(),
    };
    const a = packTrace(t), b = packTrace(shuffled);
    const col = (p: ReturnType<typeof packTrace>, id: string) => Array.from(p.columns.find((c) => c.desc.id === id)!.data);
    expect(b.head.skipped).toBe(1);
    expect(col(b, 'start')).toEqual(col(a, 'start'));
    expect(col(b, 'dur')).toEqual(col(a, 'dur'));
    expect(b.head.rowOffset).toEqual(a.head.rowOffset);
    expect(col(b, 'memT')).toEqual(col(a, 'memT'));
  });

  it('reduces a huge memory curve to per-bucket extremes but keeps the exact peak', () => {
    const t = syntheticTrace({ steps: 1 });
    const memory = [];
    for (let i = 0; i < 400_000; i++) {
      // A saw-tooth between 0 and 100 bytes, with one short spike of 1 MB.
      const live = (i % 2 ? 0 : 100) + (i === 123_456 ? 1_000_000 : 0);
      memory.push({ t: i * 10, delta: 0, live });
    }
    const p = packTrace({ ...t, memory });
    expect(p.head.memory!.downsampled).toBe(true);
    expect(p.head.memory!.count).toBeLessThanOrEqual(120_000);
    expect(p.head.memory!.sourceCount).toBe(400_000);
    expect(p.head.memory!.peak).toBe(1_000_100);
    const lives = Array.from(p.columns.find((c) => c.desc.id === 'memLive')!.data);
    expect(Math.max(...lives)).toBe(1_000_100);
  });

  it('never puts a trace name into the markup unescaped', () => {
    const html = exportHtml(xssTrace());
    for (const bad of [XSS_LAYER, XSS_OP, XSS_NAME, '<script>alert(6)</script>', '<iframe', '<svg', '<b>', '<img']) {
      expect(html.includes(bad)).toBe(false);
    }
    // The title and heading carry the name escaped; the data carries it as JSON with < escaped.
    expect(html).toContain('<h1>&quot;&gt;&lt;svg onload=alert(3)&gt;</h1>');
    expect(html).toContain('\\u003cimg src=x onerror=alert(1)\\u003e');
    expect(html.match(/<\/script>/g)!.length).toBe(html.match(/<script[ >]/g)!.length);
  });
});

describe('packing passes, counters, findings and generation', () => {
  const col = (p: ReturnType<typeof packTrace>, id: string) => p.columns.find((c) => c.desc.id === id)?.data;

  it('adds no column to a trace without passes, counters, findings or generation (bytes per span unchanged)', () => {
    const p = packTrace(syntheticTrace({ steps: 2 }));
    expect(p.columns.map((c) => c.desc.id)).toEqual(['start', 'dur', 'sig', 'layer', 'sigKind', 'sigCat', 'sigName', 'sigShapes', 'sigDtype',
      'sigFlops', 'sigBytes', 'memT', 'memLive']);
    expect([p.head.passes, p.head.generation, p.head.counters]).toEqual([null, null, []]);
  });

  it('a pass column of one byte per span with (pass, warm-up) codes', () => {
    const t = syntheticTrace({ steps: 5 });
    const steps = t.spans.filter((s) => s.kind === 'user');
    const stepOf = (s: Span): number => (s.kind === 'user' ? steps.indexOf(s) : stepOf(t.spans.find((x) => x.id === s.parentId || x.id === s.layerId)!));
    for (const s of t.spans) {
      const k = stepOf(s);
      s.pass = k;
      s.warmup = k < 2;
    }
    for (const s of steps) s.attrs = { pass: s.pass!, warmup: s.warmup! };
    const p = packTrace(t);
    const pass = col(p, 'pass')!;
    expect(pass).toBeInstanceOf(Uint8Array);
    expect(p.head.passes).toMatchObject({ measured: [2, 3, 4], warmup: [0, 1] });
    expect(p.head.passes!.wall).toEqual(steps.slice(2).map((s) => s.end - s.start));
    // A sweep numbering its passes the same way per setting (bench-model): wall time adds up per pass number.
    const last = t.spans.reduce((a, s) => Math.max(a, s.end), 0);
    const again: Span = { ...steps[2], id: 99_999, start: last + 10, end: last + 510 };
    expect(packTrace({ ...t, spans: [...t.spans, again] }).head.passes!.wall[0]).toBe(steps[2].end - steps[2].start + 500);
    // Every span's code names its own pass.
    const start = col(p, 'start')!;
    const byStart = new Map<number, Span[]>();
    for (const s of t.spans) byStart.set(s.start, [...(byStart.get(s.start) ?? []), s]);
    for (let i = 0; i < start.length; i++) {
      const code = p.head.passes!.codes[pass[i] - 1];
      expect(byStart.get(start[i])!.some((s) => s.pass === code.pass && s.warmup === code.warmup)).toBe(true);
    }
  });

  it('counter tracks: finite samples in time order, a huge track reduced to per-bucket extremes', () => {
    const t = syntheticTrace({ steps: 1 });
    const big: [number, number][] = Array.from({ length: 100_000 }, (_, i) => [i * 100, 50 + (i % 7) + (i === 77_777 ? 40 : 0) - (i === 12_345 ? 30 : 0)]);
    t.counters = [
      { name: 'c', unit: 'MHz', samples: [[300, 3], [100, 1], [200, Number.NaN], [150, 1.5]] },
      { name: 'bad', unit: 'x', samples: 'nope' as never },
      { name: 'big', unit: '°C', samples: big },
    ];
    const p = packTrace(t);
    const T = col(p, 'counterT')!, V = col(p, 'counterV')!;
    const [c, b] = p.head.counters;
    expect(p.head.counters.map((h) => h.name)).toEqual(['c', 'big']);
    expect([...T.slice(c.offset, c.offset + c.count)]).toEqual([100, 150, 300]);
    expect([...V.slice(c.offset, c.offset + c.count)]).toEqual([1, 1.5, 3]);
    expect([c.min, c.max, c.sourceCount]).toEqual([1, 3, 3]);
    expect(b.sourceCount).toBe(100_000);
    expect(b.count).toBeLessThanOrEqual(30_000);
    const bv = [...V.slice(b.offset, b.offset + b.count)];
    const values = big.map((x) => x[1]);
    const extremes = [Math.min(...values), Math.max(...values)];
    expect(extremes).toEqual([24, 90]); // the one-sample dip and spike
    expect([Math.min(...bv), Math.max(...bv)]).toEqual(extremes);
    expect([b.min, b.max]).toEqual(extremes);
    const bt = [...T.slice(b.offset, b.offset + b.count)];
    expect(bt).toEqual([...bt].sort((x, y) => x - y));
  });

  it('evidence ids become positions of exactly those spans, with their ids alongside', () => {
    const t = syntheticTrace({ steps: 3 });
    const softmax = t.spans.filter((s) => s.name === 'Softmax');
    t.meta.advice = [{ rule: 'r', severity: 'warning', message: 'm', suggestion: '', evidence: [...softmax.map((s) => s.id), 424242], timeAtStake: 5 }];
    const p = packTrace(t);
    const f = p.head.advice[0];
    expect(f.evidence).toBe(softmax.length + 1);
    expect(f.spans.length).toBe(softmax.length);
    const start = col(p, 'start')!, idPos = col(p, 'idPos')!, idVal = col(p, 'idVal')!;
    expect([...idPos]).toEqual(f.spans);
    expect(new Set(f.spans.map((i) => start[i]))).toEqual(new Set(softmax.map((s) => s.start)));
    expect([...idVal].sort((a, b) => a - b)).toEqual(softmax.map((s) => s.id).sort((a, b) => a - b));
  });
});
