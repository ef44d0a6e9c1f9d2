/**
 * The op benchmark suite: MLX operations in families (matmul, conv, attention, norms, softmax,
 * reductions, element-wise, gather/scatter, sort, copies), each at several sizes per tier.
 *
 * `inputs` and `op` of every family must be self-contained (no reference to anything outside their
 * own parameters except JS globals such as Math): the runner also runs them, as source text, in a
 * child process to find out which ops this MLX build supports, because some unsupported
 * dtype/op pairs abort the whole process from MLX's worker thread instead of throwing
 * (e.g. "[Matmul::eval_cpu] Currently only supports float32").
 */

export type SizeTier = 'small' | 'medium' | 'large';
export const SIZE_TIERS: readonly SizeTier[] = ['small', 'medium', 'large'];

export type BenchDtype = 'float32' | 'float16' | 'bfloat16';
export const BENCH_DTYPES: readonly BenchDtype[] = ['float32', 'float16', 'bfloat16'];

/** Shape parameters of one case (also what its label is made of). */
export type Params = Record<string, number>;

export interface OpFamily {
  /** 'matmul', 'rms_norm.fast', ... : the first word of every case name, and the row of the average table. */
  name: string;
  /** What one call computes. */
  doc: string;
  sizes: Record<SizeTier, Params[]>;
  label(p: Params): string;
  /** The case's arguments, built on the default device (float data in `dt`). Self-contained. */
  inputs: (mx: any, p: Params, dt: any) => any[];
  /** The op as a function of exactly those arguments (so mx.compile can take it as it is). Self-contained. */
  op: (mx: any, nn: any, p: Params) => (...xs: any[]) => any;
}

const x2 = (p: Params, a: string, b: string) => `${p[a]}x${p[b]}`;

// Random normals are made in float32 and cast: the cast is part of the setup, not of the case.
export const OP_FAMILIES: readonly OpFamily[] = [
  {
    name: 'matmul',
    doc: 'a[M,K] @ b[K,N]',
    sizes: {
      small: [{ M: 64, K: 64, N: 64 }, { M: 128, K: 256, N: 64 }],
      medium: [{ M: 512, K: 512, N: 512 }, { M: 1024, K: 1024, N: 1024 }, { M: 1, K: 4096, N: 4096 }],
      large: [{ M: 2048, K: 2048, N: 2048 }, { M: 4096, K: 1024, N: 4096 }],
    },
    label: (p) => `${p.M}x${p.K}x${p.N}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.M, p.K]).astype(dt), mx.random.normal([p.K, p.N]).astype(dt)],
    op: (mx) => (a, b) => mx.matmul(a, b),
  },
  {
    name: 'conv1d',
    doc: 'x[N,L,C] conv w[O,K,C/G], stride S, groups G, same padding',
    sizes: {
      small: [{ N: 4, L: 64, C: 16, O: 16, K: 3, S: 1, G: 1 }, { N: 4, L: 64, C: 16, O: 16, K: 3, S: 2, G: 4 }],
      medium: [
        { N: 16, L: 1000, C: 80, O: 128, K: 11, S: 1, G: 1 },
        { N: 16, L: 1000, C: 128, O: 128, K: 3, S: 2, G: 4 },
        { N: 16, L: 1000, C: 128, O: 128, K: 3, S: 1, G: 128 },
      ],
      large: [{ N: 64, L: 4000, C: 128, O: 256, K: 11, S: 1, G: 1 }, { N: 64, L: 4000, C: 256, O: 256, K: 3, S: 1, G: 256 }],
    },
    label: (p) => `${p.N}x${p.L}x${p.C} k${p.K} o${p.O} s${p.S} g${p.G}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.N, p.L, p.C]).astype(dt), mx.random.normal([p.O, p.K, p.C / p.G]).astype(dt)],
    op: (mx, _nn, p) => (x, w) => mx.conv1d(x, w, p.S, Math.floor(p.K / 2), 1, p.G),
  },
  {
    // This MLX handles groups only in 1D convolutions, so conv2d has none.
    name: 'conv2d',
    doc: 'x[N,H,W,C] conv w[O,K,K,C], stride S, same padding',
    sizes: {
      small: [{ N: 1, H: 16, W: 16, C: 8, O: 8, K: 3, S: 1 }, { N: 1, H: 16, W: 16, C: 8, O: 8, K: 3, S: 2 }],
      medium: [
        { N: 8, H: 64, W: 64, C: 32, O: 64, K: 3, S: 1 },
        { N: 8, H: 64, W: 64, C: 32, O: 64, K: 3, S: 2 },
        { N: 1, H: 256, W: 256, C: 3, O: 16, K: 7, S: 2 },
      ],
      large: [{ N: 16, H: 128, W: 128, C: 64, O: 128, K: 3, S: 1 }, { N: 32, H: 224, W: 224, C: 3, O: 64, K: 7, S: 2 }],
    },
    label: (p) => `${p.N}x${p.H}x${p.W}x${p.C} k${p.K} o${p.O} s${p.S}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.N, p.H, p.W, p.C]).astype(dt), mx.random.normal([p.O, p.K, p.K, p.C]).astype(dt)],
    op: (mx, _nn, p) => (x, w) => mx.conv2d(x, w, p.S, Math.floor(p.K / 2)),
  },
  {
    name: 'sdpa',
    doc: 'mx.fast.scaledDotProductAttention(q[B,H,Lq,D], k[B,H,Lk,D], v[B,H,Lk,D]), no mask',
    sizes: {
      small: [{ B: 1, H: 4, Lq: 32, Lk: 32, D: 32 }, { B: 1, H: 4, Lq: 1, Lk: 64, D: 32 }],
      medium: [{ B: 1, H: 8, Lq: 256, Lk: 256, D: 64 }, { B: 1, H: 8, Lq: 1024, Lk: 1024, D: 64 }, { B: 1, H: 8, Lq: 1, Lk: 1024, D: 64 }],
      large: [{ B: 2, H: 16, Lq: 2048, Lk: 2048, D: 64 }, { B: 1, H: 32, Lq: 1, Lk: 4096, D: 128 }],
    },
    label: (p) => `b${p.B} h${p.H} q${p.Lq} k${p.Lk} d${p.D}`,
    inputs: (mx, p, dt) => [
      mx.random.normal([p.B, p.H, p.Lq, p.D]).astype(dt),
      mx.random.normal([p.B, p.H, p.Lk, p.D]).astype(dt),
      mx.random.normal([p.B, p.H, p.Lk, p.D]).astype(dt),
    ],
    op: (mx, _nn, p) => (q, k, v) => mx.fast.scaledDotProductAttention(q, k, v, 1 / Math.sqrt(p.D)),
  },
  ...normFamilies(),
  {
    name: 'softmax',
    doc: 'mx.softmax(x[R,C], -1)',
    sizes: rowsCols(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (x) => mx.softmax(x, -1),
  },
  ...(['sum', 'mean', 'max'] as const).map(
    (name): OpFamily => ({
      name,
      doc: `mx.${name}(x[A,B,C], axis X)`,
      sizes: {
        small: axes({ A: 16, B: 64, C: 32 }),
        medium: axes({ A: 64, B: 1024, C: 128 }),
        large: axes({ A: 128, B: 2048, C: 512 }),
      },
      label: (p) => `${p.A}x${p.B}x${p.C} axis=${p.X}`,
      inputs: (mx, p, dt) => [mx.random.normal([p.A, p.B, p.C]).astype(dt)],
      op: reduceOp(name),
    }),
  ),
  {
    name: 'add',
    doc: 'a[R,C] + b[R,C]',
    sizes: elementwiseSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt), mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (a, b) => mx.add(a, b),
  },
  {
    name: 'mul',
    doc: 'a[R,C] * b[R,C]',
    sizes: elementwiseSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt), mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (a, b) => mx.multiply(a, b),
  },
  {
    name: 'exp',
    doc: 'mx.exp(x[R,C])',
    sizes: elementwiseSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (x) => mx.exp(x),
  },
  {
    name: 'gelu',
    doc: 'nn.gelu(x[R,C]) (erf form)',
    sizes: elementwiseSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (_mx, nn) => (x) => nn.gelu(x),
  },
  {
    name: 'take',
    doc: 'mx.take(table[R,C], idx[K], 0): an embedding lookup',
    sizes: {
      small: [{ R: 1024, C: 32, K: 64 }],
      medium: [{ R: 32000, C: 512, K: 4096 }, { R: 65536, C: 64, K: 65536 }],
      large: [{ R: 128000, C: 1024, K: 16384 }],
    },
    label: (p) => `${p.R}x${p.C} idx=${p.K}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt), mx.random.randint(0, p.R, [p.K], mx.int32)],
    op: (mx) => (t, i) => mx.take(t, i, 0),
  },
  {
    name: 'take_along_axis',
    doc: 'mx.takeAlongAxis(x[R,C], idx[R,K], 1)',
    sizes: {
      small: [{ R: 64, C: 256, K: 8 }],
      medium: [{ R: 4096, C: 1024, K: 64 }, { R: 1024, C: 32000, K: 1 }],
      large: [{ R: 16384, C: 4096, K: 256 }],
    },
    label: (p) => `${p.R}x${p.C} idx=${p.R}x${p.K}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt), mx.random.randint(0, p.C, [p.R, p.K], mx.int32)],
    op: (mx) => (x, i) => mx.takeAlongAxis(x, i, 1),
  },
  {
    name: 'scatter',
    doc: 'x[idx] = v (indexPut_ with K row indices into x[R,C])',
    sizes: {
      small: [{ R: 1024, C: 32, K: 64 }],
      medium: [{ R: 65536, C: 256, K: 4096 }],
      large: [{ R: 262144, C: 1024, K: 16384 }],
    },
    label: (p) => `${p.R}x${p.C} idx=${p.K}`,
    inputs: (mx, p, dt) => [
      mx.random.normal([p.R, p.C]).astype(dt),
      mx.random.randint(0, p.R, [p.K], mx.int32),
      mx.random.normal([p.K, p.C]).astype(dt),
      mx.array(0, mx.int32),
    ],
    // The indices are copied (idx + 0) on each call: with node-mlx 0.0.7 a second Scatter that
    // reuses an already-scattered index array crashes the process (segfault).
    op: (mx) => (x, i, v, zero) => {
      x.indexPut_(mx.add(i, zero), v);
      return x;
    },
  },
  {
    name: 'slice_update',
    doc: 'x[0:K] = v (indexPut_ with a slice into x[R,C]; K=1 is a KV-cache write)',
    sizes: {
      small: [{ R: 256, C: 64, K: 16 }],
      medium: [{ R: 4096, C: 1024, K: 1 }, { R: 4096, C: 1024, K: 512 }],
      large: [{ R: 32768, C: 4096, K: 1024 }],
    },
    label: (p) => `${p.R}x${p.C} rows=${p.K}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt), mx.random.normal([p.K, p.C]).astype(dt)],
    op: (mx, _nn, p) => (x, v) => {
      x.indexPut_([mx.Slice(0, p.K)], v);
      return x;
    },
  },
  {
    name: 'sort',
    doc: 'mx.sort(x[R,C], -1)',
    sizes: sortSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (x) => mx.sort(x, -1),
  },
  {
    name: 'argsort',
    doc: 'mx.argsort(x[R,C], -1)',
    sizes: sortSizes(),
    label: (p) => x2(p, 'R', 'C'),
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx) => (x) => mx.argsort(x, -1),
  },
  {
    name: 'topk',
    doc: 'mx.topk(x[R,C], K, -1)',
    sizes: {
      small: [{ R: 64, C: 256, K: 8 }],
      medium: [{ R: 1024, C: 4096, K: 32 }, { R: 1, C: 32000, K: 40 }],
      large: [{ R: 4096, C: 16384, K: 64 }],
    },
    label: (p) => `${p.R}x${p.C} k=${p.K}`,
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.C]).astype(dt)],
    op: (mx, _nn, p) => (x) => mx.topk(x, p.K, -1),
  },
  {
    name: 'concatenate',
    doc: 'mx.concatenate([a[R,A], b[R,B]], 1)',
    sizes: {
      small: [{ R: 256, A: 64, B: 32 }],
      medium: [{ R: 4096, A: 1024, B: 1024 }, { R: 65536, A: 64, B: 32 }],
      large: [{ R: 16384, A: 4096, B: 4096 }],
    },
    label: (p) => `${p.R}x${p.A} + ${p.R}x${p.B} axis=1`,
    inputs: (mx, p, dt) => [mx.random.normal([p.R, p.A]).astype(dt), mx.random.normal([p.R, p.B]).astype(dt)],
    op: (mx) => (a, b) => mx.concatenate([a, b], 1),
  },
  {
    // A transpose alone is a view; the reshape of the non-contiguous view makes the copy.
    name: 'transpose',
    doc: 'x[A,B,C].transpose(0,2,1) copied to contiguous memory',
    sizes: {
      small: [{ A: 8, B: 64, C: 64 }],
      medium: [{ A: 64, B: 512, C: 512 }, { A: 1, B: 4096, C: 4096 }],
      large: [{ A: 64, B: 2048, C: 2048 }],
    },
    label: (p) => `${p.A}x${p.B}x${p.C} (0,2,1)`,
    inputs: (mx, p, dt) => [mx.random.normal([p.A, p.B, p.C]).astype(dt)],
    op: (mx) => (x) => mx.transpose(x, [0, 2, 1]).reshape([-1]),
  },
];

function normFamilies(): OpFamily[] {
  const sizes = (): Record<SizeTier, Params[]> => ({
    small: [{ R: 64, D: 256 }],
    medium: [{ R: 4096, D: 1024 }, { R: 512, D: 4096 }, { R: 1, D: 4096 }],
    large: [{ R: 16384, D: 4096 }],
  });
  const label = (p: Params) => x2(p, 'R', 'D');
  return [
    {
      name: 'rms_norm.fast',
      doc: 'mx.fast.rmsNorm(x[R,D], w[D], 1e-5)',
      sizes: sizes(),
      label,
      inputs: (mx, p, dt) => [mx.random.normal([p.R, p.D]).astype(dt), mx.ones([p.D]).astype(dt)],
      op: (mx) => (x, w) => mx.fast.rmsNorm(x, w, 1e-5),
    },
    {
      name: 'rms_norm.composed',
      doc: 'x * rsqrt(mean(x^2, -1) + 1e-5) * w, spelled out',
      sizes: sizes(),
      label,
      inputs: (mx, p, dt) => [mx.random.normal([p.R, p.D]).astype(dt), mx.ones([p.D]).astype(dt)],
      op: (mx) => (x, w) => mx.multiply(mx.multiply(x, mx.rsqrt(mx.add(mx.mean(mx.square(x), -1, true), 1e-5))), w),
    },
    {
      name: 'layer_norm.fast',
      doc: 'mx.fast.layerNorm(x[R,D], w[D], b[D], 1e-5)',
      sizes: sizes(),
      label,
      inputs: (mx, p, dt) => [mx.random.normal([p.R, p.D]).astype(dt), mx.ones([p.D]).astype(dt), mx.zeros([p.D]).astype(dt)],
      op: (mx) => (x, w, b) => mx.fast.layerNorm(x, w, b, 1e-5),
    },
    {
      name: 'layer_norm.composed',
      doc: '(x - mean) * rsqrt(var + 1e-5) * w + b, spelled out',
      sizes: sizes(),
      label,
      inputs: (mx, p, dt) => [mx.random.normal([p.R, p.D]).astype(dt), mx.ones([p.D]).astype(dt), mx.zeros([p.D]).astype(dt)],
      op: (mx) => (x, w, b) => {
        const xc = mx.subtract(x, mx.mean(x, -1, true));
        const inv = mx.rsqrt(mx.add(mx.mean(mx.square(xc), -1, true), 1e-5));
        return mx.add(mx.multiply(mx.multiply(xc, inv), w), b);
      },
    },
  ];
}

function reduceOp(name: 'sum' | 'mean' | 'max'): OpFamily['op'] {
  // One function per reduction, each self-contained (see the file comment).
  if (name === 'sum') return (mx, _nn, p) => (x) => mx.sum(x, p.X);
  if (name === 'mean') return (mx, _nn, p) => (x) => mx.mean(x, p.X);
  return (mx, _nn, p) => (x) => mx.max(x, p.X);
}

function axes(shape: Params): Params[] {
  return [0, 1, 2].map((X) => ({ ...shape, X }));
}

function rowsCols(): Record<SizeTier, Params[]> {
  return {
    small: [{ R: 64, C: 256 }],
    medium: [{ R: 4096, C: 1024 }, { R: 256, C: 4096 }, { R: 64, C: 32768 }],
    large: [{ R: 8192, C: 4096 }, { R: 64, C: 262144 }],
  };
}

function elementwiseSizes(): Record<SizeTier, Params[]> {
  return {
    small: [{ R: 256, C: 256 }],
    medium: [{ R: 1024, C: 1024 }, { R: 4096, C: 4096 }],
    large: [{ R: 8192, C: 8192 }],
  };
}

function sortSizes(): Record<SizeTier, Params[]> {
  return {
    small: [{ R: 64, C: 256 }],
    medium: [{ R: 1024, C: 4096 }, { R: 16, C: 65536 }],
    large: [{ R: 4096, C: 16384 }],
  };
}

/** One case of the suite, before it runs. */
export interface OpCase {
  family: OpFamily;
  params: Params;
  tier: SizeTier;
  label: string;
  dtype: BenchDtype;
  device: 'cpu' | 'gpu';
  compiled: boolean;
  /** 'matmul 1024x1024x1024 float32 cpu' (+ ' compiled'): the user span's name and what --filter matches. */
  name: string;
}

export function caseName(family: string, label: string, dtype: string, device: string, compiled: boolean): string {
  return `${family} ${label} ${dtype} ${device}${compiled ? ' compiled' : ''}`;
}

export interface ExpandOptions {
  sizes: readonly SizeTier[];
  dtypes: readonly BenchDtype[];
  devices: readonly ('cpu' | 'gpu')[];
  compile: boolean;
  filter?: RegExp;
}

/**
 * Every case the options ask for, grouped so that a case's compiled twin follows it. The filter
 * matches the case name; a case whose eager name matches also brings its compiled twin.
 */
export function expandCases(o: ExpandOptions): OpCase[] {
  const out: OpCase[] = [];
  for (const device of o.devices) {
    for (const dtype of o.dtypes) {
      for (const family of OP_FAMILIES) {
        for (const tier of SIZE_TIERS) {
          if (!o.sizes.includes(tier)) continue;
          for (const params of family.sizes[tier]) {
            const label = family.label(params);
            for (const compiled of o.compile ? [false, true] : [false]) {
              const name = caseName(family.name, label, dtype, device, compiled);
              if (o.filter && !o.filter.test(name) && !o.filter.test(caseName(family.name, label, dtype, device, false))) continue;
              out.push({ family, params, tier, label, dtype, device, compiled, name });
            }
          }
        }
      }
    }
  }
  return out;
}
