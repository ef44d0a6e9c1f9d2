/**
 * The formula table: one CostFormula per MLX primitive class, and the names any layer may report
 * for them (class, namespaced or print() names, "Compiled..." fused kernels). The conventions every
 * formula follows are in index.ts.
 */
import type { TensorInfo } from '../model/trace';
import { add, dimFromEnd, first, numel, sumBytes, sumNumel } from './tensors';

export interface Cost {
  flops: number | null;
  bytes: number | null;
}

/** Facts the shapes cannot tell, when the caller knows them. */
export interface CostHints {
  /**
   * Reshape and Slice are views unless MLX had to copy (Reshape of an array that is not
   * row-contiguous, Slice with a negative stride). Pass true when the output did not share the
   * input's buffer: the op is then priced as a copy (bytes in + out).
   */
  copied?: boolean;
}

export interface CostFormula {
  /** One line: why this formula. */
  reason: string;
  flops(inputs: TensorInfo[], outputs: TensorInfo[], op: string): number | null;
  bytes(inputs: TensorInfo[], outputs: TensorInfo[], hints: CostHints | undefined): number | null;
}

// ---------------------------------------------------------------------------------------------
// Formula builders: one per family, so the table reads as a list of reasons.

export const readWrite = (i: readonly TensorInfo[], o: readonly TensorInfo[]) => add(sumBytes(i), sumBytes(o));
const noBytes = () => 0;
const outBytes = (_i: readonly TensorInfo[], o: readonly TensorInfo[]) => sumBytes(o);

function elementwise(reason: string): CostFormula {
  return { reason, flops: (_i, o) => (o.length ? sumNumel(o) : null), bytes: readWrite };
}

/** flops = factor × elements of the first input, bytes read + written. */
function perInputElement(factor: number, reason: string): CostFormula {
  return {
    reason,
    flops: (i) => {
      const x = first(i);
      return x ? factor * numel(x.shape) : null;
    },
    bytes: readWrite,
  };
}

function movement(reason: string): CostFormula {
  return { reason, flops: () => 0, bytes: readWrite };
}

/** A view: the output shares the input's buffer. `mayCopy` views are priced as copies when hinted. */
function view(reason: string, mayCopy = false): CostFormula {
  return {
    reason,
    flops: () => 0,
    bytes: mayCopy ? (i, o, h) => (h?.copied ? readWrite(i, o) : 0) : noBytes,
  };
}

/** 2·(output elements)·K, K read from the last dim of input `k` (the x or a operand). */
function matmulLike(reason: string, extraPerOut = 0): CostFormula {
  return {
    reason,
    flops: (i, o) => {
      const K = dimFromEnd(i[0], 1);
      const out = first(o);
      if (K == null || !out) return null;
      const n = numel(out.shape);
      return 2 * n * K + extraPerOut * n;
    },
    bytes: readWrite,
  };
}

/** Batch × per-matrix cost for square-ish linear algebra on the last two dims of input 0. */
function linalg(reason: string, perMatrix: (m: number, n: number) => number): CostFormula {
  return {
    reason,
    flops: (i) => {
      const a = first(i);
      if (!a || a.shape.length < 2) return null;
      const m = a.shape[a.shape.length - 2];
      const n = a.shape[a.shape.length - 1];
      return Math.round((numel(a.shape) / (m * n || 1)) * perMatrix(m, n));
    },
    bytes: readWrite,
  };
}

// ---------------------------------------------------------------------------------------------
// Formulas that need more than a builder

const convolution: CostFormula = {
  reason:
    'MLX layout: input (N, spatial..., Cin), weight (Cout, kernel..., Cin/groups), output (N, spatial_out..., Cout); ' +
    'each output element is a dot product of prod(kernel)·(Cin/groups) terms: 2·N·prod(out spatial)·Cout·prod(kernel)·Cin/groups ' +
    '(stride, padding and dilation only change the output spatial size, which is read from the output)',
  flops: (i, o) => {
    const w = i[1];
    const out = first(o);
    if (!w || !out || w.shape.length < 2 || w.shape[0] === 0) return null;
    // numel(w)/Cout = prod(kernel)·(Cin/groups): the groups are already in the weight's last dim.
    return 2 * numel(out.shape) * (numel(w.shape) / w.shape[0]);
  },
  bytes: readWrite,
};

const sdpa: CostFormula = {
  reason:
    'q (B,H,Lq,D), k (B,Hkv,Lk,D), v (B,Hkv,Lk,Dv): Q·Kᵀ 2·B·H·Lq·Lk·D + P·V 2·B·H·Lq·Lk·Dv (= 4·B·H·Lq·Lk·D when Dv = D) ' +
    '+ softmax 5·B·H·Lq·Lk + scaling q B·H·Lq·D (+ B·H·Lq·Lk for a mask)',
  flops: (i) => {
    const [q, k, v, mask] = i;
    if (!q || !k || !v || q.shape.length < 2 || k.shape.length < 2) return null;
    const D = dimFromEnd(q, 1)!;
    const Lk = dimFromEnd(k, 2)!;
    const Dv = dimFromEnd(v, 1) ?? D;
    const rows = numel(q.shape) / (D || 1); // B·H·Lq
    const scores = rows * Lk;
    return 2 * scores * D + 2 * scores * Dv + 5 * scores + rows * D + (mask ? scores : 0);
  },
  bytes: readWrite,
};

const fft: CostFormula = {
  reason:
    'Cooley-Tukey 5·L·log2(L) per transformed row of length L; the axis is not visible, so the last axis is assumed ' +
    '(mx.fft default) with L the larger of input/output last dims; real FFTs are counted like complex ones (upper bound)',
  flops: (i, o) => {
    const x = first(i);
    const y = first(o);
    if (!x || !y || y.shape.length === 0) return null;
    const L = Math.max(dimFromEnd(x, 1) ?? 1, dimFromEnd(y, 1) ?? 1);
    const rows = numel(y.shape) / (dimFromEnd(y, 1) || 1);
    return L <= 1 ? 0 : Math.round(5 * rows * L * Math.log2(L));
  },
  bytes: readWrite,
};

const sortLike: CostFormula = {
  reason:
    'comparison sort: n·ceil(log2 L) comparisons, L the sorted axis length; the axis is not visible, the last one is assumed (mx.sort default)',
  flops: (i) => {
    const x = first(i);
    if (!x) return null;
    const L = dimFromEnd(x, 1) ?? 1;
    return L <= 1 ? 0 : numel(x.shape) * Math.ceil(Math.log2(L));
  },
  bytes: readWrite,
};

const gather: CostFormula = {
  reason:
    '0 flops; reads only the gathered slices (as many elements as the output), the indices, and writes the output: idx + 2·out bytes',
  flops: () => 0,
  bytes: (i, o) => {
    const idx = sumBytes(i.slice(1));
    const out = sumBytes(o);
    return idx == null || out == null ? null : idx + 2 * out;
  },
};

const SCATTER_REDUCE = /^Scatter (Sum|Prod|Min|Max)$/;
const scatter: CostFormula = {
  reason:
    'copies the destination to the output, then writes the updates (bytes = in + out); 0 flops for plain assignment, ' +
    '1 per update element for Scatter Sum/Prod/Min/Max (a bare "Scatter" name is taken as assignment)',
  flops: (i, _o, op) => {
    if (!SCATTER_REDUCE.test(op)) return 0;
    const upd = i[i.length - 1];
    return upd ? numel(upd.shape) : null;
  },
  bytes: readWrite,
};

/** Compiled: MLX prints "Compiled" followed by the names of the fused primitives (e.g. "CompiledMultiplyAdd"). */
const compiled: CostFormula = {
  reason:
    'a fused element-wise graph: 1 op per output element for each fused element-wise primitive named after "Compiled"; ' +
    'no intermediates touch memory, so bytes = inputs + outputs; a bare "Compiled" (fused ops unknown) has null flops',
  flops: (_i, o, op) => {
    const ops = splitCompiledName(op);
    if (!ops || ops.length === 0 || o.length === 0) return null;
    let count = 0;
    for (const p of ops) {
      const f = COST_FORMULAS[p];
      if (ELEMENTWISE.has(p)) count += 1;
      else if (f && f.flops([], [], p) === 0) continue; // Broadcast, Reshape, AsType...: no arithmetic
      else return null;
    }
    let n = 0;
    for (const t of o) n = Math.max(n, numel(t.shape));
    return count * n;
  },
  bytes: readWrite,
};

// ---------------------------------------------------------------------------------------------
// The table: one entry per primitive class of the MLX in node_modules (from the addon's vtable
// symbols), plus a few names newer MLX versions use for the same work.

const UNARY = [
  'Abs', 'ArcCos', 'ArcCosh', 'ArcSin', 'ArcSinh', 'ArcTan', 'ArcTanh', 'Ceil', 'Conjugate', 'Cos', 'Cosh',
  'Erf', 'ErfInv', 'Exp', 'Expm1', 'Floor', 'Log', 'Log1p', 'LogicalNot', 'Negative', 'Round', 'Sigmoid',
  'Sign', 'Sin', 'Sinh', 'Sqrt', 'Square', 'Tan', 'Tanh',
] as const;
const BINARY = [
  'Add', 'ArcTan2', 'BitwiseBinary', 'Divide', 'DivMod', 'Equal', 'Greater', 'GreaterEqual', 'Less',
  'LessEqual', 'LogAddExp', 'LogicalAnd', 'LogicalOr', 'Maximum', 'Minimum', 'Multiply', 'NotEqual', 'Power',
  'Remainder', 'Subtract',
] as const;
const TERNARY = ['Select'] as const;
const ELEMENTWISE = new Set<string>([...UNARY, ...BINARY, ...TERNARY]);

const table: Record<string, CostFormula> = {};
for (const op of UNARY) {
  table[op] = elementwise('element-wise unary: 1 op per output element (transcendentals count 1 too)');
}
for (const op of BINARY) {
  table[op] = elementwise(
    op === 'DivMod'
      ? 'element-wise binary with two outputs (quotient, remainder): 1 op per output element'
      : 'element-wise binary: 1 op per output element (comparisons, logical and bitwise ops count 1)',
  );
}
table.Select = elementwise('element-wise ternary (where): 1 op per output element');

Object.assign(table, {
  // Matrix products
  Matmul: matmulLike('inputs (..., M, K) and (..., K, N): one multiply and one add per term, 2·M·K·N per batch element = 2·numel(out)·K'),
  AddMM: matmulLike(
    'alpha·(A·B) + beta·C with inputs {A, B, C}: 2·M·K·N for the product + M·N for the add + M·N for beta·C',
    2,
  ),
  BlockMaskedMM: matmulLike('dense 2·numel(out)·K: the masks are not visible, so this is the upper bound with every block kept'),
  BlockSparseMM: matmulLike('gather matmul {a, b, lhs_idx, rhs_idx}: 2·numel(out)·K, each output row is one gathered product'),
  GatherMM: matmulLike('newer MLX name of BlockSparseMM: 2·numel(out)·K'),
  QuantizedMatmul: matmulLike(
    'inputs {x, w packed uint32, scales, biases}: K = x.shape[-1], 2·M·K·N; bytes are the real packed sizes ' +
      '(bits·K·N/8 for w, plus scales and biases), dequantization not counted as flops',
  ),
  BlockSparseQMM: matmulLike('gather quantized matmul {x, w, scales, biases, lhs_idx, rhs_idx}: 2·numel(out)·K, K = x.shape[-1]'),
  GatherQMM: matmulLike('newer MLX name of BlockSparseQMM: 2·numel(out)·K'),
  Convolution: convolution,

  // Fused fast:: kernels (names may come as 'fast::RMSNorm' or 'RMSNorm')
  ScaledDotProductAttention: sdpa,
  RMSNorm: perInputElement(4, 'x² (1), sum for the mean (1), × rsqrt (1), × weight (1) per element; the per-row rsqrt is negligible'),
  LayerNorm: perInputElement(
    7,
    'per element: sum for the mean (1), subtract mean (1), square (1), sum for the variance (1), × inv std (1), × weight (1), + bias (1)',
  ),
  RMSNormVJP: perInputElement(9, 'per element: recompute x·r (2), g·w (1), ·x and sum (2), the weight gradient g·x·r summed (2), combine (2)'),
  LayerNormVJP: perInputElement(
    13,
    'per element: recompute x̂ (2), weight and bias grads (3), g·w (1), two row sums (3), combine into the input grad (4)',
  ),
  RoPE: perInputElement(
    6,
    'per rotated pair: 4 mul + 2 add for the rotation, and ~6 for the angle, exp2, cos and sin that the kernel recomputes per pair: ' +
      '12 per pair = 6 per element (the unrotated tail, when dims < last dim, is counted the same)',
  ),

  // Reductions, scans, softmax
  Softmax: perInputElement(5, 'per element: max (1), subtract (1), exp (1), sum (1), divide (1)'),
  LogSumExp: perInputElement(4, 'per element: max (1), subtract (1), exp (1), sum (1); the per-row log is negligible'),
  Reduce: perInputElement(1, 'one combine (add, mul, max, and...) per input element'),
  ArgReduce: perInputElement(1, 'one comparison per input element'),
  Scan: perInputElement(1, 'one combine per input element (sequential prefix scan)'),
  Sort: sortLike,
  ArgSort: sortLike,
  Partition: perInputElement(1, 'introselect: ~1 comparison per input element on average'),
  ArgPartition: perInputElement(1, 'introselect: ~1 comparison per input element on average'),

  // Data movement: 0 flops, bytes read + written
  Gather: gather,
  Scatter: scatter,
  Concatenate: movement('0 flops; reads every input, writes the output'),
  Pad: movement('0 flops; fills the output with the pad value, then copies the input into it'),
  SliceUpdate: movement(
    '0 flops; copies the input to the output then writes the update (when MLX donates the input buffer the first copy is skipped: an upper bound)',
  ),
  AsType: movement('0 flops: a type conversion is data movement; reads the input, writes the converted output'),
  Full: { reason: '0 flops; writes the output (the fill value is usually a broadcast scalar, its logical size would overstate reads)', flops: () => 0, bytes: outBytes },
  Arange: { reason: 'start + i·step: 1 op per output element, writes the output', flops: (_i, o) => (o.length ? sumNumel(o) : null), bytes: outBytes },
  RandomBits: movement('0 flops: threefry hashing is integer work; reads the key, writes the bits'),
  Load: { reason: '0 flops; bytes are the output written from the file (disk reads are not memory traffic)', flops: () => 0, bytes: outBytes },
  NumberOfElements: { reason: '0 flops worth counting (a product of dims); writes one scalar', flops: () => 0, bytes: outBytes },

  // Views: MLX gives the output the input's buffer (copy_shared_buffer), nothing is moved
  Reshape: view('a view when the input is row-contiguous (the usual case); MLX copies otherwise: pass hints.copied to price that copy', true),
  Slice: view('a strided view of the input buffer; MLX copies only for negative strides: pass hints.copied to price that copy', true),
  Transpose: view('a view: new strides over the same buffer'),
  Broadcast: view('a view: zero strides over the same buffer'),
  AsStrided: view('a view: the given strides over the same buffer'),
  Split: view('views: every output is a window of the input buffer'),
  StopGradient: view('shares the input buffer; only affects autodiff'),
  Copy: view('in this MLX, Copy::eval shares the input buffer (copy_shared_buffer); real copies show up as other primitives'),
  Depends: view('shares its inputs\' buffers; only orders evaluation'),
  CustomVJP: view('shares the buffers of the forward outputs; the forward work is in its own primitives'),
  Synchronizer: view('a marker eval waits on; does no work'),

  // Linear algebra (last two dims of the first input, batch dims multiply)
  QRF: linalg('Householder QR of an M×N matrix: 2·M·N² - 2N³/3 (M ≥ N, swapped otherwise)', (m, n) =>
    m >= n ? 2 * m * n * n - (2 / 3) * n ** 3 : 2 * n * m * m - (2 / 3) * m ** 3,
  ),
  SVD: linalg('Golub-Van Loan R-SVD with U, S and Vᵀ: 4M²N + 8MN² + 9N³ (M ≥ N); an estimate, SVD is iterative', (m, n) => {
    const [a, b] = m >= n ? [m, n] : [n, m];
    return 4 * a * a * b + 8 * a * b * b + 9 * b ** 3;
  }),
  Inverse: linalg('LU factorisation (2N³/3) + inversion from the factors (4N³/3) = 2N³', (_m, n) => 2 * n ** 3),
  Cholesky: linalg('Cholesky factorisation: N³/3', (_m, n) => n ** 3 / 3),
  FFT: fft,

  Compiled: compiled,
} satisfies Record<string, CostFormula>);

/** One formula per primitive class name (without namespace: 'RMSNorm' for fast::RMSNorm). */
export const COST_FORMULAS: Readonly<Record<string, CostFormula>> = Object.freeze(table);

/**
 * Class names the addon defines that are not primitives an eval executes, so they need no formula:
 * the abstract bases, the allocator and the safetensors/gguf file streams.
 */
export const NOT_PRIMITIVES: ReadonlySet<string> = new Set([
  'Primitive', 'fast::Custom', 'Custom', 'io::FileReader', 'io::FileWriter', 'allocator::CommonAllocator',
]);

// ---------------------------------------------------------------------------------------------
// Name resolution: the native layer may report the class name, a namespaced name or MLX's
// print() text ('Sum Reduce', 'CumMax Reduce', 'Scatter Sum', 'Rsqrt', 'CompiledAddExp'...).

const PRINT_ALIASES: Record<string, string> = {
  NanEqual: 'Equal', Log2: 'Log', Log10: 'Log', Rsqrt: 'Sqrt',
  BitwiseAnd: 'BitwiseBinary', BitwiseOr: 'BitwiseBinary', BitwiseXor: 'BitwiseBinary',
  LeftShift: 'BitwiseBinary', RightShift: 'BitwiseBinary', BitwiseInvert: 'Negative',
  ArgMin: 'ArgReduce', ArgMax: 'ArgReduce',
  // newer MLX prints the reduction kind alone
  Sum: 'Reduce', Prod: 'Reduce', And: 'Reduce', Or: 'Reduce', Min: 'Reduce', Max: 'Reduce',
  CumSum: 'Scan', CumProd: 'Scan', CumMin: 'Scan', CumMax: 'Scan', CumLogaddexp: 'Scan',
  'Scatter Sum': 'Scatter', 'Scatter Prod': 'Scatter', 'Scatter Min': 'Scatter', 'Scatter Max': 'Scatter',
};

const resolved = new Map<string, string | null>();

/** The COST_FORMULAS key for an op name as any layer may report it, or null when there is none. */
export function resolveOpName(op: string): string | null {
  const hit = resolved.get(op);
  if (hit !== undefined) return hit;
  const key = resolveUncached(op);
  if (resolved.size < 4096) resolved.set(op, key); // Compiled names vary; keep the cache bounded
  return key;
}

function resolveUncached(op: string): string | null {
  let name = op.trim();
  if (name.startsWith('mlx::core::')) name = name.slice('mlx::core::'.length);
  if (name.startsWith('fast::')) name = name.slice('fast::'.length);
  if (Object.hasOwn(COST_FORMULAS, name)) return name;
  const alias = PRINT_ALIASES[name];
  if (alias) return alias;
  if (/^(And|Or|Sum|Prod|Min|Max) Reduce$/.test(name)) return 'Reduce';
  if (/^Cum(Sum|Prod|Min|Max|Logaddexp) Reduce$/.test(name)) return 'Scan';
  if (name.startsWith('Compiled')) return 'Compiled';
  return null;
}

/** Every print name a fused primitive can have inside "Compiled...", longest first for greedy matching. */
let compiledTokens: string[] | null = null;
function tokens(): string[] {
  if (!compiledTokens) {
    const names = new Set<string>([...Object.keys(COST_FORMULAS), ...Object.keys(PRINT_ALIASES).filter((k) => !k.includes(' '))]);
    compiledTokens = [...names].sort((a, b) => b.length - a.length);
  }
  return compiledTokens;
}

/** 'CompiledMultiplyAddExp' -> ['Multiply', 'Add', 'Exp']; null when a part is not a known name. */
export function splitCompiledName(op: string): string[] | null {
  let rest = op.trim();
  if (!rest.startsWith('Compiled')) return null;
  rest = rest.slice('Compiled'.length);
  const out: string[] = [];
  while (rest.length > 0) {
    const t = tokens().find((k) => rest.startsWith(k));
    if (!t) return null;
    out.push(resolveOpName(t) ?? t);
    rest = rest.slice(t.length);
  }
  return out;
}
