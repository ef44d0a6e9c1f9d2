/**
 * Compare two traces: rows matched by (layer path, op, input/output shapes), per-pass deltas in time, FLOPs,
 * bytes and memory, what appears in only one trace, and totals. When the traces have passes, each side is the
 * mean over its measured passes and the spread across passes is the noise a regression must clear.
 * Pure functions of two Traces; the CLI (`mlx-trace compare`) and the HTML diff view read the result.
 */
import type { Trace } from '../model/trace';
import { NO_LAYER } from '../model/span-facts';
import { aggregate, busyShare, shapeSignature, type AggregateKey, type AggregateRow } from './aggregate';
import { summarize, type SummaryStats } from './passes';

export { shapeSignature } from './aggregate';

/** Growth beyond the noise that counts as a regression, as a fraction of A's time, unless a caller says otherwise. */
export const DEFAULT_REGRESSION_THRESHOLD = 0.05;
/** Rows under this share of busy time (in A and in B) are too small to judge, unless a caller says otherwise. */
export const DEFAULT_MIN_SHARE = 0.01;

export type CompareGroupBy = 'detail' | 'op' | 'layer';

export interface CompareOptions {
  /**
   * Row key: 'detail' = layer path + op + input/output shapes; 'op' = op name; 'layer' = layer path.
   * @default 'detail'
   */
  groupBy?: CompareGroupBy;
  /**
   * Width of the noise band in standard errors of the difference of the two means
   * (sqrt(stdA²/nA + stdB²/nB)); 2 is about a 95% band for normal noise. @default 2
   */
  noiseSigmas?: number;
}

/** One side of a row: per-pass values (means over measured passes). */
export interface CompareSide {
  /** Primitive calls per pass. */
  calls: number;
  /** Total time per pass, ns (mean over passes). */
  timeNs: number;
  /** Standard deviation of the per-pass time across passes, ns (0 with one pass). */
  stdNs: number;
  /** Passes the mean is over. */
  passes: number;
  /** timeNs / calls. */
  perCallNs: number;
  /** Known FLOPs and bytes (read + written, by the cost model) per pass; null when no primitive of the row has a cost. */
  flops: number | null;
  bytes: number | null;
  /** Bytes of the outputs the row's primitives produce per pass: the memory it allocates. */
  memoryBytes: number;
}

export type RowPresence = 'both' | 'onlyA' | 'onlyB';

export interface CompareRow {
  /** Unique key of the row. */
  key: string;
  /** Layer as the recorder names it ('layers.0.mlp (MLP)': path and class), '(no layer)'; '' when grouping by op. */
  layer: string;
  /** Op name; '' when grouping by layer. */
  op: string;
  /** Input and output shapes, '8x64 64x64 → 8x64' (dtypes not included); '' unless grouping by detail. */
  shapes: string;
  /** Readable one-line name: 'layer · op shapes'. */
  label: string;
  presence: RowPresence;
  a: CompareSide | null;
  b: CompareSide | null;
  /** b.timeNs - a.timeNs, a missing side counting as 0. */
  deltaNs: number;
  /** deltaNs / a.timeNs; NaN when the row is not in A or took no time in A. */
  deltaFraction: number;
  /** Per-call time change; NaN unless the row is in both. */
  deltaPerCallNs: number;
  /** Changes in FLOPs, bytes and memory per pass (missing side = 0; unknown costs = 0). */
  deltaFlops: number;
  deltaBytes: number;
  deltaMemoryBytes: number;
  /** Half-width of the noise band around deltaNs, ns (0 when neither side has several passes). */
  noiseNs: number;
  /** The row's largest share of its trace's busy time per pass (A or B): what minShare is tested against. */
  share: number;
}

export interface CompareTotal {
  a: number;
  b: number;
  delta: number;
  /** delta / a; NaN when a is 0. */
  fraction: number;
  /** Noise band half-width (0 for values that do not vary by pass, like peak memory). */
  noise: number;
}

export interface TraceSideInfo {
  name: string;
  /** Measured passes (1 for a trace without passes) and warm-up passes left out. */
  passes: number;
  warmup: number;
  spans: number;
}

export interface Comparison {
  groupBy: CompareGroupBy;
  noiseSigmas: number;
  a: TraceSideInfo;
  b: TraceSideInfo;
  /** Every row, largest |deltaNs| first (then by key). */
  rows: CompareRow[];
  /** Subsets of rows, same order. */
  onlyA: CompareRow[];
  onlyB: CompareRow[];
  totals: {
    /** Primitive time per pass. */
    primitiveNs: CompareTotal;
    /** Top-level eval time per pass. */
    evalNs: CompareTotal;
    /** Busy time per pass: evals, asyncEval work and sync points (aggregate.ts), the base of every share. */
    busyNs: CompareTotal;
    /** Wall time of profile()'s pass spans; null unless both traces have them. */
    passNs: CompareTotal | null;
    /** Peak live bytes from the allocator events, within the measured passes when there are any. */
    peakMemoryBytes: CompareTotal;
    flops: CompareTotal;
    bytes: CompareTotal;
  };
}

interface SideSummary {
  info: TraceSideInfo;
  rows: Map<string, AggregateRow>;
  slots: number;
  primitive: SummaryStats;
  eval: SummaryStats;
  busy: SummaryStats;
  pass: SummaryStats | null;
  peak: number;
  flops: number;
  bytes: number;
}

const KEYS: Record<CompareGroupBy, readonly AggregateKey[]> = { detail: ['layer', 'op', 'shapes'], op: ['op'], layer: ['layer'] };

function summarizeSide(trace: Trace, groupBy: CompareGroupBy): SideSummary {
  const agg = aggregate(trace, { by: KEYS[groupBy], passes: 'measured' });
  const { layout, slots: n } = agg;
  let flops = 0;
  let bytes = 0;
  const rows = new Map<string, AggregateRow>();
  for (const a of agg.rows) {
    flops += a.flops;
    bytes += a.bytes;
    rows.set(a.key, a);
  }

  // Peak live bytes: within the measured passes' time window when the passes are known (warm-up allocations such
  // as one-time initialisation are not what a comparison is about), otherwise over the whole trace.
  let lo = -Infinity;
  let hi = Infinity;
  if (layout.passSpans.length) {
    lo = Infinity;
    hi = -Infinity;
    for (const p of layout.passSpans) {
      lo = Math.min(lo, p.start);
      hi = Math.max(hi, p.end);
    }
  }
  let peak = 0;
  for (const m of trace.memory ?? []) if (m.t >= lo && m.t <= hi && m.live > peak) peak = m.live;

  return {
    info: {
      name: trace.name,
      passes: layout.multiPass ? layout.measured.length : 1,
      warmup: layout.warmup.length,
      spans: trace.spans.length,
    },
    rows,
    slots: n,
    primitive: summarize(agg.primitive.slotNs),
    eval: summarize(agg.eval.slotNs),
    busy: summarize(agg.busy.slotNs),
    pass: layout.passSpans.length ? summarize(layout.passSpans.map((s) => s.end - s.start)) : null,
    peak,
    flops: flops / n,
    bytes: bytes / n,
  };
}

function toSide(acc: AggregateRow, slots: number): CompareSide {
  const st = summarize(acc.slotNs);
  const calls = acc.calls / slots;
  return {
    calls,
    timeNs: st.mean,
    stdNs: st.std,
    passes: slots,
    perCallNs: calls > 0 ? st.mean / calls : 0,
    flops: acc.costed > 0 ? acc.flops / slots : null,
    bytes: acc.bytesKnown > 0 ? acc.bytes / slots : null,
    memoryBytes: acc.outputBytes / slots,
  };
}

/** sigmas × the standard error of (mean B − mean A). */
function noiseBand(stdA: number, nA: number, stdB: number, nB: number, sigmas: number): number {
  return sigmas * Math.sqrt((stdA * stdA) / Math.max(1, nA) + (stdB * stdB) / Math.max(1, nB));
}

function total(a: number, b: number, noise = 0): CompareTotal {
  return { a, b, delta: b - a, fraction: a !== 0 ? (b - a) / a : NaN, noise };
}

function statTotal(a: SummaryStats, b: SummaryStats, sigmas: number): CompareTotal {
  return total(a.mean, b.mean, noiseBand(a.std, a.n, b.std, b.n, sigmas));
}

/** 'layers.0.mlp (MLP) · Matmul 8x64 64x64 → 8x64'; '(no layer)' is left out of the label (not the key). */
function labelOf(layer: string, op: string, shapes: string): string {
  const what = [op, shapes].filter(Boolean).join(' ');
  const where = layer === NO_LAYER && op ? '' : layer;
  return [where, what].filter(Boolean).join(' · ');
}

/** Match the rows of two traces and compute per-pass deltas (B relative to A). */
export function compareTraces(a: Trace, b: Trace, opts: CompareOptions = {}): Comparison {
  const groupBy = opts.groupBy ?? 'detail';
  if (groupBy !== 'detail' && groupBy !== 'op' && groupBy !== 'layer') {
    throw new Error(`unknown groupBy ${JSON.stringify(groupBy)} (use detail, op, layer)`);
  }
  const sigmas = opts.noiseSigmas ?? 2;
  const A = summarizeSide(a, groupBy);
  const B = summarizeSide(b, groupBy);
  const busyA = A.busy.mean;
  const busyB = B.busy.mean;

  const rows: CompareRow[] = [];
  const keys = new Set<string>([...A.rows.keys(), ...B.rows.keys()]);
  for (const key of keys) {
    const ra = A.rows.get(key);
    const rb = B.rows.get(key);
    const sa = ra ? toSide(ra, A.slots) : null;
    const sb = rb ? toSide(rb, B.slots) : null;
    const ref = (ra ?? rb)!;
    const shapes = groupBy === 'detail' ? shapeSignature(ref.sample) : '';
    const ta = sa?.timeNs ?? 0;
    const tb = sb?.timeNs ?? 0;
    rows.push({
      key,
      layer: ref.layer,
      op: ref.op,
      shapes,
      label: labelOf(ref.layer, ref.op, shapes),
      presence: sa && sb ? 'both' : sa ? 'onlyA' : 'onlyB',
      a: sa,
      b: sb,
      deltaNs: tb - ta,
      deltaFraction: sa && ta > 0 ? (tb - ta) / ta : NaN,
      deltaPerCallNs: sa && sb ? sb.perCallNs - sa.perCallNs : NaN,
      deltaFlops: (sb?.flops ?? 0) - (sa?.flops ?? 0),
      deltaBytes: (sb?.bytes ?? 0) - (sa?.bytes ?? 0),
      deltaMemoryBytes: (sb?.memoryBytes ?? 0) - (sa?.memoryBytes ?? 0),
      noiseNs: noiseBand(sa?.stdNs ?? 0, sa?.passes ?? 1, sb?.stdNs ?? 0, sb?.passes ?? 1, sigmas),
      share: Math.max(busyShare(ta, busyA) || 0, busyShare(tb, busyB) || 0),
    });
  }
  rows.sort((x, y) => Math.abs(y.deltaNs) - Math.abs(x.deltaNs) || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));

  return {
    groupBy,
    noiseSigmas: sigmas,
    a: A.info,
    b: B.info,
    rows,
    onlyA: rows.filter((r) => r.presence === 'onlyA'),
    onlyB: rows.filter((r) => r.presence === 'onlyB'),
    totals: {
      primitiveNs: statTotal(A.primitive, B.primitive, sigmas),
      evalNs: statTotal(A.eval, B.eval, sigmas),
      busyNs: statTotal(A.busy, B.busy, sigmas),
      passNs: A.pass && B.pass ? statTotal(A.pass, B.pass, sigmas) : null,
      peakMemoryBytes: total(A.peak, B.peak),
      flops: total(A.flops, B.flops),
      bytes: total(A.bytes, B.bytes),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Verdicts

export interface RegressionOptions {
  /** Growth beyond the noise that counts, as a fraction of A's time (0.05 = 5%). @default 0.05 */
  threshold?: number;
  /** Rows below this share of busy time (in A and in B) are ignored. @default 0.01 */
  minShare?: number;
}

export type RowVerdict = 'regressed' | 'improved' | 'unchanged' | 'added' | 'removed' | 'small';

/**
 * What a row did: 'regressed' when its time grew by more than threshold × A's time beyond the noise band,
 * 'improved' for the same in the other direction, 'added'/'removed' for rows in one trace only, 'small' for
 * rows under minShare (ignored by the gate), else 'unchanged'.
 */
export function rowVerdict(row: CompareRow, opts: RegressionOptions = {}): RowVerdict {
  const threshold = opts.threshold ?? DEFAULT_REGRESSION_THRESHOLD;
  const minShare = opts.minShare ?? DEFAULT_MIN_SHARE;
  if (row.presence === 'onlyA') return 'removed';
  if (row.presence === 'onlyB') return 'added';
  if (row.share < minShare) return 'small';
  return movement(row.a!.timeNs, row.deltaNs, row.noiseNs, threshold);
}

/** Verdict of a total; totals are never 'small'. */
export function totalVerdict(t: CompareTotal, opts: RegressionOptions = {}): 'regressed' | 'improved' | 'unchanged' {
  return movement(t.a, t.delta, t.noise, opts.threshold ?? DEFAULT_REGRESSION_THRESHOLD);
}

function movement(base: number, delta: number, noise: number, threshold: number): 'regressed' | 'improved' | 'unchanged' {
  // Without a base there is no relative change to judge (e.g. no evals in A).
  if (!(base > 0)) return 'unchanged';
  const margin = threshold * base + noise;
  if (delta > margin) return 'regressed';
  if (delta < -margin) return 'improved';
  return 'unchanged';
}

export interface Regression {
  /** 'total' for a trace-wide time (primitive or eval time), 'row' for a matched row. */
  kind: 'total' | 'row';
  /** 'primitive time', 'eval time', or the row's label. */
  name: string;
  /** The row's key (for kind 'row'). */
  key?: string;
  a: number;
  b: number;
  deltaNs: number;
  /** deltaNs / a. */
  fraction: number;
  noiseNs: number;
  /** (deltaNs - noiseNs) / a: the growth beyond noise, the number compared with the threshold. */
  beyondNoise: number;
}

/**
 * Times that grew by more than `threshold` beyond the noise: total primitive time, total eval time (in that
 * order), then matched rows at or above `minShare` of total time, largest growth beyond noise first. Rows in only one
 * trace are not listed (a new op shows up in the totals).
 */
export function regressions(cmp: Comparison, opts: RegressionOptions = {}): Regression[] {
  const found: Regression[] = [];
  const totals: [string, CompareTotal][] = [
    ['primitive time', cmp.totals.primitiveNs],
    ['eval time', cmp.totals.evalNs],
  ];
  for (const [name, t] of totals) {
    if (totalVerdict(t, opts) === 'regressed') {
      found.push({ kind: 'total', name, a: t.a, b: t.b, deltaNs: t.delta, fraction: t.fraction, noiseNs: t.noise, beyondNoise: (t.delta - t.noise) / t.a });
    }
  }
  for (const r of cmp.rows) {
    if (rowVerdict(r, opts) !== 'regressed') continue;
    const a = r.a!.timeNs;
    found.push({
      kind: 'row', name: r.label, key: r.key, a, b: r.b!.timeNs, deltaNs: r.deltaNs, fraction: r.deltaFraction,
      noiseNs: r.noiseNs, beyondNoise: (r.deltaNs - r.noiseNs) / a,
    });
  }
  // Totals first in a fixed order (primitive, eval), then rows by growth beyond noise.
  const rows = found.filter((r) => r.kind === 'row').sort((x, y) => y.beyondNoise - x.beyondNoise);
  return [...found.filter((r) => r.kind === 'total'), ...rows];
}
