// compareTraces + regressions over two generated 100,000-span traces shaped like profile(fn, { passes: 9, warmup: 1 })
// of a 24-block transformer (per pass: a 'pass N' user span, the forward pass's layer spans, one eval and ~10k
// primitives built by the leaf layers, each with its own shapes). B is A with every primitive's time changed by
// a seeded -10%..+20% and one op family 30% slower, so rows are matched, noisy and some regressed.
import * as sdk from '../../dist/index.mjs';

const SPANS = 100_000;
const PASSES = 10; // 1 warm-up + 9 measured
const BLOCKS = 24;

const OPS = [
  { name: 'Matmul', inputs: (m, d) => [[m, d], [d, d]], out: (m, d) => [m, d], flops: (m, d) => 2 * m * d * d },
  { name: 'Add', inputs: (m, d) => [[m, d], [m, d]], out: (m, d) => [m, d], flops: (m, d) => m * d },
  { name: 'Multiply', inputs: (m, d) => [[m, d], [m, d]], out: (m, d) => [m, d], flops: (m, d) => m * d },
  { name: 'Softmax', inputs: (m) => [[8, m, m]], out: (m) => [8, m, m], flops: (m) => 5 * 8 * m * m },
  { name: 'Exp', inputs: (m, d) => [[m, d]], out: (m, d) => [m, d], flops: (m, d) => m * d },
  { name: 'Gather', inputs: (m, d) => [[32000, d], [m]], out: (m, d) => [m, d], flops: () => null },
];

export function generate(seed = 7, slow = null) {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296);
  const tensors = new Map();
  const tensor = (shape) => {
    const key = shape.join(',');
    let t = tensors.get(key);
    if (!t) tensors.set(key, (t = { shape, dtype: 'float16', bytes: shape.reduce((a, b) => a * b, 1) * 2 }));
    return t;
  };
  const spans = [];
  const memory = [];
  let id = 1;
  let t = 1000;
  const host = 51; // per pass: pass span, model, 2 x BLOCKS leaf layers, eval
  const primsPerPass = Math.floor(SPANS / PASSES) - host;
  for (let p = 0; p < PASSES; p++) {
    const warmup = p === 0;
    const pass = { id: id++, parentId: null, kind: 'user', name: warmup ? 'warmup 1' : `pass ${p}`, start: t, end: 0, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, attrs: { pass: p, warmup }, pass: p, warmup };
    spans.push(pass);
    t += 100;
    const model = { id: id++, parentId: pass.id, kind: 'layer', name: 'model (Transformer)', start: t, end: 0, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, pass: p, warmup };
    spans.push(model);
    const leaves = [];
    for (let b = 0; b < BLOCKS; b++) {
      for (const [part, cls] of [['attention', 'Attention'], ['mlp', 'MLP']]) {
        const l = { id: id++, parentId: model.id, kind: 'layer', name: `layers.${b}.${part} (${cls})`, start: t, end: t + 2000, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, pass: p, warmup };
        spans.push(l);
        leaves.push(l);
        t += 2100;
      }
    }
    model.end = t;
    const ev = { id: id++, parentId: pass.id, kind: 'eval', name: 'eval', start: t, end: 0, thread: 1, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null, pass: p, warmup };
    spans.push(ev);
    t += 500;
    let live = 0;
    for (let k = 0; k < primsPerPass; k++) {
      const leaf = leaves[Math.floor((k * leaves.length) / primsPerPass)];
      const op = OPS[k % OPS.length];
      const m = [16, 32, 64, 128][(k >> 3) % 4];
      const d = 512;
      const inputs = op.inputs(m, d).map(tensor);
      const out = tensor(op.out(m, d));
      let dur = 2000 + ((k * 7919) % 30_000);
      dur = Math.round(dur * (0.97 + rand() * 0.06));
      if (slow) dur = Math.round(dur * (op.name === slow ? 1.3 : 0.9 + rand() * 0.3));
      spans.push({
        id: id++, parentId: ev.id, kind: 'primitive', name: op.name, start: t, end: t + dur, thread: 2, device: 'cpu',
        inputs, outputs: [out], flops: op.flops(m, d), bytes: inputs.reduce((a, x) => a + x.bytes, out.bytes),
        layerId: leaf.id, layer: leaf.name, pass: p, warmup,
      });
      live += out.bytes;
      memory.push({ t: t + 1, delta: out.bytes, live, op: op.name });
      t += dur + 200;
    }
    ev.end = t;
    memory.push({ t: t + 1, delta: -live, live: 0, op: null });
    t += 100;
    pass.end = t;
    t += 1000;
  }
  return {
    schema: 'mlx-trace/1', name: slow ? 'b' : 'a',
    meta: {
      timing: 'native', createdAt: '2025-01-01T00:00:00.000Z', origin: { monotonicNs: 0, epochNs: '0' },
      host: { platform: 'linux', arch: 'x64', cpuModel: 'bench', cpus: 1, totalMemory: 1, hostname: 'bench' },
      versions: { mlx: '0', node: process.versions.node, mlxTrace: '0' },
      peaks: { flops: 1e12, bandwidth: 1e11, source: 'default' }, passes: PASSES - 1, warmup: 1,
    },
    spans, memory, dropped: 0,
  };
}

export default [
  {
    id: 'compare.ms_per_100k_spans',
    unit: 'ms',
    goal: 200,
    better: 'lower',
    async run() {
      if (typeof sdk.compareTraces !== 'function' || typeof sdk.regressions !== 'function') {
        throw new Error('dist/index.mjs does not export compareTraces/regressions (export them from src/index.ts, then npx tsup)');
      }
      const a = generate(7);
      const b = generate(11, 'Softmax');
      if (a.spans.length !== SPANS || b.spans.length !== SPANS) throw new Error(`generator made ${a.spans.length}/${b.spans.length} spans`);
      const once = () => {
        const t0 = performance.now();
        const cmp = sdk.compareTraces(a, b);
        const regs = sdk.regressions(cmp, { threshold: 0.05, minShare: 0.01 });
        return { ms: performance.now() - t0, cmp, regs };
      };
      // The first calls run before the JIT has optimised the loops (and pay for collecting the generator's garbage):
      // reported as coldMs, left out of the median.
      const cold = once();
      once();
      const times = [];
      let last;
      for (let i = 0; i < 9; i++) {
        last = once();
        times.push(last.ms);
      }
      times.sort((x, y) => x - y);
      // Two traces of SPANS spans each are compared: the time is per 100k spans of each trace.
      const median = times[times.length >> 1] / (SPANS / 100_000);
      return {
        value: median,
        extra: { rows: last.cmp.rows.length, regressions: last.regs.length, spansEach: SPANS, coldMs: Math.round(cold.ms), minMs: Math.round(times[0]) },
      };
    },
  },
];
