/**
 * The user-facing entry points: registerMlxInstrumentation(), profile(), withSpan(), opTimer().
 */
import { MlxInstrumentation } from './instrumentation';
import type { MlxInstrumentationConfig } from './types';
import { jsOpCostName } from './utils';
import { dtypeItemsize } from '../../core/cost';
import { markPasses } from '../../core/analysis/stats';
import type { Trace, TensorInfo } from '../../core/model/trace';

// One instrumentation per process, even across copies of this module: the preload (register.js)
// and the app's require('mlx-trace') are separate bundles, and both must see the same one.
const ACTIVE = Symbol.for('mlx-trace.active-instrumentation');
const shared = globalThis as unknown as Record<symbol, MlxInstrumentation | null | undefined>;
let manual: MlxInstrumentation | null = null;

/**
 * Patches node-mlx and returns the enabled instrumentation (OpenTelemetry style). There is one per
 * process: while one is enabled, calling this again returns it.
 */
export function registerMlxInstrumentation(config: MlxInstrumentationConfig = {}): MlxInstrumentation {
  const current = shared[ACTIVE];
  if (current && current.isEnabled()) return current;
  const inst = new MlxInstrumentation(config);
  shared[ACTIVE] = inst;
  return inst;
}

/** The enabled instrumentation, if any. */
export function activeInstrumentation(): MlxInstrumentation | null {
  const current = shared[ACTIVE];
  return current && current.isEnabled() ? current : null;
}

export interface ProfileOptions {
  /** Name of the trace. @default 'profile' */
  name?: string;
  /** Measured passes of fn. @default 1 */
  passes?: number;
  /** Passes run first and kept in the trace, marked `warmup`, left out of statistics. @default 0 */
  warmup?: number;
  /** Config for the instrumentation when profile() has to register one itself. */
  config?: MlxInstrumentationConfig;
}

/**
 * Runs fn (warmup + passes times) under tracing and returns what it did as a Trace. Adds no eval of
 * its own: fn evaluates what it needs, as the app would. If no instrumentation is registered, one is
 * registered for the call and disabled afterwards.
 */
export async function profile(fn: (pass: number) => unknown, opts: ProfileOptions = {}): Promise<Trace> {
  const passes = Math.max(1, Math.floor(opts.passes ?? 1));
  const warmup = Math.max(0, Math.floor(opts.warmup ?? 0));
  const owned = !activeInstrumentation();
  const inst = owned ? registerMlxInstrumentation(opts.config) : activeInstrumentation()!;
  try {
    const mark = inst.recorder.mark();
    const total = warmup + passes;
    for (let i = 0; i < total; i++) {
      const isWarm = i < warmup;
      const label = total === 1 ? opts.name ?? 'profile' : isWarm ? `warmup ${i + 1}` : `pass ${i - warmup + 1}`;
      await inst.withSpan(label, () => fn(i), { pass: i, warmup: isWarm });
    }
    const trace = inst.recorder.take(opts.name ?? 'profile', total > 1 ? { passes, warmup } : {}, mark, inst.getConfig().retainProfiles === true);
    if (total > 1) markPasses(trace);
    return trace;
  } finally {
    if (owned) inst.disable();
  }
}

/** Runs fn inside a named user span (torch's record_function); async functions are awaited. */
export function withSpan<T>(name: string, fn: () => T): T {
  return recorderHost().withSpan(name, fn);
}

export interface OpTimerInfo {
  inputShapes?: number[][];
  outputShapes?: number[][];
  dtype?: string;
}

/**
 * Times fn as one op with the shapes you give (the seed's op_timer): for code MLX cannot see, or no
 * MLX at all. The span is priced by the cost model under `name` ('matmul' -> Matmul).
 */
export function opTimer<T>(name: string, info: OpTimerInfo, fn: () => T): T {
  const host = recorderHost();
  const rec = host.recorder;
  const dtype = info.dtype ?? 'float32';
  const item = dtypeItemsize(dtype) ?? 4;
  const t = (shape: number[]): TensorInfo => ({ shape, dtype, bytes: shape.reduce((a, b) => a * b, 1) * item });
  const start = rec.now();
  const record = () => {
    rec.add({
      parentId: host._parentId(),
      kind: 'primitive',
      name,
      start,
      end: rec.now(),
      thread: rec.jsThread,
      device: 'cpu',
      inputs: (info.inputShapes ?? []).map(t),
      outputs: (info.outputShapes ?? []).map(t),
      attrs: { manual: true, costOp: jsOpCostName(name) },
    });
  };
  const out = fn();
  if (out && typeof (out as any).then === 'function') return (out as any).then((v: unknown) => (record(), v)) as T;
  record();
  return out;
}

/** The trace of manual opTimer/withSpan records made while no instrumentation was registered. */
export function takeManualTrace(name = 'manual'): Trace {
  if (!manual) manual = new MlxInstrumentation({ enabled: false });
  return manual.takeTrace(name);
}

function recorderHost(): MlxInstrumentation {
  const a = activeInstrumentation();
  if (a) return a;
  if (!manual) manual = new MlxInstrumentation({ enabled: false });
  return manual;
}
