// The SDK on real MLX: evals, layers (pre- and post-registration classes), attribution, OTel, profile().
import { createRequire } from 'node:module';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { registerMlxInstrumentation, profile, withSpan, opTimer, takeManualTrace } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import type { Span, Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const { core: mx, nn } = mlx;

// Defined BEFORE registration: instrumented when its weights are reached, or by instrumentModule().
// Two such classes (each with its own forward): one for each way of meeting it.
function earlyClass(name: string) {
  const cls = class extends nn.Module {
    fc1: any; fc2: any;
    constructor() {
      super();
      this.fc1 = new nn.Linear(16, 32);
      this.fc2 = new nn.Linear(32, 4);
    }
    forward(x: any) {
      return this.fc2.forward(nn.relu(this.fc1.forward(x)));
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}
const EarlyMLP = earlyClass('EarlyMLP');
const ForwardOnlyMLP = earlyClass('ForwardOnlyMLP');

// The app's context manager, as NodeSDK would register it: OTel context follows async code.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
let inst: MlxInstrumentation;

beforeAll(() => {
  inst = registerMlxInstrumentation({ tracerProvider: provider });
});
afterAll(() => inst.disable());
beforeEach(() => {
  inst.takeTrace();
  exporter.reset();
});

const byKind = (t: Trace, k: Span['kind']) => t.spans.filter((s) => s.kind === k);

/** Runs fn with layers tagged by walking their graphs when forward returns (no wrap hook), as without it. */
function withLayersWalked<T>(fn: () => T): T {
  const hook = inst.hookLayer!;
  const build = hook.buildState!;
  build[0] = 0;
  (hook as { buildState: Uint32Array | null }).buildState = null;
  try {
    return fn();
  } finally {
    (hook as { buildState: Uint32Array | null }).buildState = build;
    build[0] = 1;
  }
}

describe('registerMlxInstrumentation', () => {
  it('uses the native hook layer on this machine', () => {
    expect(inst.fallbackReason).toBe('');
    expect(inst.timing).toBe('native');
  });

  it('records an eval with its primitives as children, priced by the cost model', () => {
    const a = mx.ones([64, 128]);
    const b = mx.ones([128, 32]);
    mx.eval(a, b);
    inst.takeTrace();
    mx.eval(mx.matmul(a, b));
    const t = inst.takeTrace('mm');
    expect(t.schema).toBe('mlx-trace/1');
    expect(t.meta.timing).toBe('native');
    const [ev] = byKind(t, 'eval');
    const prims = byKind(t, 'primitive');
    expect(prims.map((p) => p.name)).toEqual(['Matmul']);
    expect(prims[0].parentId).toBe(ev.id);
    expect(prims[0].start).toBeGreaterThanOrEqual(ev.start);
    expect(prims[0].end).toBeLessThanOrEqual(ev.end);
    expect(prims[0].flops).toBe(2 * 64 * 128 * 32);
    expect(prims[0].bytes).toBe((64 * 128 + 128 * 32 + 64 * 32) * 4);
    expect(prims[0].outputs[0]).toEqual({ shape: [64, 32], dtype: 'float32', bytes: 8192 });
  });

  it('catches classes defined after registration with no further call, and names layers by path', () => {
    class LateMLP extends nn.Module {
      up: any; down: any;
      constructor() {
        super();
        this.up = new nn.Linear(8, 16);
        this.down = new nn.Linear(16, 8);
      }
      forward(x: any) {
        return this.down.forward(nn.gelu(this.up.forward(x)));
      }
    }
    const m = new LateMLP();
    expect(m instanceof nn.Module).toBe(true);
    expect(new nn.Linear(2, 2) instanceof nn.Module).toBe(true);
    mx.eval(m.parameters());
    const x = mx.ones([2, 8]);
    mx.eval(x);
    inst.takeTrace();
    const y = m.forward(x);
    mx.eval(y);
    const t = inst.takeTrace();
    const layers = byKind(t, 'layer');
    expect(layers.map((l) => l.name)).toEqual(['LateMLP', 'up (Linear)', 'down (Linear)']);
    expect(layers[1].parentId).toBe(layers[0].id);
    expect(layers[2].parentId).toBe(layers[0].id);
    // Every primitive is attributed to the innermost layer that built its output.
    const prims = byKind(t, 'primitive');
    const addmm = prims.filter((p) => p.name === 'AddMM');
    expect(addmm.map((p) => p.layer)).toEqual(['up (Linear)', 'down (Linear)']);
    expect(addmm.map((p) => p.layerId)).toEqual([layers[1].id, layers[2].id]);
    // gelu is built in LateMLP.forward itself, between the two Linear calls
    const geluOps = prims.filter((p) => p.layer === 'LateMLP');
    expect(geluOps.length).toBeGreaterThan(0);
    // primitives keep their real execution time: after the layers were built
    for (const p of prims) expect(p.start).toBeGreaterThanOrEqual(layers[2].end);
  });

  it('instruments a model built before registration when its weights are first reached', () => {
    const m = new EarlyMLP();
    mx.eval(m.parameters());
    const x = mx.ones([3, 16]);
    mx.eval(x);
    inst.takeTrace();
    mx.eval(m.forward(x));
    const t = inst.takeTrace();
    expect(byKind(t, 'layer').map((l) => l.name)).toEqual(['EarlyMLP', 'fc1 (Linear)', 'fc2 (Linear)']);
  });

  it('needs one instrumentModule() call for such a model whose forward comes first', () => {
    const m = new ForwardOnlyMLP();
    const x = mx.ones([3, 16]);
    mx.eval(x);
    inst.takeTrace();
    mx.eval(m.forward(x));
    let t = inst.takeTrace();
    // the Linear layers are built-in classes and are instrumented; the app's class is not yet
    expect(byKind(t, 'layer').map((l) => l.name)).toEqual(['Linear', 'Linear']);
    inst.instrumentModule(m);
    mx.eval(m.forward(x));
    t = inst.takeTrace();
    expect(byKind(t, 'layer').map((l) => l.name)).toEqual(['ForwardOnlyMLP', 'fc1 (Linear)', 'fc2 (Linear)']);
  });

  it('records sync points (item, tolist) with their primitives', () => {
    const a = mx.ones([4]);
    mx.eval(a);
    inst.takeTrace();
    const three = mx.full([4], 3);
    mx.eval(three);
    inst.takeTrace();
    const s = mx.sum(mx.multiply(a, three));
    expect(s.item()).toBe(12);
    const t = inst.takeTrace();
    const [sync] = byKind(t, 'sync');
    expect(sync.name).toBe('item');
    const prims = byKind(t, 'primitive');
    // sum() over all axes is a Reduce plus a Reshape to a scalar: what MLX really runs.
    expect(prims.map((p) => p.name)).toEqual(['Multiply', 'Reduce', 'Reshape']);
    for (const p of prims) expect(p.parentId).toBe(sync.id);
    const l = mx.multiply(a, three).tolist();
    expect(l).toEqual([3, 3, 3, 3]);
    const t2 = inst.takeTrace();
    expect(byKind(t2, 'sync').map((x) => x.name)).toEqual(['tolist']);
    expect(byKind(t2, 'primitive').map((p) => p.parentId)).toEqual([byKind(t2, 'sync')[0].id]);
  });

  it('records memory from the allocator hooks', () => {
    mx.eval(mx.matmul(mx.ones([64, 64]), mx.ones([64, 64])));
    const t = inst.takeTrace();
    expect(t.memory.length).toBeGreaterThan(0);
    expect(Math.max(...t.memory.map((m) => m.live))).toBeGreaterThanOrEqual(64 * 64 * 4);
    expect(t.memory.some((m) => m.op === 'Matmul' && m.delta >= 64 * 64 * 4)).toBe(true);
  });

  it('makes eval and layer spans real OTel spans under the active context, primitives with their real times', async () => {
    const tracer = provider.getTracer('app');
    const m = new nn.Linear(8, 8);
    mx.eval(m.parameters());
    const x = mx.ones([1, 8]);
    mx.eval(x);
    exporter.reset();
    const { trace } = await import('@opentelemetry/api');
    const root = tracer.startSpan('request');
    context.with(trace.setSpan(context.active(), root), () => {
      mx.eval(m.forward(x));
    });
    root.end();
    const spans = exporter.getFinishedSpans();
    const req = spans.find((s) => s.name === 'request')!;
    const ev = spans.find((s) => s.name === 'eval')!;
    const layer = spans.find((s) => s.name === 'Linear')!;
    const prim = spans.find((s) => s.attributes['mlx.op'] === 'AddMM')!;
    expect(ev.parentSpanContext?.spanId).toBe(req.spanContext().spanId);
    expect(layer.parentSpanContext?.spanId).toBe(req.spanContext().spanId);
    expect(prim.parentSpanContext?.spanId).toBe(ev.spanContext().spanId);
    expect(prim.attributes['mlx.device']).toBe('cpu');
    // AddMM: 2·M·K·N for the product plus 2·M·N for scaling and adding the bias (cost.ts)
    expect(prim.attributes['mlx.flops']).toBe(2 * 1 * 8 * 8 + 2 * 1 * 8);
    expect(prim.attributes['mlx.layer']).toBe('Linear');
    expect(prim.links[0].context.spanId).toBe(layer.spanContext().spanId);
    const ns = (h: [number, number]) => BigInt(h[0]) * 1_000_000_000n + BigInt(h[1]);
    expect(ns(prim.startTime as [number, number]) >= ns(ev.startTime as [number, number])).toBe(true);
    expect(ns(prim.endTime as [number, number]) <= ns(ev.endTime as [number, number])).toBe(true);
    expect(ns(prim.endTime as [number, number]) > ns(prim.startTime as [number, number])).toBe(true);
  });

  it('disable() restores every patched function and prototype method to the original object', () => {
    inst.disable();
    const originals = {
      eval: mx.eval,
      asyncEval: mx.asyncEval,
      item: mx.array.prototype.item,
      linearForward: nn.Linear.prototype.forward,
      Module: nn.Module,
    };
    inst.enable();
    expect(mx.eval).not.toBe(originals.eval);
    expect(nn.Linear.prototype.forward).not.toBe(originals.linearForward);
    expect(nn.Module).not.toBe(originals.Module);
    inst.disable();
    expect(mx.eval).toBe(originals.eval);
    expect(mx.asyncEval).toBe(originals.asyncEval);
    expect(mx.array.prototype.item).toBe(originals.item);
    expect(nn.Linear.prototype.forward).toBe(originals.linearForward);
    expect(nn.Module).toBe(originals.Module);
    inst.enable();
    expect(inst.timing).toBe('native');
  });
});

describe('profile(), withSpan(), opTimer()', () => {
  it('profile adds no eval of its own and returns only what fn did', async () => {
    const a = mx.ones([32, 32]);
    mx.eval(a);
    mx.eval(mx.add(a, a)); // before the profile: must not appear
    const t = await profile(() => {
      mx.eval(mx.matmul(a, a));
    }, { name: 'mm' });
    expect(t.name).toBe('mm');
    expect(byKind(t, 'eval')).toHaveLength(1);
    expect(byKind(t, 'primitive').map((p) => p.name)).toEqual(['Matmul']);
    // What ran before profile() stays for the app's own takeTrace (ones() is a lazy Full too).
    const rest = byKind(inst.takeTrace(), 'primitive').map((p) => p.name);
    expect(rest).toContain('Add');
    expect(rest).not.toContain('Matmul');
  });

  it('profile with passes and warmup marks every span with its pass', async () => {
    const a = mx.ones([16, 16]);
    mx.eval(a);
    const t = await profile(() => mx.eval(mx.exp(a)), { passes: 3, warmup: 1 });
    const prims = byKind(t, 'primitive');
    expect(prims.map((p) => p.pass)).toEqual([0, 1, 2, 3]);
    expect(prims.map((p) => p.warmup)).toEqual([true, false, false, false]);
  });

  it('withSpan nests user regions around evals, also across awaits', async () => {
    const a = mx.ones([4]);
    mx.eval(a);
    inst.takeTrace();
    await withSpan('step', async () => {
      await new Promise((r) => setTimeout(r, 1));
      mx.eval(mx.exp(a));
    });
    const t = inst.takeTrace();
    const [user] = byKind(t, 'user');
    const [ev] = byKind(t, 'eval');
    expect(user.name).toBe('step');
    expect(ev.parentId).toBe(user.id);
  });

  it('opTimer records a manual op priced from the given shapes', () => {
    const r = opTimer('matmul', { inputShapes: [[512, 64], [64, 128]], outputShapes: [[512, 128]], dtype: 'float16' }, () => 42);
    expect(r).toBe(42);
    const t = inst.takeTrace();
    const [op] = byKind(t, 'primitive');
    expect(op.name).toBe('matmul');
    expect(op.flops).toBe(2 * 512 * 64 * 128);
    expect(op.inputs[0]).toEqual({ shape: [512, 64], dtype: 'float16', bytes: 512 * 64 * 2 });
    expect(takeManualTrace().spans).toHaveLength(0);
  });
});

describe('mx.fast fallbacks', () => {
  it('marks the primitives of an mx.fast fallback graph with the fast function, and nothing else', () => {
    const x = mx.random.normal([2, 8, 64]);
    const w = mx.ones([64]);
    mx.eval(x, w);
    inst.takeTrace();
    const y = mx.multiply(mx.fast.rmsNorm(mx.exp(x), w, 1e-5), 2);
    mx.eval(y);
    const prims = byKind(inst.takeTrace(), 'primitive');
    const marked = prims.filter((p) => p.attrs?.fast === 'rmsNorm');
    // On this CPU build rmsNorm runs as a composed graph; its ops carry the mark
    expect(marked.length).toBeGreaterThan(1);
    // the Exp before it and the Multiply by 2 after it are the program's own
    expect(prims.find((p) => p.name === 'Exp')!.attrs?.fast).toBeUndefined();
    expect(prims[prims.length - 1].name).toBe('Multiply');
    expect(prims[prims.length - 1].attrs?.fast).toBeUndefined();
  });

  it('leaves the mark off a lazy input that was built before the last eval', () => {
    const x = mx.random.normal([2, 8, 64]);
    const w = mx.ones([64]);
    mx.eval(x, w);
    const lazy = mx.exp(x); // runs only with the fast call's output
    mx.eval(mx.ones([1])); // an eval between: lazy was tagged for an earlier one
    inst.takeTrace();
    mx.eval(mx.fast.rmsNorm(lazy, w, 1e-5));
    const prims = byKind(inst.takeTrace(), 'primitive');
    expect(prims.filter((p) => p.attrs?.fast === 'rmsNorm').length).toBeGreaterThan(1);
    expect(prims.find((p) => p.name === 'Exp')!.attrs?.fast).toBeUndefined();
  });

  it('marks the same primitives, in the same layer, when layers are tagged by walking their graphs', () => {
    class Norm extends nn.Module {
      w: any;
      constructor() {
        super();
        this.w = mx.ones([64]);
      }
      forward(x: any) {
        return mx.multiply(mx.fast.rmsNorm(mx.exp(x), this.w, 1e-5), 2);
      }
    }
    const norm = new Norm();
    const x = mx.random.normal([2, 8, 64]);
    mx.eval(x, norm.parameters());
    const run = () => {
      inst.takeTrace();
      mx.eval(norm.forward(x));
      return byKind(inst.takeTrace(), 'primitive').map((p) => `${p.name}@${p.layer}:${p.attrs?.fast ?? ''}`);
    };
    const made = run();
    const marked = made.filter((p) => p.endsWith(':rmsNorm'));
    expect(marked.length).toBeGreaterThan(1);
    for (const p of marked) expect(p).toContain('@Norm:');
    expect(withLayersWalked(run)).toEqual(made);
  });
});

describe('re-enable', () => {
  it('keeps user classes instrumented across disable() and enable()', () => {
    class Late2 extends nn.Module {
      l: any;
      constructor() {
        super();
        this.l = new nn.Linear(4, 4);
      }
      forward(x: any) {
        return this.l.forward(x);
      }
    }
    const m = new Late2();
    mx.eval(m.parameters());
    inst.disable();
    inst.enable();
    inst.takeTrace();
    mx.eval(m.forward(mx.ones([1, 4])));
    const t = inst.takeTrace();
    expect(byKind(t, 'layer').map((l) => l.name)).toEqual(['Late2', 'l (Linear)']);
    expect(byKind(t, 'primitive').find((p) => p.name === 'AddMM')!.layer).toBe('l (Linear)');
  });

  it('re-enabling runs no eval of its own (the hook layer was checked once) and still records', () => {
    inst.disable();
    const orig = mx.eval;
    let evals = 0;
    mx.eval = (...a: unknown[]) => (evals++, orig(...a));
    try {
      inst.enable();
      expect(evals).toBe(0);
    } finally {
      inst.disable();
      mx.eval = orig;
      inst.enable();
    }
    expect(inst.timing).toBe('native');
    inst.takeTrace();
    mx.eval(mx.multiply(mx.ones([2, 3]), mx.ones([2, 3])));
    expect(byKind(inst.takeTrace(), 'primitive').map((p) => p.name)).toContain('Multiply');
  });

  it('tags each array with its layer as node-mlx makes it, as the walk of the layer graph did, and more exactly', () => {
    class Block extends nn.Module {
      fc: any; norm: any;
      constructor() {
        super();
        this.fc = new nn.Linear(8, 8);
        this.norm = new nn.LayerNorm(8);
      }
      forward(x: any) {
        const h = nn.gelu(this.norm.forward(this.fc.forward(x)));
        // mean builds several primitives in one call: its inner nodes get the layer too
        return mx.softmax(mx.subtract(h, mx.mean(h, -1, true)), -1);
      }
    }
    class Net extends nn.Module {
      a: any; b: any;
      constructor() {
        super();
        this.a = new Block();
        this.b = new Block();
      }
      forward(x: any) {
        return mx.add(this.b.forward(this.a.forward(x)), x);
      }
    }
    const net = new Net();
    mx.eval(net.parameters());
    const base = mx.ones([4, 8]);
    mx.eval(base);
    const run = () => {
      inst.takeTrace();
      const x = mx.multiply(base, 2); // built outside any layer, passed in lazily
      mx.eval(net.forward(x));
      return byKind(inst.takeTrace(), 'primitive').map((p) => `${p.name}@${p.layer}`);
    };
    const hook = inst.hookLayer!;
    expect(hook.buildState).not.toBeNull();
    const before = hook.binding.stats().builtTagged;
    const made = run();
    expect(hook.binding.stats().builtTagged).toBeGreaterThan(before);
    expect(made).toContain('Multiply@null');
    expect(made).toContain('NumberOfElements@a (Block)');
    expect(made).toContain('StopGradient@b (Block)');
    expect(made.filter((p) => p.startsWith('AddMM@')).map((p) => p.split('@')[1])).toEqual(['a.fc (Linear)', 'b.fc (Linear)']);
    // The same program with layers tagged by walking their graphs when forward returns.
    expect(withLayersWalked(run)).toEqual(made);
  });
});
