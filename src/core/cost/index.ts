/**
 * The cost model: floating-point operations and bytes moved for every MLX primitive, from shapes alone.
 *
 * Pure functions of (op name, input TensorInfos, output TensorInfos). Inputs are in the primitive's
 * own order (what the native layer sees: Matmul {a, b}, AddMM {a, b, c}, QuantizedMatmul
 * {x, w, scales, biases}, Convolution {input, weight}...), not the order of the JS call that built it.
 *
 * Conventions, once for all formulas:
 * - "n" is the number of elements; K, M, N the usual matmul sizes.
 * - Every element-wise primitive counts 1 operation per output element, whatever it costs on the
 *   hardware: exp, erf and logaddexp count 1 like add does, and so do comparisons and logical or
 *   bitwise ops on integers (so "flops" is really "element operations" for those).
 * - Bytes default to what the primitive reads plus what it writes: the sum of its inputs' and
 *   outputs' TensorInfo.bytes. A broadcast input is counted at its logical size (TensorInfo does not
 *   carry strides), which overstates the reads of e.g. `x + bias`.
 * - Primitives that only make a view (MLX gives the output the input's buffer with new strides)
 *   cost 0 bytes and 0 flops.
 * - An op with no formula, or whose shapes do not determine the cost, gets null, never a silent 0.
 */
import type { Span, Trace, Peaks, TensorInfo } from '../model/trace';
import { COST_FORMULAS, readWrite, resolveOpName, type Cost, type CostHints } from './formulas';

export { dtypeItemsize, numel, tensorBytes } from './tensors';
export { COST_FORMULAS, NOT_PRIMITIVES, resolveOpName, splitCompiledName, type Cost, type CostFormula, type CostHints } from './formulas';

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * FLOPs and bytes of one executed primitive. Unknown ops, and shapes that do not determine the
 * cost, give null (never a silent 0): list them with missingCostFormulas().
 */
export function estimateCost(op: string, inputs: TensorInfo[], outputs: TensorInfo[], hints?: CostHints): Cost {
  const key = resolveOpName(op);
  if (key == null) return { flops: null, bytes: readWrite(inputs, outputs) };
  const f = COST_FORMULAS[key];
  const flops = f.flops(inputs, outputs, op);
  const bytes = f.bytes(inputs, outputs, hints);
  return { flops: flops == null || Number.isFinite(flops) ? flops : null, bytes: bytes == null || Number.isFinite(bytes) ? bytes : null };
}

/**
 * Why a primitive the cost model knows has no FLOPs, when the reason is the op's and not its shapes: a bare
 * "Compiled" is a kernel mx.compile fused (node-mlx compiles nn.silu, nn.gelu, nn.relu...), and MLX does not
 * name the ops inside it. Null for any other op.
 */
export function unknownFlopsReason(op: string): string | null {
  return op === 'Compiled'
    ? 'a kernel fused by mx.compile (node-mlx compiles nn.silu, nn.gelu, nn.relu, ...); MLX does not name the ops it fused, so its FLOPs are unknown and its bytes are counted'
    : null;
}

/** The reason line of the formula used for op, or null when there is none. */
export function costReason(op: string): string | null {
  const key = resolveOpName(op);
  return key == null ? null : COST_FORMULAS[key].reason;
}

export interface MissingCost {
  op: string;
  count: number;
  /** 'no-formula': the op is unknown to the table; 'undetermined': known, but its shapes did not fix the cost. */
  why: 'no-formula' | 'undetermined';
}

/** Primitive ops of a trace whose spans have flops null, most frequent first. */
export function missingCostFormulas(trace: Pick<Trace, 'spans'>): MissingCost[] {
  const counts = new Map<string, number>();
  for (const s of trace.spans) {
    if (s.kind === 'primitive' && s.flops == null) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  }
  return [...counts]
    .map(([op, count]): MissingCost => ({ op, count, why: resolveOpName(op) == null ? 'no-formula' : 'undetermined' }))
    .sort((a, b) => b.count - a.count || (a.op < b.op ? -1 : 1));
}

/** A copy of the trace with every primitive span priced by the cost model (other spans unchanged). */
export function applyCostModel(trace: Trace): Trace {
  return {
    ...trace,
    spans: trace.spans.map((s) => (s.kind === 'primitive' ? { ...s, ...estimateCost(s.name, s.inputs, s.outputs) } : s)),
  };
}

export interface DerivedMetrics {
  durNs: number;
  flops: number | null;
  bytes: number | null;
  /** Arithmetic intensity, FLOPs per byte; null when either is unknown or bytes is 0. */
  intensity: number | null;
  /** Achieved GFLOP/s (= FLOPs per ns). */
  gflops: number | null;
  /** Achieved GB/s (= bytes per ns). */
  gbps: number | null;
  /** With peaks: the roofline ceiling at this intensity (FLOP/s), the share of it reached, and which roof binds. */
  roofFlops?: number | null;
  roofFraction?: number | null;
  bound?: 'compute' | 'memory' | null;
}

/** Intensity and achieved throughput of a priced span over durNs (defaults to its own duration). */
export function derivedMetrics(
  span: Pick<Span, 'flops' | 'bytes'> & Partial<Pick<Span, 'start' | 'end'>>,
  durNs: number = (span.end ?? 0) - (span.start ?? 0),
  peaks?: Pick<Peaks, 'flops' | 'bandwidth'>,
): DerivedMetrics {
  const { flops, bytes } = span;
  const timed = Number.isFinite(durNs) && durNs > 0;
  const intensity = flops != null && bytes != null && bytes > 0 ? flops / bytes : null;
  const m: DerivedMetrics = {
    durNs,
    flops,
    bytes,
    intensity,
    gflops: flops != null && timed ? flops / durNs : null,
    gbps: bytes != null && timed ? bytes / durNs : null,
  };
  if (peaks) {
    if (intensity == null) {
      m.roofFlops = null;
      m.roofFraction = null;
      m.bound = null;
    } else {
      const memRoof = intensity * peaks.bandwidth;
      m.roofFlops = Math.min(peaks.flops, memRoof);
      m.bound = memRoof < peaks.flops ? 'memory' : 'compute';
      m.roofFraction = m.gflops != null && m.roofFlops > 0 ? (m.gflops * 1e9) / m.roofFlops : null;
    }
  }
  return m;
}
