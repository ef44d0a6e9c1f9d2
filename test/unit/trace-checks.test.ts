import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { traceProblem } from '../../src/core/model/checks';
import { exportChromeTrace, toChromeTraceEvents } from '../../src/exporters/chrome';
import { exportPerfetto, toPerfetto } from '../../src/exporters/perfetto';
import { exportHtml, renderHtml } from '../../src/exporters/html';
import { formatReport } from '../../src/exporters/terminal/report';
import { exportOtlp } from '../../src/exporters/otlp';
import { advise } from '../../src/core/analysis/advisor';
import { mergeTraces } from '../../src/core/analysis/merge';
import type { Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';

const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-checks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The one line each public entry gives for `bad`, with the entry's own prefix taken off. */
async function linesFor(bad: unknown): Promise<string[]> {
  const t = bad as Trace;
  const thrown = async (f: () => unknown): Promise<string> => {
    try {
      await f();
    } catch (e) {
      return (e as Error).message.replace(/^\w+: /, '');
    }
    return 'no error';
  };
  return [
    await thrown(() => exportChromeTrace(t, join(dir, 'x.json'))),
    await thrown(() => [...toChromeTraceEvents(t)]),
    await thrown(() => exportPerfetto(t, join(dir, 'x.pftrace'))),
    await thrown(() => toPerfetto(t)),
    await thrown(() => exportHtml(t)),
    await thrown(() => renderHtml(t)),
    await thrown(() => advise(t)),
    formatReport(t).replace(/^mlx-trace: cannot make a report: /, ''),
    (await exportOtlp(t, { url: 'http://127.0.0.1:1/v1/traces' })).error ?? 'no error',
  ];
}

describe('one input check for every exporter', () => {
  const cases: [unknown, string][] = [
    [null, 'expected a Trace object, got null'],
    [42, 'expected a Trace object, got number'],
    [[], 'expected a Trace object, got an array'],
    [{ schema: 'other/2', spans: [] }, 'not an mlx-trace/1 trace: its schema is "other/2"'],
    [{ name: 'x' }, 'not an mlx-trace/1 trace: it has no spans array'],
    [{ spans: [], memory: 'x' }, 'not an mlx-trace/1 trace: its memory is not an array'],
  ];
  for (const [bad, line] of cases) {
    it(`says "${line}" everywhere`, async () => {
      expect(traceProblem(bad)).toBe(line);
      expect(await linesFor(bad)).toEqual(Array(9).fill(line));
    });
  }

  it('exports a trace without memory events and leaves the object as it was', async () => {
    const t = syntheticTrace({ steps: 1 }) as Partial<Trace>;
    delete t.memory;
    const before = JSON.stringify(t);
    await exportChromeTrace(t as Trace, join(dir, 'nomem.json'));
    expect(JSON.parse(readFileSync(join(dir, 'nomem.json'), 'utf8')).traceEvents.length).toBeGreaterThan(0);
    expect(toPerfetto(t as Trace).length).toBeGreaterThan(0);
    [...toChromeTraceEvents(t as Trace)];
    expect('memory' in t).toBe(false);
    expect(JSON.stringify(t)).toBe(before);
  });

  it('mergeTraces and OTLP take the wall-clock origins loadTrace takes, "-1" included', async () => {
    const a = syntheticTrace({ steps: 1 });
    const b = syntheticTrace({ steps: 1 });
    a.meta = { ...a.meta, origin: { ...a.meta.origin, epochNs: '-1' }, rank: 0 } as Trace['meta'];
    b.meta = { ...b.meta, origin: { ...b.meta.origin, epochNs: '5' }, rank: 1 } as Trace['meta'];
    const merged = mergeTraces([a, b], { ranks: [0, 1] });
    expect(merged.meta.origin.epochNs).toBe('-1');
    // Port 1 refuses: the export gets past the input check and fails on the connection instead.
    const r = await exportOtlp(a, { url: 'http://127.0.0.1:1/v1/traces', timeoutMillis: 500 });
    expect(r.error).not.toMatch(/wall-clock origin/);
    const bad = { ...a, meta: { ...a.meta, origin: { ...a.meta.origin, epochNs: '1.5' } } };
    expect(() => mergeTraces([bad, b], { ranks: [0, 1] })).toThrow(/has no wall-clock origin/);
    expect((await exportOtlp(bad, { url: 'http://127.0.0.1:1/v1/traces' })).error).toMatch(/wall-clock origin/);
  });
});
