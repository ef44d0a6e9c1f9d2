/**
 * Op categories: which kind of work an MLX primitive does, for the dashboard's donut, the report and the advisor.
 * A pure function of the op name, so every reader of a trace agrees on it.
 */

export type OpCategory = 'matmul' | 'attention' | 'normalization' | 'elementwise' | 'memory' | 'other';

/** Categories in display order. */
export const OP_CATEGORIES: readonly OpCategory[] = ['matmul', 'attention', 'normalization', 'elementwise', 'memory', 'other'];

/** Human labels, as legends and tables show them. */
export const OP_CATEGORY_LABELS: Readonly<Record<OpCategory, string>> = {
  matmul: 'Matmul & conv',
  attention: 'Attention',
  normalization: 'Normalization',
  elementwise: 'Element-wise',
  memory: 'Memory movement',
  other: 'Other',
};

// Keys are normalized names (lowercase, letters and digits only), so 'RMSNorm', 'fast::RMSNorm' and the
// JS-level 'rms_norm' all meet. Class names come from the MLX build's Primitive subclasses (nm on mlx.node).
const TABLE: Record<string, OpCategory> = {};
const add = (cat: OpCategory, names: string) => {
  for (const n of names.split(/\s+/)) if (n) TABLE[n] = cat;
};

// GEMM-shaped work: dense, batched, masked, sparse and quantized matmuls; convolutions lower to GEMMs.
add('matmul', `matmul addmm quantizedmatmul gathermm gatherqmm blockmaskedmm blocksparsemm blocksparseqmm
  segmentedmm convolution conv conv1d conv2d conv3d convtranspose1d convtranspose2d convtranspose3d
  linear quantizedlinear qmm inner outer tensordot einsum`);
// The attention block's own kernels: fused SDPA, softmax over scores, rotary embeddings.
add('attention', `scaleddotproductattention sdpa attention softmax rope`);
add('normalization', `rmsnorm layernorm rmsnormvjp layernormvjp ropevjp groupnorm batchnorm instancenorm logsumexp`);
// One output element from the same element of each input: unary, binary and ternary math, casts, fused
// element-wise kernels ('Compiled...').
add('elementwise', `abs add arccos arccosh arcsin arcsinh arctan arctan2 arctanh astype ceil conjugate cos cosh
  divmod divide equal erf erfinv exp expm1 floor greater greaterequal imag less lessequal log log1p log2 log10
  logaddexp logicaland logicalnot logicalor maximum minimum multiply negative notequal power real remainder round
  rsqrt select sigmoid sign sin sinh sqrt square subtract tan tanh where clip bitwisebinary bitwiseand bitwiseor
  bitwisexor bitwiseinvert leftshift rightshift isnan isinf isfinite nantonum gelu silu relu compiled`);
// Moves or re-views bytes without arithmetic.
add('memory', `copy reshape transpose concatenate concat gather gatheraxis scatter scatteraxis slice sliceupdate
  dynamicslice dynamicsliceupdate broadcast broadcastto asstrided pad split flatten unflatten squeeze expanddims
  contiguous full zeros ones load stack take takealongaxis putalongaxis moveaxis swapaxes view`);

/** Lowercase, namespaces and separators dropped: 'fast::RMSNorm' -> 'rmsnorm', 'rms_norm' -> 'rmsnorm'. */
function normalize(name: string): string {
  const base = name.trim().split(/::|\./).pop() ?? '';
  // Primitive names may carry details after a space or parenthesis ('Sum (axis 1)'); keep the head word.
  const head = base.split(/[\s(]/)[0];
  return head.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The category of an op by name (MLX primitive class names, their mx.fast forms, or snake_case JS names). */
export function opCategory(name: string): OpCategory {
  if (typeof name !== 'string') return 'other';
  const key = normalize(name);
  const hit = TABLE[key];
  if (hit) return hit;
  // Fused kernels are named after their parts ('CompiledAddMultiply'), VJPs after their primal.
  if (key.startsWith('compiled')) return 'elementwise';
  if (key.endsWith('vjp') && TABLE[key.slice(0, -3)]) return TABLE[key.slice(0, -3)];
  if (key.includes('attention')) return 'attention';
  if (key.endsWith('norm')) return 'normalization';
  if (key.endsWith('matmul') || key.endsWith('mm')) return 'matmul';
  return 'other';
}
