import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTrace, saveTrace, TraceFileError } from '../../src/core/io/persist';
import { forEachSpan, type Span, type Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-edges-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const deep = (n: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
};

function refusal(f: () => unknown): TraceFileError {
  try {
    f();
  } catch (e) {
    return e as TraceFileError;
  }
  throw new Error('no error');
}

describe('a save takes exactly what a load takes', () => {
  it('keeps a lone layer or layerId as it was, in both layouts (no null added for the other)', () => {
    const t = syntheticTrace({ steps: 1 });
    const prims = t.spans.filter((s) => s.kind === 'primitive');
    delete prims[0].layerId;
    prims[0].layer = 'only.layer';
    delete prims[1].layer;
    prims[1].layerId = prims[1].parentId;
    delete prims[2].layer;
    delete prims[2].layerId;
    for (const file of ['lone.json', 'lone.mlxtrace']) {
      saveTrace(t, join(dir, file));
      const back = loadTrace(join(dir, file));
      for (const i of [0, 1, 2]) {
        const a = prims[i];
        const b = back.spans.find((s) => s.id === a.id)!;
        expect({ file, keys: Object.keys(b).sort() }).toEqual({ file, keys: Object.keys(a).sort() });
        expect(b.layer).toBe(a.layer);
        expect(b.layerId).toBe(a.layerId);
      }
      expect(back.spans).toEqual(t.spans);
    }
  });

  it('saves and loads values nested 1000 deep, and refuses 1001 on both sides with one line', () => {
    const t = syntheticTrace({ steps: 1 });
    const span = t.spans.find((s) => s.kind === 'primitive')! as Span & Record<string, unknown>;
    span.note = deep(1000);
    // meta itself is the first level.
    t.meta.nested = deep(999);
    for (const file of ['deep.json', 'deep.mlxtrace']) {
      saveTrace(t, join(dir, file));
      const back = loadTrace(join(dir, file));
      expect(JSON.stringify((back.spans.find((s) => s.id === span.id) as unknown as Record<string, unknown>).note)).toBe(JSON.stringify(deep(1000)));
    }
    span.note = deep(1001);
    for (const file of ['deeper.json', 'deeper.mlxtrace']) {
      const e = refusal(() => saveTrace(t, join(dir, file)));
      expect(e.message).toBe(`${join(dir, file)}: not saved: 'note' is nested deeper than 1000 levels`);
    }
    span.note = 1;
    t.meta.nested = deep(10_000);
    const e = refusal(() => saveTrace(t, join(dir, 'deep-meta.json')));
    expect(e.message).toBe(`${join(dir, 'deep-meta.json')}: not saved: 'meta' is nested deeper than 1000 levels`);
  });

  it('loadTrace refuses a span whose other keys nest 10k deep, in rows and as objects', () => {
    const t = syntheticTrace({ steps: 1 });
    saveTrace(t, join(dir, 'rows.json'));
    // Rows: the last object of a row holds the other keys.
    const lines = readFileSync(join(dir, 'rows.json'), 'utf8').split('\n');
    const row = lines.findIndex((l) => l.startsWith('[') && l.endsWith('],'));
    lines[row] = lines[row].slice(0, -2) + `,{"x":${'['.repeat(10_000)}1${']'.repeat(10_000)}}],`;
    const text = lines.join('\n');
    writeFileSync(join(dir, 'rows-deep.json'), text);
    expect(refusal(() => loadTrace(join(dir, 'rows-deep.json'))).message).toBe(`${join(dir, 'rows-deep.json')}: span ${row - 1} has 'x' nested deeper than 1000 levels`);
    const objects = { ...t, spans: t.spans.map((s, i) => (i === 3 ? { ...s, x: '@' } : s)) };
    writeFileSync(join(dir, 'objects-deep.json'), JSON.stringify(objects).replace('"x":"@"', `"x":${'['.repeat(10_000)}1${']'.repeat(10_000)}`));
    const e = refusal(() => loadTrace(join(dir, 'objects-deep.json')));
    expect(e.message).toBe(`${join(dir, 'objects-deep.json')}: span 3: 'x' is nested deeper than 1000 levels`);
  });
});

describe('forEachSpan', () => {
  const span = (id: number, parentId: number | null, start: number): Span => ({
    id, parentId, kind: 'user', name: `s${id}`, start, end: start + 1, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null,
  });

  it('visits every span once at depth 10k and in parent cycles, opening before closing', () => {
    const t = syntheticTrace({ steps: 1 });
    const spans: Span[] = [];
    for (let i = 1; i <= 10_000; i++) spans.push(span(i, i === 1 ? null : i - 1, i));
    // A cycle of three and a span that is its own parent: no root above them.
    spans.push(span(20_001, 20_003, 5), span(20_002, 20_001, 6), span(20_003, 20_002, 7), span(20_004, 20_004, 8));
    const trace: Trace = { ...t, spans };
    const opened = new Map<number, number>();
    const closed = new Set<number>();
    forEachSpan(
      trace,
      (s, depth) => {
        expect(opened.has(s.id)).toBe(false);
        opened.set(s.id, depth);
      },
      (s) => {
        expect(opened.has(s.id)).toBe(true);
        closed.add(s.id);
      },
    );
    expect(opened.size).toBe(spans.length);
    expect(closed.size).toBe(spans.length);
    expect(opened.get(10_000)).toBe(9_999);
    expect([opened.get(20_001), opened.get(20_002), opened.get(20_003), opened.get(20_004)]).toEqual([0, 1, 2, 0]);
  });
});
