/**
 * A deterministic, hand-built Trace shaped like a real MLX recording, for tests that run before (or without)
 * the native recorder. Structure per step:
 *
 *   user 'step N'
 *   ├─ layer 'model (Model)'            forward pass: builds the lazy graph, short
 *   │   └─ layer 'layers.i (Block)'
 *   │       ├─ layer 'layers.i.attention (Attention)'
 *   │       └─ layer 'layers.i.mlp (MLP)'
 *   └─ eval 'eval'                      runs the graph later
 *       └─ primitive 'Matmul' ...       layerId/layer point at the leaf layer that built it
 *
 * Times are integers in ns, children strictly inside parents, siblings never overlap, so nesting is proper.
 */
import { TRACE_SCHEMA, type MemoryEvent, type Span, type TensorInfo, type Trace } from '../../src/core/model/trace';

export interface SyntheticOptions {
  /** Steps (one forward + one eval each). @default 2 */
  steps?: number;
  /** Blocks per model. @default 2 */
  blocks?: number;
  /** Primitives built by each leaf layer. @default 4 */
  primitivesPerLayer?: number;
  /** Give some primitives flops: null (ops without a cost formula). @default true */
  withUncosted?: boolean;
  /** Value for trace.dropped. @default 0 */
  dropped?: number;
  /** PRNG seed. @default 1 */
  seed?: number;
  name?: string;
}

/** Ops cycled through by the generator; null flops = no cost formula. */
const OPS: { name: string; costed: boolean }[] = [
  { name: 'Matmul', costed: true },
  { name: 'Add', costed: true },
  { name: 'Multiply', costed: true },
  { name: 'Softmax', costed: true },
  { name: 'Gather', costed: false },
  { name: 'Exp', costed: true },
  { name: 'CustomKernel', costed: false },
];

/** A small seeded PRNG, so that a failing variant reproduces. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function syntheticTrace(opts: SyntheticOptions = {}): Trace {
  const steps = opts.steps ?? 2;
  const blocks = opts.blocks ?? 2;
  const perLayer = opts.primitivesPerLayer ?? 4;
  const withUncosted = opts.withUncosted ?? true;
  const rand = mulberry32(opts.seed ?? 1);
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

  const spans: Span[] = [];
  const memory: MemoryEvent[] = [];
  let nextId = 1;
  let live = 0;
  const MAIN = 4242;
  const WORKER = 4243;

  const tensor = (shape: number[]): TensorInfo => ({ shape, dtype: 'float32', bytes: shape.reduce((a, b) => a * b, 1) * 4 });
  const span = (p: Omit<Span, 'id'>): Span => {
    const s: Span = { id: nextId++, ...p };
    spans.push(s);
    return s;
  };

  let t = 1_000;
  let opIndex = 0;
  for (let step = 0; step < steps; step++) {
    const stepSpan = span({
      parentId: null, kind: 'user', name: `step ${step}`, start: t, end: 0, thread: MAIN, device: 'cpu',
      inputs: [], outputs: [], flops: null, bytes: null,
    });
    t += between(100, 500);

    // Forward pass: layer spans that only build the graph. Remember which leaf layers built what.
    const leaves: Span[] = [];
    const model = span({
      parentId: stepSpan.id, kind: 'layer', name: 'model (Model)', start: t, end: 0, thread: MAIN, device: 'cpu',
      inputs: [tensor([1, 8, 64])], outputs: [tensor([1, 8, 64])], flops: null, bytes: null,
    });
    t += between(200, 800);
    for (let b = 0; b < blocks; b++) {
      const block = span({
        parentId: model.id, kind: 'layer', name: `layers.${b} (Block)`, start: t, end: 0, thread: MAIN, device: 'cpu',
        inputs: [tensor([1, 8, 64])], outputs: [tensor([1, 8, 64])], flops: null, bytes: null,
      });
      t += between(100, 400);
      for (const [leafName, cls] of [['attention', 'Attention'], ['mlp', 'MLP']] as const) {
        const leaf = span({
          parentId: block.id, kind: 'layer', name: `layers.${b}.${leafName} (${cls})`, start: t, end: 0, thread: MAIN,
          device: 'cpu', inputs: [tensor([1, 8, 64])], outputs: [tensor([1, 8, 64])], flops: null, bytes: null,
        });
        t += between(2_000, 9_000);
        leaf.end = t;
        leaves.push(leaf);
        t += between(50, 300);
      }
      block.end = t;
      t += between(50, 300);
    }
    model.end = t;
    t += between(300, 1_000);

    // Evaluation: primitives run here, attributed to the leaf layers built above.
    const evalSpan = span({
      parentId: stepSpan.id, kind: 'eval', name: 'eval', start: t, end: 0, thread: MAIN, device: 'cpu',
      inputs: [], outputs: [tensor([1, 8, 64])], flops: null, bytes: null,
    });
    t += between(500, 2_000);
    for (const leaf of leaves) {
      const path = leaf.name.replace(/ \(.*\)$/, '');
      for (let k = 0; k < perLayer; k++) {
        let op = OPS[opIndex++ % OPS.length];
        if (!withUncosted && !op.costed) op = OPS[0];
        const m = 8 * between(1, 4);
        const inputs = op.name === 'Matmul' ? [tensor([m, 64]), tensor([64, 64])] : [tensor([m, 64]), tensor([m, 64])];
        const outputs = [tensor([m, 64])];
        const flops = !op.costed ? null : op.name === 'Matmul' ? 2 * m * 64 * 64 : m * 64 * (op.name === 'Softmax' ? 5 : 1);
        const bytes = op.costed ? inputs.reduce((a, x) => a + x.bytes, 0) + outputs[0].bytes : null;
        const start = t;
        t += between(1_000, 40_000);
        spans.push({
          id: nextId++, parentId: evalSpan.id, kind: 'primitive', name: op.name, start, end: t,
          thread: k % 3 === 2 ? WORKER : MAIN, device: 'cpu', inputs, outputs, flops, bytes,
          layerId: leaf.id, layer: path,
        });
        live += outputs[0].bytes;
        memory.push({ t: start + 10, delta: outputs[0].bytes, live, op: op.name });
        t += between(100, 1_500);
      }
    }
    evalSpan.end = t;
    t += between(100, 400);
    stepSpan.end = t;
    // Free what the step allocated, as the allocator would when arrays are released.
    memory.push({ t: t - 50, delta: -live, live: 0, op: null });
    live = 0;
    t += between(1_000, 5_000);
  }

  return {
    schema: TRACE_SCHEMA,
    name: opts.name ?? 'synthetic',
    meta: {
      timing: 'native',
      createdAt: '2025-01-02T03:04:05.000Z',
      origin: { monotonicNs: 123_456_789, epochNs: '1735787045000000000' },
      host: { platform: 'linux', arch: 'x64', cpuModel: 'Synthetic CPU', cpus: 2, totalMemory: 8 * 2 ** 30, hostname: 'synth-host' },
      versions: { mlx: '0.0.7', node: process.versions.node, mlxTrace: '0.1.0' },
      peaks: { flops: 100e9, bandwidth: 20e9, source: 'default' },
    },
    spans,
    memory,
    dropped: opts.dropped ?? 0,
  };
}

export interface MakeSyntheticOptions {
  /** Primitive spans in total, spread over the evals. @default 64 */
  primitives?: number;
  /** Transformer blocks per forward pass; each has an attention and an mlp leaf layer that build primitives. @default 2 */
  layers?: number;
  /** Worker threads the primitives run on (round-robin), apart from the JS thread. @default 1 */
  threads?: number;
  /** Emit allocator events (an alloc per primitive output, everything freed at the end of each eval). @default true */
  memory?: boolean;
  /** Forward + eval steps. @default max(1, ceil(primitives / 1000)) */
  evals?: number;
  /** Device of the primitives; 'mixed' puts every 4th one on the gpu. @default 'cpu' */
  device?: 'cpu' | 'gpu' | 'mixed';
  /** Extra 'user' spans on the JS thread that partially overlap a step (start in one step, end in the next). @default 0 */
  overlaps?: number;
  /** PRNG seed. @default 1 */
  seed?: number;
  name?: string;
}

/** Thread ids used by makeSyntheticTrace: the JS thread, then workers JS_THREAD + 1 ... */
export const SYNTH_JS_THREAD = 4242;

/**
 * A deterministic trace of any size, cheap enough for millions of primitives. Per step, on the JS thread:
 * 'step N' (user) > forward pass (layer 'model' > 'layers.i' > 'layers.i.attention' / 'layers.i.mlp'), then
 * 'eval'; the primitives run during the eval on worker threads (one after another on each worker), each with
 * parentId = the eval and layerId/layer = the leaf layer that built it. Times are integer ns and nest properly
 * on every thread unless `overlaps` asks for offenders.
 */
export function makeSyntheticTrace(opts: MakeSyntheticOptions = {}): Trace {
  const total = Math.max(0, Math.floor(opts.primitives ?? 64));
  const blocks = Math.max(1, Math.floor(opts.layers ?? 2));
  const threads = Math.max(1, Math.floor(opts.threads ?? 1));
  const evals = Math.max(1, Math.floor(opts.evals ?? Math.ceil(total / 1000)));
  const withMemory = opts.memory ?? true;
  const device = opts.device ?? 'cpu';
  const rand = mulberry32(opts.seed ?? 1);
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

  const spans: Span[] = [];
  const allocs: { t: number; delta: number; op: string | null }[] = [];
  const stepSpans: Span[] = [];
  let nextId = 1;
  const host = (kind: Span['kind'], name: string, parentId: number | null, start: number): Span => {
    const s: Span = {
      id: nextId++, parentId, kind, name, start, end: start, thread: SYNTH_JS_THREAD, device: 'cpu',
      inputs: [], outputs: [], flops: null, bytes: null,
    };
    spans.push(s);
    return s;
  };
  // Shapes are shared objects: the trace model is read-only data, and this keeps 1M-span traces small.
  const D = 64;
  const rows = [8, 16, 32, 64].map((m) => ({
    m,
    x: { shape: [m, D], dtype: 'float32', bytes: m * D * 4 },
    w: { shape: [D, D], dtype: 'float32', bytes: D * D * 4 },
  }));

  let t = 1_000;
  let made = 0;
  for (let e = 0; e < evals; e++) {
    const count = Math.floor((total * (e + 1)) / evals) - Math.floor((total * e) / evals);
    const step = host('user', `step ${e}`, null, t);
    stepSpans.push(step);
    t += between(100, 500);
    const model = host('layer', 'model (Model)', step.id, t);
    model.inputs = model.outputs = [rows[0].x];
    t += between(200, 800);
    const leaves: Span[] = [];
    for (let b = 0; b < blocks; b++) {
      const block = host('layer', `layers.${b} (Block)`, model.id, t);
      t += between(100, 400);
      for (const [leafName, cls] of [['attention', 'Attention'], ['mlp', 'MLP']] as const) {
        const leaf = host('layer', `layers.${b}.${leafName} (${cls})`, block.id, t);
        leaf.inputs = leaf.outputs = [rows[0].x];
        // Building the graph costs time per op built.
        t += between(500, 2_000) + Math.ceil(count / (2 * blocks)) * between(200, 400);
        leaf.end = t;
        leaves.push(leaf);
        t += between(50, 300);
      }
      block.end = t;
      t += between(50, 300);
    }
    model.end = t;
    t += between(300, 1_000);

    const ev = host('eval', 'eval', step.id, t);
    ev.outputs = [rows[0].x];
    const clocks = new Array<number>(threads).fill(t + between(500, 2_000));
    for (let k = 0; k < count; k++) {
      const leaf = leaves[Math.floor((k * leaves.length) / Math.max(1, count))];
      const op = OPS[(made + k) % OPS.length];
      const r = rows[(made + k) % rows.length];
      const inputs = op.name === 'Matmul' ? [r.x, r.w] : [r.x, r.x];
      const flops = !op.costed ? null : op.name === 'Matmul' ? 2 * r.m * D * D : r.m * D * (op.name === 'Softmax' ? 5 : 1);
      const bytes = op.costed ? inputs[0].bytes + inputs[1].bytes + r.x.bytes : null;
      const w = k % threads;
      const start = clocks[w];
      const end = start + between(1_000, 40_000);
      clocks[w] = end + between(100, 1_500);
      const dev = device === 'mixed' ? ((made + k) % 4 === 3 ? 'gpu' : 'cpu') : device;
      spans.push({
        id: nextId++, parentId: ev.id, kind: 'primitive', name: op.name, start, end,
        thread: SYNTH_JS_THREAD + 1 + w, device: dev, inputs, outputs: [r.x], flops, bytes,
        layerId: leaf.id, layer: leaf.name.replace(/ \(.*\)$/, ''),
      });
      if (withMemory) allocs.push({ t: start + 10, delta: r.x.bytes, op: op.name });
    }
    made += count;
    t = Math.max(...clocks) + between(100, 500);
    ev.end = t;
    t += between(100, 400);
    step.end = t;
    if (withMemory) allocs.push({ t: t - 50, delta: 0, op: null }); // placeholder: frees the eval's allocations
    t += between(1_000, 5_000);
  }

  // Partial overlaps on the JS thread: from the middle of step k's forward pass into the middle of step k+1.
  const overlaps = Math.max(0, Math.floor(opts.overlaps ?? 0));
  for (let k = 0; k < overlaps; k++) {
    const a = stepSpans[k % stepSpans.length];
    const b = stepSpans[(k % stepSpans.length) + 1];
    const start = Math.floor((a.start + a.end) / 2) + k;
    const end = b ? Math.floor((b.start + b.end) / 2) : a.end + 1_000;
    spans.push({
      id: nextId++, parentId: null, kind: 'user', name: `overlap ${k}`, start, end, thread: SYNTH_JS_THREAD,
      device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null,
    });
  }

  // Live bytes in time order across threads; each eval's placeholder frees what the eval allocated.
  allocs.sort((x, y) => x.t - y.t);
  const memory: MemoryEvent[] = [];
  let live = 0;
  for (const a of allocs) {
    const delta = a.op === null && a.delta === 0 ? -live : a.delta;
    live += delta;
    memory.push({ t: a.t, delta, live, op: a.op });
  }

  const trace = syntheticTrace({ steps: 0, name: opts.name ?? 'synthetic' });
  trace.spans = spans;
  trace.memory = memory;
  return trace;
}
