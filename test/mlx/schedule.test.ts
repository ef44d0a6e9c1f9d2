// Step schedules on real MLX (torch.profiler's schedule / step / on_trace_ready), and the rotating
// trace files handler, on real files.
import { createRequire } from 'node:module';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { checkSchedule, scheduleAction, traceFiles } from '../../src/instrumentations/mlx/schedule';
import { loadTrace } from '../../src/core/io/persist';
import type { Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const { core: mx } = require('@frost-beta/mlx');
const tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-schedule-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Step i's work: one matmul whose first dimension is i + 1, so a trace tells which steps it holds. */
function work(i: number) {
  mx.eval(mx.matmul(mx.ones([i + 1, 8]), mx.ones([8, 4])));
}
const stepsIn = (t: Trace) =>
  t.spans.filter((s) => s.kind === 'primitive' && s.name === 'Matmul').map((s) => s.inputs[0].shape[0] - 1);

describe('schedule', () => {
  it("gives each step torch.profiler.schedule's action", () => {
    const s = checkSchedule({ skipFirst: 1, wait: 1, warmup: 1, active: 2, repeat: 2 });
    const actions = Array.from({ length: 12 }, (_, n) => scheduleAction(s, n));
    expect(actions).toEqual([
      'none', // skipped
      'none', 'warmup', 'record', 'record-and-save', // cycle 1
      'none', 'warmup', 'record', 'record-and-save', // cycle 2
      'none', 'none', 'none', // repeat reached
    ]);
    const forever = checkSchedule({ active: 1 });
    expect([0, 1, 2].map((n) => scheduleAction(forever, n))).toEqual(['record-and-save', 'record-and-save', 'record-and-save']);
  });

  it('refuses a bad schedule in one clear message', () => {
    expect(() => checkSchedule({ active: 0 })).toThrow(/schedule\.active must be an integer of at least 1 \(got 0\)/);
    expect(() => checkSchedule({ active: 2, wait: -1 })).toThrow(/schedule\.wait must be an integer of at least 0/);
    expect(() => new MlxInstrumentation({ schedule: { active: 1 } })).toThrow(/needs onTraceReady/);
  });

  it('records only the active steps of each cycle, hands each window on, and nothing after the last', () => {
    const ready: Trace[] = [];
    const inst = new MlxInstrumentation({ schedule: { wait: 1, warmup: 1, active: 2, repeat: 2 }, onTraceReady: (t) => ready.push(t) });
    try {
      expect(inst.timing).toBe('native');
      for (let i = 0; i < 10; i++) {
        work(i);
        inst.step();
      }
      expect(ready.map((t) => t.name)).toEqual(['steps 2-3', 'steps 6-7']);
      expect(ready.map(stepsIn)).toEqual([[2, 3], [6, 7]]);
      expect(ready[0].meta.steps).toEqual({ first: 2, last: 3 });
      // Layers, evals and primitives of a window hang together.
      const ev = ready[1].spans.find((s) => s.kind === 'eval')!;
      expect(ready[1].spans.some((s) => s.kind === 'primitive' && s.parentId === ev.id)).toBe(true);
      // Steps 8 and 9 come after the last cycle: not recorded.
      expect(stepsIn(inst.takeTrace())).toEqual([]);
    } finally {
      inst.disable();
    }
  });

  it('traceFiles writes one .mlxtrace per window and keeps the newest', () => {
    const dir = join(tmp, 'rotating');
    const inst = new MlxInstrumentation({ schedule: { active: 1 }, onTraceReady: traceFiles(dir, { keep: 2 }) });
    try {
      for (let i = 0; i < 4; i++) {
        work(i);
        inst.step();
      }
    } finally {
      inst.disable();
    }
    expect(readdirSync(dir).sort()).toEqual(['trace.3.mlxtrace', 'trace.4.mlxtrace']);
    expect(stepsIn(loadTrace(join(dir, 'trace.4.mlxtrace')))).toEqual([3]);
    // A new handler on the same folder goes on counting instead of overwriting.
    const more = traceFiles(dir, { keep: 2 });
    more(loadTrace(join(dir, 'trace.3.mlxtrace')));
    expect(readdirSync(dir).sort()).toEqual(['trace.4.mlxtrace', 'trace.5.mlxtrace']);
  });
});

describe('flight recorder', () => {
  const allLinked = (t: Trace) => {
    const ids = new Set(t.spans.map((s) => s.id));
    return t.spans.every((s) => (s.parentId === null || ids.has(s.parentId)) && (s.layerId == null || ids.has(s.layerId)));
  };

  it('keeps the last spans in a bounded ring however long it runs; dump() writes them', () => {
    const inst = new MlxInstrumentation({ flightRecorder: { spans: 300 } });
    const file = join(tmp, 'flight.mlxtrace');
    try {
      const perStep = (() => {
        work(0);
        return inst.recorder.held;
      })();
      inst.dump(join(tmp, 'warm.mlxtrace'));
      for (let i = 0; i < 600; i++) work(i % 500);
      const n = inst.dump(file, 'crash');
      // At least the limit, at most the limit, one segment (a quarter) and the open one's steps.
      expect(n).toBeGreaterThanOrEqual(300);
      expect(n).toBeLessThanOrEqual(300 + 75 + 75 + perStep);
    } finally {
      inst.disable();
    }
    const t = loadTrace(file);
    expect(t.name).toBe('crash');
    const steps = stepsIn(t);
    // The newest steps are there, in order, ending with the last one; the oldest are gone.
    expect(steps[steps.length - 1]).toBe(599 % 500);
    expect(steps).not.toContain(0);
    expect((t.meta.flightRecorder as { evicted: number }).evicted).toBeGreaterThan(0);
    expect(allLinked(t)).toBe(true);
    for (let i = 1; i < t.spans.length; i++) expect(t.spans[i].id).toBeGreaterThan(t.spans[i - 1].id);
  });

  it('refuses a flight recorder without a limit, or with a schedule', () => {
    expect(() => new MlxInstrumentation({ flightRecorder: {} })).toThrow(/flightRecorder needs seconds > 0 or spans > 0/);
    expect(() => new MlxInstrumentation({ flightRecorder: { spans: 10 }, schedule: { active: 1 }, onTraceReady: () => {} })).toThrow(/give one/);
  });
});
