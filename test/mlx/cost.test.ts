// The cost model, checked on real MLX ops: every case builds real arrays, runs the op, evaluates it,
// and prices it from the evaluated arrays' shapes and dtypes against a value worked out by hand here.
import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import {
  estimateCost,
  COST_FORMULAS,
  NOT_PRIMITIVES,
  resolveOpName,
  splitCompiledName,
  missingCostFormulas,
  derivedMetrics,
  dtypeItemsize,
  costReason,
} from '../../src/core/cost';
import type { Span, TensorInfo } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlxPath = require.resolve('@frost-beta/mlx');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const mx: any = require('@frost-beta/mlx').core;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const info = (a: any): TensorInfo => ({ shape: [...a.shape], dtype: String(a.dtype), bytes: a.nbytes });
const prod = (xs: number[]) => xs.reduce((p, x) => p * x, 1);
const rand = (shape: number[]) => mx.random.normal(shape);

interface Case {
  name: string;
  op: string;
  /** Builds and runs the op; returns the primitive's inputs (in primitive order) and outputs. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  run: () => { inputs: any[]; outputs: any[] };
  /** Expected output shape, computed by hand (guards the hand formula's premises). */
  outShape?: number[];
  flops: number | null;
  /** Expected bytes; 'rw' = sum of inputs' and outputs' nbytes. */
  bytes: number | 'rw';
}

const F32 = 4;
const cases: Case[] = [
  {
    name: 'batched matmul [2,3,64,128] x [128,32]',
    op: 'Matmul',
    run: () => { const a = rand([2, 3, 64, 128]), b = rand([128, 32]); return { inputs: [a, b], outputs: [mx.matmul(a, b)] }; },
    outShape: [2, 3, 64, 32],
    flops: 2 * (2 * 3) * 64 * 128 * 32,
    bytes: 'rw',
  },
  {
    name: 'broadcast-batch matmul [2,3,64,128] x [3,128,32]',
    op: 'Matmul',
    run: () => { const a = rand([2, 3, 64, 128]), b = rand([3, 128, 32]); return { inputs: [a, b], outputs: [mx.matmul(a, b)] }; },
    outShape: [2, 3, 64, 32],
    flops: 2 * 6 * 64 * 128 * 32,
    bytes: 'rw',
  },
  {
    name: 'matrix-vector matmul [64,128] x [128]',
    op: 'Matmul',
    run: () => { const a = rand([64, 128]), b = rand([128]); return { inputs: [a, b], outputs: [mx.matmul(a, b)] }; },
    outShape: [64],
    flops: 2 * 64 * 128,
    bytes: (64 * 128 + 128 + 64) * F32,
  },
  {
    name: 'addmm C[64,32] + A[64,128]·B[128,32]',
    op: 'AddMM',
    run: () => {
      const c = rand([64, 32]), a = rand([64, 128]), b = rand([128, 32]);
      // node-mlx's addmm takes (c, a, b) like Python; the primitive's inputs are {a, b, c}
      return { inputs: [a, b, c], outputs: [mx.addmm(c, a, b, 1.5, 0.5)] };
    },
    outShape: [64, 32],
    flops: 2 * 64 * 128 * 32 + 64 * 32 + 64 * 32,
    bytes: (64 * 128 + 128 * 32 + 64 * 32 + 64 * 32) * F32,
  },
  {
    name: 'conv2d stride 2 padding 1, [2,16,16,8] * [12,3,3,8]',
    op: 'Convolution',
    run: () => { const x = rand([2, 16, 16, 8]), w = rand([12, 3, 3, 8]); return { inputs: [x, w], outputs: [mx.conv2d(x, w, 2, 1)] }; },
    // out = floor((16 + 2·1 - 3) / 2) + 1 = 8
    outShape: [2, 8, 8, 12],
    flops: 2 * 2 * (8 * 8) * 12 * (3 * 3) * 8,
    bytes: 'rw',
  },
  {
    name: 'conv1d groups 2 stride 2 padding 1, [2,32,8] * [12,3,4]',
    op: 'Convolution',
    run: () => { const x = rand([2, 32, 8]), w = rand([12, 3, 4]); return { inputs: [x, w], outputs: [mx.conv1d(x, w, 2, 1, 1, 2)] }; },
    // out = floor((32 + 2 - 3) / 2) + 1 = 16; Cin/groups = 8/2 = 4
    outShape: [2, 16, 12],
    flops: 2 * 2 * 16 * 12 * 3 * (8 / 2),
    bytes: 'rw',
  },
  {
    name: 'conv1d depthwise (groups = Cin = 8) dilation 2, [1,40,8] * [8,5,1]',
    op: 'Convolution',
    run: () => { const x = rand([1, 40, 8]), w = rand([8, 5, 1]); return { inputs: [x, w], outputs: [mx.conv1d(x, w, 1, 0, 2, 8)] }; },
    // effective kernel = 2·(5-1)+1 = 9, out = 40 - 9 + 1 = 32
    outShape: [1, 32, 8],
    flops: 2 * 1 * 32 * 8 * 5 * 1,
    bytes: 'rw',
  },
  {
    name: 'conv3d [1,8,8,8,4] * [6,3,3,3,4]',
    op: 'Convolution',
    run: () => { const x = rand([1, 8, 8, 8, 4]), w = rand([6, 3, 3, 3, 4]); return { inputs: [x, w], outputs: [mx.conv3d(x, w, 1, 0, 1, 1)] }; },
    outShape: [1, 6, 6, 6, 6],
    flops: 2 * 1 * 6 * 6 * 6 * 6 * 27 * 4,
    bytes: 'rw',
  },
  {
    name: 'quantized matmul, 4 bits group 64: x[8,256] · Wᵀ, W[64,256]',
    op: 'QuantizedMatmul',
    run: () => {
      const [wq, scales, biases] = mx.quantize(rand([64, 256]), 64, 4);
      const x = rand([8, 256]);
      return { inputs: [x, wq, scales, biases], outputs: [mx.quantizedMatmul(x, wq, scales, biases, true, 64, 4)] };
    },
    outShape: [8, 64],
    flops: 2 * 8 * 256 * 64,
    // x + packed W (4 bits per weight) + scales and biases (one float32 per group of 64) + out
    bytes: 8 * 256 * F32 + (64 * 256 * 4) / 8 + 2 * (64 * (256 / 64) * F32) + 8 * 64 * F32,
  },
  {
    name: 'scaled dot-product attention q[1,4,16,32] k,v[1,4,24,32]',
    op: 'fast::ScaledDotProductAttention',
    run: () => {
      const q = rand([1, 4, 16, 32]), k = rand([1, 4, 24, 32]), v = rand([1, 4, 24, 32]);
      return { inputs: [q, k, v], outputs: [mx.fast.scaledDotProductAttention(q, k, v, 0.125)] };
    },
    outShape: [1, 4, 16, 32],
    flops: 4 * 1 * 4 * 16 * 24 * 32 + 5 * 1 * 4 * 16 * 24 + 1 * 4 * 16 * 32,
    bytes: 'rw',
  },
  {
    name: 'rms norm [4,64,128]',
    op: 'RMSNorm',
    run: () => { const x = rand([4, 64, 128]), w = rand([128]); return { inputs: [x, w], outputs: [mx.fast.rmsNorm(x, w, 1e-5)] }; },
    flops: 4 * 4 * 64 * 128,
    bytes: (2 * 4 * 64 * 128 + 128) * F32,
  },
  {
    name: 'layer norm [4,64,128]',
    op: 'fast::LayerNorm',
    run: () => {
      const x = rand([4, 64, 128]), w = rand([128]), b = rand([128]);
      return { inputs: [x, w, b], outputs: [mx.fast.layerNorm(x, w, b, 1e-5)] };
    },
    flops: 7 * 4 * 64 * 128,
    bytes: 'rw',
  },
  {
    name: 'rope [1,4,16,64]',
    op: 'RoPE',
    run: () => { const x = rand([1, 4, 16, 64]); return { inputs: [x], outputs: [mx.fast.rope(x, 64, false, 10000, 1, 0)] }; },
    flops: 6 * 4 * 16 * 64,
    bytes: 2 * 4 * 16 * 64 * F32,
  },
  {
    name: 'softmax [8,100]',
    op: 'Softmax',
    run: () => { const x = rand([8, 100]); return { inputs: [x], outputs: [mx.softmax(x, -1)] }; },
    flops: 5 * 800,
    bytes: 2 * 800 * F32,
  },
  {
    name: 'logsumexp [8,100] over the last axis',
    op: 'LogSumExp',
    run: () => { const x = rand([8, 100]); return { inputs: [x], outputs: [mx.logsumexp(x, -1)] }; },
    outShape: [8],
    flops: 4 * 800,
    bytes: (800 + 8) * F32,
  },
  {
    name: 'sum reduce [16,32] -> [16] (print name "Sum Reduce")',
    op: 'Sum Reduce',
    run: () => { const x = rand([16, 32]); return { inputs: [x], outputs: [mx.sum(x, -1)] }; },
    outShape: [16],
    flops: 16 * 32,
    bytes: (16 * 32 + 16) * F32,
  },
  {
    name: 'argmax [16,32]',
    op: 'ArgReduce',
    run: () => { const x = rand([16, 32]); return { inputs: [x], outputs: [mx.argmax(x, -1)] }; },
    flops: 16 * 32,
    bytes: 16 * 32 * F32 + 16 * 4,
  },
  {
    name: 'cumsum [16,32] (print name "CumSum Reduce")',
    op: 'CumSum Reduce',
    run: () => { const x = rand([16, 32]); return { inputs: [x], outputs: [mx.cumsum(x, -1)] }; },
    flops: 16 * 32,
    bytes: 2 * 16 * 32 * F32,
  },
  {
    name: 'sort [8,16] on the last axis',
    op: 'Sort',
    run: () => { const x = rand([8, 16]); return { inputs: [x], outputs: [mx.sort(x, -1)] }; },
    outShape: [8, 16],
    flops: 8 * 16 * 4, // log2(16) = 4 comparison levels
    bytes: 'rw',
  },
  {
    name: 'add [32,64] + [64] (broadcast)',
    op: 'Add',
    run: () => { const a = rand([32, 64]), b = mx.broadcastTo(rand([64]), [32, 64]); return { inputs: [a, b], outputs: [mx.add(a, b)] }; },
    flops: 32 * 64,
    bytes: 3 * 32 * 64 * F32,
  },
  {
    name: 'exp [32,64] (transcendental counts 1)',
    op: 'Exp',
    run: () => { const a = rand([32, 64]); return { inputs: [a], outputs: [mx.exp(a)] }; },
    flops: 32 * 64,
    bytes: 2 * 32 * 64 * F32,
  },
  {
    name: 'greater [32,64] -> bool',
    op: 'Greater',
    run: () => { const a = rand([32, 64]), b = rand([32, 64]); return { inputs: [a, b], outputs: [mx.greater(a, b)] }; },
    flops: 32 * 64,
    bytes: 2 * 32 * 64 * F32 + 32 * 64 * 1,
  },
  {
    name: 'where (Select) [32,64]',
    op: 'Select',
    run: () => {
      const c = mx.greater(rand([32, 64]), 0), a = rand([32, 64]), b = rand([32, 64]);
      return { inputs: [c, a, b], outputs: [mx.where(c, a, b)] };
    },
    flops: 32 * 64,
    bytes: 32 * 64 * (1 + 3 * F32),
  },
  {
    name: 'gather (take rows) [100,64] by 10 int32 indices',
    op: 'Gather',
    run: () => {
      const src = rand([100, 64]), idx = mx.array([0, 5, 7, 9, 11, 13, 42, 50, 60, 99], mx.int32);
      return { inputs: [src, idx], outputs: [mx.take(src, idx, 0)] };
    },
    outShape: [10, 64],
    flops: 0,
    bytes: 10 * 4 + 2 * 10 * 64 * F32,
  },
  {
    name: 'concatenate [2,3] and [4,3] on axis 0',
    op: 'Concatenate',
    run: () => { const a = rand([2, 3]), b = rand([4, 3]); return { inputs: [a, b], outputs: [mx.concatenate([a, b], 0)] }; },
    outShape: [6, 3],
    flops: 0,
    bytes: 2 * 18 * F32,
  },
  {
    name: 'pad [3,4] by 1',
    op: 'Pad',
    run: () => { const a = rand([3, 4]), v = mx.array(0, mx.float32); return { inputs: [a, v], outputs: [mx.pad(a, 1)] }; },
    outShape: [5, 6],
    flops: 0,
    bytes: (12 + 1 + 30) * F32,
  },
  {
    name: 'astype float32 -> float16',
    op: 'AsType',
    run: () => { const a = rand([10, 10]); return { inputs: [a], outputs: [a.astype(mx.float16)] }; },
    flops: 0,
    bytes: 100 * F32 + 100 * 2,
  },
  ...(['Reshape', 'Transpose', 'Broadcast', 'Slice'] as const).map((op): Case => ({
    name: `${op} is a view: 0 bytes`,
    op,
    run: () => {
      const a = rand([4, 6]);
      const out = op === 'Reshape' ? mx.reshape(a, [6, 4]) : op === 'Transpose' ? mx.transpose(a)
        : op === 'Broadcast' ? mx.broadcastTo(rand([6]), [4, 6]) : a.index(mx.Slice(1, 3));
      return { inputs: [a], outputs: [out] };
    },
    flops: 0,
    bytes: 0,
  })),
  {
    name: 'matrix inverse, batch of 3 16×16',
    op: 'Inverse',
    run: () => { const a = mx.add(mx.eye(16), mx.multiply(rand([3, 16, 16]), 0.01)); return { inputs: [a], outputs: [mx.linalg.inv(a, mx.cpu)] }; },
    flops: 3 * 2 * 16 ** 3,
    bytes: 'rw',
  },
  {
    name: 'fft of 4 rows of 64 complex',
    op: 'FFT',
    run: () => { const a = mx.zeros([4, 64], mx.complex64); return { inputs: [a], outputs: [mx.fft.fft(a)] }; },
    flops: 5 * 4 * 64 * 6,
    bytes: 2 * 4 * 64 * 8,
  },
  {
    name: 'rfft of 4 rows of 64 real (L from the real side)',
    op: 'FFT',
    run: () => { const a = rand([4, 64]); return { inputs: [a], outputs: [mx.fft.rfft(a)] }; },
    outShape: [4, 33],
    flops: 5 * 4 * 64 * 6,
    bytes: 4 * 64 * F32 + 4 * 33 * 8,
  },
];

describe('estimateCost on real MLX ops', () => {
  it.each(cases)('$name', (c) => {
    const { inputs, outputs } = c.run();
    mx.eval(...outputs);
    const ins = inputs.map(info);
    const outs = outputs.map(info);
    if (c.outShape) expect(outs[0].shape).toEqual(c.outShape);
    const cost = estimateCost(c.op, ins, outs);
    expect(cost.flops).toBe(c.flops);
    const rw = [...ins, ...outs].reduce((s, t) => s + t.bytes, 0);
    expect(cost.bytes).toBe(c.bytes === 'rw' ? rw : c.bytes);
  });

  it('prices a Reshape or Slice that MLX had to copy as a copy when told', () => {
    const a = mx.transpose(rand([4, 6]));
    const out = mx.reshape(a, [24]);
    mx.eval(out);
    expect(estimateCost('Reshape', [info(a)], [info(out)], { copied: true }).bytes).toBe(2 * 24 * F32);
    expect(estimateCost('Reshape', [info(a)], [info(out)]).bytes).toBe(0);
  });

  it('counts Scatter Sum per update element and plain Scatter as 0 flops', () => {
    const dst = mx.zeros([10, 4]), idx = mx.array([1, 3], mx.int32), upd = rand([2, 1, 4]);
    const ins = [info(dst), info(idx), info(upd)];
    const outs = [{ shape: [10, 4], dtype: 'float32', bytes: 160 }];
    expect(estimateCost('Scatter Sum', ins, outs)).toEqual({ flops: 8, bytes: 160 + 8 + 32 + 160 });
    expect(estimateCost('Scatter', ins, outs).flops).toBe(0);
  });

  it('reads item sizes that agree with node-mlx for every dtype', () => {
    for (const name of ['bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64', 'float16', 'bfloat16', 'float32', 'complex64']) {
      const a = mx.zeros([3], mx[name]);
      expect([String(a.dtype), dtypeItemsize(String(a.dtype))! * 3]).toEqual([name, a.nbytes]);
    }
  });
});

/** The primitive classes this addon defines, demangled from its vtable symbols. */
function addonClasses(): string[] {
  const addon = require.resolve('@frost-beta/mlx/build/Release/mlx.node', { paths: [mlxPath] });
  const syms = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const names = new Set<string>();
  for (const m of syms.matchAll(/_ZTVN3mlx4core((?:\d+[A-Za-z_][A-Za-z0-9_]*)+)E\b/g)) {
    // Itanium nested name: a run of <length><identifier>
    const parts: string[] = [];
    let s = m[1];
    while (s.length) {
      const n = /^(\d+)/.exec(s)!;
      const len = Number(n[1]);
      parts.push(s.slice(n[1].length, n[1].length + len));
      s = s.slice(n[1].length + len);
    }
    names.add(parts.join('::'));
  }
  return [...names].sort();
}

describe('the formula table', () => {
  const classes = addonClasses();

  it('finds the primitive classes in the addon', () => {
    expect(classes).toContain('Matmul');
    expect(classes).toContain('fast::RMSNorm');
    expect(classes.length).toBeGreaterThan(80);
  });

  it('has a formula with a reason for every primitive class of the addon', () => {
    const missing = classes.filter((c) => !NOT_PRIMITIVES.has(c) && resolveOpName(c) == null);
    expect(missing).toEqual([]);
    for (const c of classes) {
      if (NOT_PRIMITIVES.has(c)) continue;
      expect(costReason(c)!.length, c).toBeGreaterThan(10);
    }
  });

  it('gives every formula a one-line reason', () => {
    for (const [k, f] of Object.entries(COST_FORMULAS)) {
      expect(f.reason, k).not.toMatch(/\n/);
      expect(f.reason.length, k).toBeGreaterThan(10);
    }
  });

  it.each([
    ['fast::RMSNorm', 'RMSNorm'],
    ['mlx::core::fast::RoPE', 'RoPE'],
    ['Max Reduce', 'Reduce'],
    ['CumProd Reduce', 'Scan'],
    ['Rsqrt', 'Sqrt'],
    ['Log2', 'Log'],
    ['NanEqual', 'Equal'],
    ['BitwiseXor', 'BitwiseBinary'],
    ['Scatter Max', 'Scatter'],
    ['CompiledMultiplyAdd', 'Compiled'],
    ['Frobnicate', null],
  ])('resolves %s to %s', (name, key) => {
    expect(resolveOpName(name)).toBe(key);
  });

  it('prices a Compiled primitive by the element-wise ops in its name', () => {
    expect(splitCompiledName('CompiledMultiplyAddLogAddExpBroadcast')).toEqual(['Multiply', 'Add', 'LogAddExp', 'Broadcast']);
    const t = (shape: number[]): TensorInfo => ({ shape, dtype: 'float32', bytes: prod(shape) * 4 });
    expect(estimateCost('CompiledMultiplyAddRsqrt', [t([8, 8]), t([8, 8])], [t([8, 8])])).toEqual({ flops: 3 * 64, bytes: 3 * 256 });
    expect(estimateCost('Compiled', [t([8, 8])], [t([8, 8])]).flops).toBeNull();
    expect(estimateCost('CompiledMultiplyFrobnicate', [t([8, 8])], [t([8, 8])]).flops).toBeNull();
  });

  it('gives an unknown op null flops, never 0, and still counts its bytes', () => {
    const t: TensorInfo = { shape: [4], dtype: 'float32', bytes: 16 };
    expect(estimateCost('Frobnicate', [t], [t])).toEqual({ flops: null, bytes: 32 });
  });

  it('gives null when the shapes a formula needs are missing', () => {
    expect(estimateCost('Matmul', [], []).flops).toBeNull();
    expect(estimateCost('Convolution', [{ shape: [1, 4, 4], dtype: 'float32', bytes: 64 }], []).flops).toBeNull();
  });
});

describe('missingCostFormulas and derivedMetrics', () => {
  const span = (id: number, name: string, flops: number | null): Span => ({
    id, parentId: null, kind: 'primitive', name, start: 0, end: 1000, thread: 0, device: 'cpu',
    inputs: [], outputs: [], flops, bytes: null,
  });

  it('lists the ops with null flops, most frequent first', () => {
    const spans = [span(1, 'Frobnicate', null), span(2, 'Matmul', 10), span(3, 'Frobnicate', null), span(4, 'Matmul', null)];
    spans.push({ ...span(5, 'eval', null), kind: 'eval' });
    expect(missingCostFormulas({ spans })).toEqual([
      { op: 'Frobnicate', count: 2, why: 'no-formula' },
      { op: 'Matmul', count: 1, why: 'undetermined' },
    ]);
  });

  it('derives intensity, GFLOP/s and GB/s, and the roofline position', () => {
    const m = derivedMetrics({ flops: 2e9, bytes: 4e8 }, 1e6, { flops: 1e11, bandwidth: 1e10 });
    expect(m.intensity).toBe(5);
    expect(m.gflops).toBe(2000); // 2e9 FLOP in 1 ms
    expect(m.gbps).toBe(400);
    expect(m.bound).toBe('memory'); // 5 FLOP/B · 10 GB/s = 50 GFLOP/s < 100
    expect(m.roofFlops).toBe(5e10);
    expect(m.roofFraction).toBeCloseTo(40);
    const u = derivedMetrics({ flops: null, bytes: 0, start: 10, end: 10 });
    expect([u.intensity, u.gflops, u.gbps]).toEqual([null, null, null]);
  });
});

describe('the same formulas on shapes recorded by the native layer', () => {
  it('prices natively recorded primitives like the hand-computed values', async () => {
    const { profile } = await import('../../src/instrumentations/mlx/api');
    const a = rand([2, 3, 64, 128]), b = rand([128, 32]), b3 = rand([3, 128, 32]);
    const c = rand([64, 32]), a2 = rand([64, 128]), b2 = rand([128, 32]);
    const x2 = rand([2, 16, 16, 8]), w2 = rand([12, 3, 3, 8]), x1 = rand([2, 32, 8]), w1 = rand([12, 3, 4]);
    const [wq, sc, bi] = mx.quantize(rand([64, 256]), 64, 4);
    const xq = rand([8, 256]);
    mx.eval(a, b, b3, c, a2, b2, x2, w2, x1, w1, wq, sc, bi, xq);
    const trace = await profile(() => {
      mx.eval(mx.matmul(a, b));
      mx.eval(mx.matmul(a, b3));
      mx.eval(mx.addmm(c, a2, b2, 1.5, 0.5));
      mx.eval(mx.conv2d(x2, w2, 2, 1));
      mx.eval(mx.conv1d(x1, w1, 2, 1, 1, 2));
      mx.eval(mx.quantizedMatmul(xq, wq, sc, bi, true, 64, 4));
    }, { name: 'cost-native' });
    expect(trace.meta.timing, `native layer not in use: ${trace.meta.fallbackReason}`).toBe('native');
    const flopsOf = (op: string) => trace.spans.filter((s) => s.kind === 'primitive' && s.name === op).map((s) => s.flops);
    // MLX folds the batch of [2,3,64,128] x [128,32] into one [384,128] x [128,32] product: same FLOPs.
    expect(flopsOf('Matmul')).toEqual([2 * 6 * 64 * 128 * 32, 2 * 6 * 64 * 128 * 32]);
    expect(flopsOf('AddMM')).toEqual([2 * 64 * 128 * 32 + 2 * 64 * 32]);
    expect(flopsOf('Convolution')).toEqual([2 * 2 * 8 * 8 * 12 * 9 * 8, 2 * 2 * 16 * 12 * 3 * 4]);
    expect(flopsOf('QuantizedMatmul')).toEqual([2 * 8 * 256 * 64]);
    const q = trace.spans.find((s) => s.name === 'QuantizedMatmul')!;
    expect(q.bytes).toBe(8 * 256 * 4 + (64 * 256 * 4) / 8 + 2 * 64 * 4 * 4 + 8 * 64 * 4);
  });
});
