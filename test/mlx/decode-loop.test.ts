// The decode loop (src/demo/llama.ts: asyncEval of step n+1, then item() of step n) under the instrumentation:
// every view names the same layer for every primitive, and every share is of busy time, so coverage and the
// "% busy" column stay within 100 %.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { createLlama, DEMO_LLAMA, generate, TINY_LLAMA } from '../../src/demo/llama';
import { layerResolver, NO_LAYER } from '../../src/core/model/span-facts';
import { coreWaits, currentThreadId, waitedBetween } from '../../src/core/record/core-wait';
import { summarizeReport, formatReport } from '../../src/exporters/terminal/report';
import { passStats } from '../../src/core/analysis/stats';
import { compareTraces } from '../../src/core/analysis/compare';
import { packTrace } from '../../src/exporters/html/pack';
import { toChromeTraceEvents } from '../../src/exporters/chrome';
import { stripAnsi } from '../../src/exporters/terminal/format';
import type { Span, Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');

let inst: MlxInstrumentation;
/** The d=64 model's loop (many small primitives) and the demo model's (d=256: primitives that do real work). */
let trace: Trace;
let demo: Trace;
/**
 * The same loop on a wider model (d=512), for the coverage bound: MLX's thread idles while the app's thread is
 * inside asyncEval (MLX orders the whole graph before it hands the stream any of it), a share of busy time that
 * grows as the model shrinks (docs/design.md, busy time). Each recording also says how long the thread that
 * called generate() waited for a core (ns; 0 where unknown).
 */
let recordWide: () => { t: Trace; jsWait: number };
const WIDE_LLAMA = { ...DEMO_LLAMA, dim: 512, hidden: 1376 };

beforeAll(() => {
  inst = registerMlxInstrumentation();
  const recorder = (cfg: typeof TINY_LLAMA, tokens: number) => {
    const model = createLlama(mlx, cfg);
    const prompt = Array.from({ length: 8 }, (_, i) => (i * 7 + 3) % cfg.vocab);
    generate(mlx, model, { prompt, tokens: 4 });
    inst.takeTrace();
    const tid = currentThreadId();
    return () => {
      const w0 = coreWaits();
      generate(mlx, model, { prompt, tokens });
      const jsWait = tid === null ? 0 : (waitedBetween(w0, coreWaits(), [tid]) ?? 0);
      return { t: inst.takeTrace(), jsWait };
    };
  };
  trace = recorder(TINY_LLAMA, 40)().t;
  demo = recorder(DEMO_LLAMA, 16)().t;
  recordWide = recorder(WIDE_LLAMA, 16);
}, 120_000);

afterAll(() => inst?.disable());

/** Primitives per layer, as the one rule names them. */
function expectedCounts(t: Trace): Map<string, number> {
  const layerOf = layerResolver(t);
  const m = new Map<string, number>();
  for (const s of t.spans) if (s.kind === 'primitive') m.set(layerOf(s), (m.get(layerOf(s)) ?? 0) + 1);
  return m;
}

describe('the decode loop under the instrumentation', () => {
  it('records asyncEval, item() and primitives built by layers', () => {
    expect(trace.spans.some((s) => s.kind === 'eval' && s.name === 'asyncEval')).toBe(true);
    expect(trace.spans.some((s) => s.kind === 'sync' && s.name === 'item')).toBe(true);
    const counts = expectedCounts(trace);
    expect([...counts.keys()].filter((k) => k !== NO_LAYER).length).toBeGreaterThan(4);
  });

  it('the report, pass statistics, compare, the HTML table data and the Chrome args name the same layer for every primitive', () => {
    const expected = expectedCounts(trace);
    const layerOf = layerResolver(trace);

    const report = new Map(summarizeReport(trace, { groupBy: 'layer' }).rows.filter((r) => r.primitives > 0).map((r) => [r.key, r.primitives]));
    expect(report).toEqual(expected);

    const stats = new Map(passStats(trace, { groupBy: 'layer' }).rows.map((r) => [r.key, r.calls]));
    expect(stats).toEqual(expected);

    const cmp = new Map(compareTraces(trace, trace, { groupBy: 'layer' }).rows.map((r) => [r.layer, r.a!.calls]));
    expect(cmp).toEqual(expected);

    // The dashboard's table reads the packed layer column of each primitive.
    const { head, columns } = packTrace(trace);
    const col = (id: string) => columns.find((c) => c.desc.id === id)!.data as ArrayLike<number>;
    const layerCol = col('layer');
    const sig = col('sig');
    const sigKind = col('sigKind');
    const html = new Map<string, number>();
    for (let i = 0; i < head.spanCount; i++) {
      if (head.kinds[sigKind[sig[i]]] !== 'primitive') continue;
      const name = layerCol[i] === 0 ? NO_LAYER : head.strings[head.layers[layerCol[i] - 1]];
      html.set(name, (html.get(name) ?? 0) + 1);
    }
    expect(html).toEqual(expected);

    // Chrome: each primitive slice's args name its layer (no layer arg: no layer).
    const byId = new Map<number, Span>(trace.spans.map((s) => [s.id, s]));
    const chrome = new Map<string, number>();
    let checked = 0;
    for (const ev of toChromeTraceEvents(trace)) {
      const args = (ev as { args?: Record<string, unknown> }).args;
      if ((ev as { ph?: string }).ph !== 'X' || args?.kind !== 'primitive') continue;
      const name = typeof args.layer === 'string' ? args.layer : NO_LAYER;
      chrome.set(name, (chrome.get(name) ?? 0) + 1);
      const span = typeof args.id === 'number' ? byId.get(args.id) : undefined;
      if (span) {
        expect(name).toBe(layerOf(span));
        checked++;
      }
    }
    expect(chrome).toEqual(expected);
    expect(checked === 0 || checked === [...expected.values()].reduce((a, b) => a + b, 0)).toBe(true);
  });

  it.each([
    ['d=64', () => trace],
    ['d=256', () => demo],
  ])('%s: coverage is at most 100 % and no share is above 100 %, in every view', (_, get) => {
    const t = get();
    const sum = summarizeReport(t, { groupBy: 'op' });
    expect(sum.coverage).toBeGreaterThan(0);
    expect(sum.coverage).toBeLessThanOrEqual(1);
    for (const r of sum.rows) expect(r.busyFraction).toBeLessThanOrEqual(1);
    // Busy time counts each instant once: at most the trace's extent.
    const t0 = Math.min(...t.spans.map((s) => s.start));
    const t1 = Math.max(...t.spans.map((s) => s.end));
    expect(sum.busyNs).toBeLessThanOrEqual(t1 - t0);

    const text = stripAnsi(formatReport(t, { groupBy: 'op', top: 1000, width: 200 }));
    const pcts = [...text.matchAll(/(\d+(?:\.\d)?)%/g)].map((m) => Number(m[1]));
    expect(pcts.length).toBeGreaterThan(3);
    for (const p of pcts) expect(p).toBeLessThanOrEqual(100);

    const st = passStats(t);
    expect(st.coverage).toBeCloseTo(sum.coverage, 12);
    expect(st.busy.mean).toBe(sum.busyNs);

    const { head } = packTrace(t);
    expect(head.busy!.ns).toBe(sum.busyNs);
    expect(head.busy!.coveredNs / head.busy!.ns).toBeCloseTo(sum.coverage, 12);

    const cmp = compareTraces(t, t, { groupBy: 'op' });
    expect(cmp.totals.busyNs.a).toBe(sum.busyNs);
    for (const r of cmp.rows) expect(r.share).toBeLessThanOrEqual(1);
  });

  it("d=512: coverage is at least 80 %, the time the threads waited for a core aside", () => {
    // While MLX's thread is runnable but another thread or process has the core, busy time passes with no
    // primitive, and coverage says so truthfully; so it does while the app's thread waits for a core before it
    // hands MLX the next step. The trace holds MLX's threads' wait as the kernel counts it (meta.coreWaitNs)
    // and the test reads its own thread's: the bound is on primitive time plus both waits (some of a wait may
    // fall outside busy time or beside a running primitive, so this is at most that much kinder). V8's own
    // threads compete for the cores in the first steps after a model is built, and another test file may run
    // beside this one: the bound must hold on one of five recordings, counting those whose waits are at most
    // 10 % of busy time or whose coverage meets it outright. A busy time that counts idle time is low on every
    // one of them. The load average is no gate: it counts niced processes as well.
    const seen: string[] = [];
    let checked = false;
    let met = false;
    for (let attempt = 0; attempt < 5 && !met; attempt++) {
      const rec = recordWide();
      const sum = summarizeReport(rec.t);
      expect(sum.coverage).toBeLessThanOrEqual(1);
      const mlxWait = rec.t.meta.coreWaitNs!;
      expect(mlxWait).toBeGreaterThanOrEqual(0);
      const waited = mlxWait + rec.jsWait;
      seen.push(`coverage ${(sum.coverage * 100).toFixed(1)} % in ${(sum.busyNs / 1e6).toFixed(1)} ms busy, MLX's thread waited ${(mlxWait / 1e6).toFixed(1)} ms, the app's ${(rec.jsWait / 1e6).toFixed(1)} ms`);
      const small = waited <= 0.1 * sum.busyNs;
      met = sum.coverage + (small ? waited / sum.busyNs : 0) >= 0.8;
      checked ||= small || met;
    }
    if (!checked) console.warn(`decode-loop: 80 % bound not checked, every recording waited for a core: ${seen.join('; ')}`);
    else expect(met, seen.join('; ')).toBe(true);
  });

  it('every primitive lies inside busy time: asyncEval counts until the work it launched has finished', () => {
    for (const t of [trace, demo]) {
      const prims = t.spans.filter((s) => s.kind === 'primitive').map((s) => [s.start, s.end] as [number, number]);
      prims.sort((a, b) => a[0] - b[0]);
      let union = 0;
      let cs = prims[0][0];
      let ce = prims[0][1];
      for (const [a, b] of prims) {
        if (a > ce) {
          union += ce - cs;
          cs = a;
          ce = b;
        } else ce = Math.max(ce, b);
      }
      union += ce - cs;
      const sum = summarizeReport(t);
      // coverage × busy is the primitive time inside busy time: all of the primitives' time.
      expect(Math.abs(sum.coverage * sum.busyNs - union)).toBeLessThanOrEqual(union * 1e-9 + 1);
    }
  });
  it("a primitive keeps the layer of the node that ran it, though MLX reuses its address for the next step's nodes before the drain", () => {
    // Step n's nodes are freed as they run while the JS thread builds step n+1 (its embedding first)
    // at the same addresses; the drain comes later, at item(). Sampling runs outside any layer, and
    // only the embedding's own lookup (Gather, Reshape) runs inside Embedding.
    for (const t of [trace, demo]) {
      const layerOf = layerResolver(t);
      const misplaced: string[] = [];
      for (const s of t.spans) {
        if (s.kind !== 'primitive') continue;
        const layer = layerOf(s);
        if (['ArgSort', 'Scan', 'Select', 'Greater', 'ArgReduce'].includes(s.name) && layer !== NO_LAYER) misplaced.push(`${s.name} in ${layer}`);
        if (layer.includes('(Embedding)') && !['Gather', 'Reshape'].includes(s.name)) misplaced.push(`${s.name} in ${layer}`);
      }
      expect(misplaced).toEqual([]);
    }
  });
});
