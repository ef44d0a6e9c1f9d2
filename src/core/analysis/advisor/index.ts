/**
 * The advisor: reads a Trace and says what to fix, each rule resting on a documented MLX performance fact
 * ("Writing Fast MLX", https://gist.github.com/awni/4beb1f7dfefc6f9426f3a7deee74af50, and the MLX docs).
 *
 * Pure over the plain-data Trace model. One indexing pass groups primitives by the eval that ran them and
 * the layer that built them; each rule then makes one linear pass (pattern rules look at most WINDOW
 * neighbours), so 100k spans take tens of milliseconds.
 *
 * Spans marked `attrs.fast` are the fallback graph of an mx.fast call (a backend without the fused kernel
 * runs plain primitives): they already are the recommended spelling and are never flagged.
 */
import { formatBytes, formatCount, formatDuration, makeColors, noColorRequested } from '../../../exporters/terminal/format';
import type { MemoryEvent, Span, TensorInfo, Trace } from '../../model/trace';
import { assertTrace } from '../../model/checks';

export type Severity = 'info' | 'warning' | 'critical';

/** Rule ids, stable across versions (the dashboard and `mlx-trace view --advice` key on them). */
export type AdviceRule =
  | 'type-promotion'
  | 'unfused-op'
  | 'eval-too-often'
  | 'graph-too-large'
  | 'recompile'
  | 'memory-peak'
  | 'large-temporary';

export interface Finding {
  rule: AdviceRule;
  severity: Severity;
  /** What was seen, in plain language with the numbers that show it. */
  message: string;
  /** Ids of the spans that show the problem (in time order; at most MAX_EVIDENCE). */
  evidence: number[];
  /** What to change. */
  suggestion: string;
  /** Nanoseconds the fix could save by the rule's estimate (0 for memory findings). */
  timeAtStake: number;
}

/** Thresholds, named so tests and docs can refer to them. */
export const ADVISOR_LIMITS = {
  /** Primitives a pattern may span inside one (eval, layer) group. */
  window: 32,
  /** Spans listed as evidence per finding; the message gives the full count. */
  maxEvidence: 500,
  /** An eval or sync point with at most this many primitives is "small"... */
  smallEvalPrimitives: 8,
  /** ...and this many small ones in a row, in the same step, is evaluating too often. */
  smallEvalRun: 8,
  /** Primitives in one eval above which the graph is too large. */
  graphPrimitives: 10_000,
  /** A Compiled primitive this slow, and >= jitFactor x its bandwidth time, was (re)building its kernel. */
  jitMinNs: 20e6,
  jitFactor: 100,
  /** Peak live memory this far above the working set (ratio and bytes) is reported. */
  peakRatio: 2,
  peakMinExcess: 64 * 2 ** 20,
  /** One array this large, and >= tempFactor x the live bytes before its eval, is a large temporary. */
  tempMinBytes: 16 * 2 ** 20,
  tempFactor: 4,
  /** Share of the program's MLX time for 'warning' and 'critical'. */
  warnShare: 0.05,
  criticalShare: 0.2,
} as const;

const L = ADVISOR_LIMITS;
const HALF = new Set<string | undefined>(['float16', 'bfloat16']);

// ---------------------------------------------------------------------------------------------------------------
// Op codes: names resolved once per distinct name, so the rules compare small integers.

const enum Op {
  Other,
  View,
  Square,
  Reduce,
  Sqrt,
  Mul,
  Div,
  Add,
  Sub,
  Exp,
  Softmax,
  Matmul,
  Sin,
  Cos,
  Concat,
  AsType,
  Compiled,
}

const OP_BY_NAME: Record<string, Op> = {
  Square: Op.Square,
  Power: Op.Square,
  Reduce: Op.Reduce,
  Sqrt: Op.Sqrt, // MLX's rsqrt is Sqrt with recip=true
  Rsqrt: Op.Sqrt,
  Multiply: Op.Mul,
  Divide: Op.Div,
  Add: Op.Add,
  Subtract: Op.Sub,
  Exp: Op.Exp,
  Softmax: Op.Softmax,
  Matmul: Op.Matmul,
  AddMM: Op.Matmul,
  Sin: Op.Sin,
  Cos: Op.Cos,
  Concatenate: Op.Concat,
  AsType: Op.AsType,
  Compiled: Op.Compiled,
  // Views and bookkeeping: no arithmetic, (usually) no new buffer.
  Broadcast: Op.View,
  Reshape: Op.View,
  Transpose: Op.View,
  Slice: Op.View,
  StopGradient: Op.View,
  AsStrided: Op.View,
  ExpandDims: Op.View,
  Squeeze: Op.View,
  Flatten: Op.View,
  Unflatten: Op.View,
  NumberOfElements: Op.View,
  Depends: Op.View,
};

/** Ops the CPU backend only runs in float32: an upcast in front of them is forced there, not a mistake. */
const CPU_FLOAT32_ONLY = new Set(['Matmul', 'AddMM', 'BlockMaskedMM', 'GatherMM', 'Convolution']);

/** The op's MLX class name: native spans carry it as name; JS-timed spans keep it in attrs.costOp. */
function opName(s: Span): string {
  const c = s.attrs?.costOp;
  return typeof c === 'string' ? c : s.name;
}

// ---------------------------------------------------------------------------------------------------------------
// Index: one pass over the spans.

/** A primitive as the rules see it. */
interface Prim {
  span: Span;
  name: string;
  op: Op;
  dur: number;
  /** From an mx.fast fallback graph (attrs.fast): never reported, never a pattern's anchor. */
  fast: boolean;
}

/** Primitives run by one eval (or sync point) and built by one layer, in execution order. */
type Group = Prim[];

interface EvalInfo {
  span: Span;
  prims: number;
  primNs: number;
}

interface Index {
  trace: Trace;
  groups: Group[];
  /** Eval and sync spans in start order, with the primitives each ran (fast-marked ones included). */
  evals: EvalInfo[];
  compiled: Prim[];
  /** Primitives not from an mx.fast fallback, in start order. Groups hold all, fast-marked ones flagged. */
  prims: Prim[];
  /** Whether any (not fast-marked) AsType turns half-precision data into float32. */
  upcasts: boolean;
  /** MLX busy time: the eval and sync spans' wall time (or primitive time when there are none). */
  busyNs: number;
  jsTiming: boolean;
}

function buildIndex(trace: Trace): Index {
  const evalsById = new Map<number, EvalInfo>();
  const evals: EvalInfo[] = [];
  for (const s of trace.spans) {
    if (s.kind === 'eval' || s.kind === 'sync') {
      const e = { span: s, prims: 0, primNs: 0 };
      evalsById.set(s.id, e);
      evals.push(e);
    }
  }
  const byEval = new Map<number | null, Map<number | string | null, Group>>();
  const groups: Group[] = [];
  const compiled: Prim[] = [];
  const prims: Prim[] = [];
  const opCache = new Map<string, Op>();
  let primNs = 0;
  let upcasts = false;
  let lastParent: number | null | undefined = undefined;
  let lastLayers: Map<number | string | null, Group> | undefined;
  for (const s of trace.spans) {
    if (s.kind !== 'primitive') continue;
    const dur = Math.max(0, s.end - s.start);
    primNs += dur;
    const ev = s.parentId != null ? evalsById.get(s.parentId) : undefined;
    if (ev) {
      ev.prims++;
      ev.primNs += dur;
    }
    const name = opName(s);
    let op = opCache.get(name);
    if (op === undefined) opCache.set(name, (op = OP_BY_NAME[name] ?? Op.Other));
    const fast = !!s.attrs?.fast;
    const p: Prim = { span: s, name, op, dur, fast };
    if (!fast) {
      prims.push(p);
      if (op === Op.Compiled) compiled.push(p);
      else if (op === Op.AsType && !upcasts) upcasts = HALF.has(s.inputs?.[0]?.dtype) && s.outputs?.[0]?.dtype === 'float32';
    }
    // Primitives of one eval come together: look the eval's layer map up once per run of them.
    let layers = s.parentId === lastParent ? lastLayers : byEval.get(s.parentId);
    if (!layers) byEval.set(s.parentId, (layers = new Map()));
    lastParent = s.parentId;
    lastLayers = layers;
    const lk = s.layerId ?? s.layer ?? null;
    let g = layers.get(lk);
    if (!g) {
      layers.set(lk, (g = []));
      groups.push(g);
    }
    g.push(p);
  }
  const byStart = (a: Prim, b: Prim) => a.span.start - b.span.start;
  for (const g of groups) if (!isSorted(g)) g.sort(byStart);
  if (!isSorted(prims)) prims.sort(byStart);
  if (!isSorted(compiled)) compiled.sort(byStart);
  evals.sort((a, b) => a.span.start - b.span.start);
  let busyNs = 0;
  for (const e of evals) busyNs += Math.max(0, e.span.end - e.span.start);
  return { trace, groups, evals, compiled, prims, upcasts, busyNs: busyNs || primNs, jsTiming: trace.meta?.timing === 'js' };
}

function isSorted(a: Prim[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i].span.start < a[i - 1].span.start) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

const out0 = (p: Prim): TensorInfo | undefined => p.span.outputs?.[0];
const in0 = (p: Prim): TensorInfo | undefined => p.span.inputs?.[0];

function sameShape(a: number[] | undefined, b: number[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hasInputShape(p: Prim, shape: number[] | undefined): boolean {
  for (const t of p.span.inputs ?? []) if (sameShape(t?.shape, shape)) return true;
  return false;
}

const shapeText = (s: number[] | undefined) => (s ? `[${s.join(',')}]` : '[?]');

function severityFor(ns: number, busyNs: number): Severity {
  const share = busyNs > 0 ? ns / busyNs : 0;
  return share >= L.criticalShare ? 'critical' : share >= L.warnShare ? 'warning' : 'info';
}

/**
 * Evidence ids, unique, in id order (the recorder numbers spans as they begin, so this is time order),
 * capped. A typed-array sort: no comparator calls, for lists of tens of thousands of spans.
 */
function evidenceOf(spans: Span[]): number[] {
  const sorted = new Float64Array(spans.length);
  for (let i = 0; i < spans.length; i++) sorted[i] = spans[i].id;
  sorted.sort();
  const ids: number[] = [];
  for (let i = 0; i < sorted.length && ids.length < L.maxEvidence; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) ids.push(sorted[i]);
  }
  return ids;
}

/**
 * Layer names (from span.layer) of some primitives, most frequent first, as 'a, b and 3 more'. With
 * `weights`, prims[i] stands for weights[i] primitives of its layer (one per pattern match).
 */
function layerList(prims: Prim[], weights?: number[], max = 3): string {
  // Keyed by layer span id where there is one: a number hashes faster than a path, and one path
  // (a layer called several times) is still counted once below.
  const counts = new Map<number | string, { name: string; n: number }>();
  let last: { name: string; n: number } | undefined;
  let lastKey: number | string | undefined;
  for (let i = 0; i < prims.length; i++) {
    const l = prims[i].span.layer;
    if (!l) continue;
    const w = weights ? weights[i] : 1;
    const key = prims[i].span.layerId ?? l;
    // Lists come in runs of one layer (a group): count a run without a lookup.
    if (key === lastKey && last) {
      last.n += w;
      continue;
    }
    last = counts.get(key);
    if (last) last.n += w;
    else counts.set(key, (last = { name: l, n: w }));
    lastKey = key;
  }
  const byName = new Map<string, number>();
  for (const c of counts.values()) byName.set(c.name, (byName.get(c.name) ?? 0) + c.n);
  const names = [...byName.entries()].sort((a, b) => b[1] - a[1]).map(([n]) => n);
  if (names.length === 0) return '';
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

/** formatCount without its locale machinery for the small counts most messages have. */
const count = (n: number) => (n < 1000 && Number.isInteger(n) ? String(n) : formatCount(n));
const plural = (n: number, one: string, many = one + 's') => `${count(n)} ${n === 1 ? one : many}`;

// ---------------------------------------------------------------------------------------------------------------
// Rule 1: type promotion

/**
 * MLX promotes mixed operands to a type that loses no precision: float16 x float32 (even a float32 scalar
 * array like mx.array(2.0)) runs in float32; half-precision data upcast is slower and twice the bytes.
 * (Writing Fast MLX, "Type Promotion"; also "Precision": no need to upcast around fast norms or softmax.)
 */
function typePromotion(ix: Index): Finding[] {
  if (!ix.upcasts) return [];
  // A half-precision program: a real share of the primitives read float16/bfloat16 data.
  let floatReaders = 0;
  let halfReaders = 0;
  const halfCounts = new Map<string, number>();
  for (const p of ix.prims) {
    let anyFloat = false;
    let half: string | null = null;
    for (const t of p.span.inputs ?? []) {
      const d = t?.dtype;
      if (HALF.has(d)) half = d;
      if (half || (typeof d === 'string' && d.startsWith('float'))) anyFloat = true;
    }
    if (anyFloat) floatReaders++;
    if (half) {
      halfReaders++;
      halfCounts.set(half, (halfCounts.get(half) ?? 0) + 1);
    }
  }
  if (halfReaders < 2 || halfReaders < 0.1 * floatReaders) return [];
  const halfType = [...halfCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];

  const casts: Prim[] = [];
  const slowOps: Prim[] = [];
  for (const g of ix.groups) {
    // Per upcast, the float32 ops that follow it in the same layer until the data goes back to half.
    let pendingCasts: Prim[] = [];
    let pendingOps: Prim[] = [];
    let promoted = false;
    const flush = () => {
      // Only an upcast followed by float32 work the backend could have done in half precision counts.
      if (pendingOps.length > 0) {
        casts.push(...pendingCasts);
        slowOps.push(...pendingOps);
      }
      pendingCasts = [];
      pendingOps = [];
      promoted = false;
    };
    for (const p of g) {
      if (p.fast) continue; // a fallback's own casts are what the fused kernel does anyway
      const o = out0(p)?.dtype;
      const i = in0(p)?.dtype;
      if (p.op === Op.AsType && i && HALF.has(i) && o === 'float32') {
        pendingCasts.push(p);
        promoted = true;
        continue;
      }
      if (!promoted) continue;
      if (p.op === Op.AsType && i === 'float32' && o && HALF.has(o)) {
        pendingCasts.push(p); // the downcast exists only because of the upcast
        flush();
        continue;
      }
      if (o && HALF.has(o)) {
        flush();
        continue;
      }
      if (o !== 'float32' || p.op === Op.View) continue;
      if (p.span.device === 'cpu' && CPU_FLOAT32_ONLY.has(p.name)) continue;
      pendingOps.push(p);
    }
    flush();
  }
  const upcasts = casts.filter((p) => HALF.has(in0(p)?.dtype ?? ''));
  if (upcasts.length === 0) return [];
  let castNs = 0;
  for (const p of casts) castNs += p.dur;
  let opNs = 0;
  for (const p of slowOps) opNs += p.dur;
  // Half precision moves half the bytes: assume the float32 ops would take half as long, the casts nothing.
  const atStake = castNs + opNs / 2;
  const where = layerList([...casts, ...slowOps]);
  return [
    {
      rule: 'type-promotion',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${halfType} data is promoted to float32: ${plural(upcasts.length, 'upcast')} (AsType) and ` +
        `${plural(slowOps.length, 'op')} that then run in float32 (${formatDuration(castNs + opNs)})` +
        (where ? ` in ${where}` : '') +
        `, in a program that otherwise computes in ${halfType}.`,
      evidence: evidenceOf([...casts, ...slowOps].map((p) => p.span)),
      suggestion:
        `Keep the data in ${halfType}: multiply by JS numbers (weakly typed) instead of mx.array(...) scalars, ` +
        `create constants and weights with dtype mx.${halfType}, and do not upcast around mx.fast norms or ` +
        `softmax (they accumulate in float32 already; use mx.softmax(x, axis, true) for a precise softmax).`,
      timeAtStake: atStake,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Rule 2: composed operations with a fused equivalent

type FusedKind = 'rmsNorm' | 'layerNorm' | 'rope' | 'sdpa' | 'softmax';

const FUSED_TEXT: Record<FusedKind, { what: string; fix: string }> = {
  rmsNorm: {
    what: 'RMS normalization is composed from separate primitives (square, mean, rsqrt, multiply)',
    fix: 'Use mx.fast.rmsNorm(x, weight, eps) (nn.RMSNorm does): one fused kernel, no intermediate arrays.',
  },
  layerNorm: {
    what: 'Layer normalization is composed from separate primitives (mean, subtract, variance, rsqrt, multiply)',
    fix: 'Use mx.fast.layerNorm(x, weight, bias, eps) (weight and bias may be null; nn.LayerNorm uses it).',
  },
  rope: {
    what: 'Rotary position embedding is composed from sin/cos and element-wise primitives',
    fix: 'Use mx.fast.rope(x, dims, traditional, base, scale, offset) (nn.RoPE does).',
  },
  sdpa: {
    what: 'Attention is spelled out as matmul, softmax, matmul',
    fix:
      'Use mx.fast.scaledDotProductAttention(q, k, v, scale, mask): it never materializes the ' +
      'attention-score matrix.',
  },
  softmax: {
    what: 'Softmax is spelled out by hand (exp, sum, divide)',
    fix: 'Use mx.softmax(x, axis) (precise=true to accumulate in float32): one fused, numerically safe kernel.',
  },
};

/** One occurrence of a composed pattern: indexes into its group. */
interface Match {
  kind: FusedKind;
  group: Group;
  idx: number[];
}

/**
 * The fused mx.fast kernels (rms_norm, layer_norm, rope, scaled_dot_product_attention) and mx.softmax do in
 * one pass what the composed ops do in several, each writing a full intermediate array.
 * (Writing Fast MLX, "Use Fast Ops".)
 */
function unfusedOps(ix: Index): Finding[] {
  const matches: Match[] = [];
  for (const g of ix.groups) {
    if (g.length < 3) continue;
    let anchors = 0;
    for (const p of g) if (!p.fast && (p.op === Op.Sqrt || p.op === Op.Exp || p.op === Op.Softmax || p.op === Op.Sin)) anchors++;
    if (anchors === 0) continue;
    const claimed = new Uint8Array(g.length);
    const claim = (m: Match) => {
      for (const i of m.idx) claimed[i] = 1;
      matches.push(m);
    };
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Sqrt && !g[k].fast) { const m = matchNorm(g, k, claimed); if (m) claim(m); }
    // Hand softmaxes first, so an attention block built around one is reported once, as attention.
    const softmaxes: Match[] = [];
    for (let k = 0; k < g.length; k++) {
      if (g[k].op !== Op.Exp || g[k].fast || claimed[k]) continue;
      const m = matchSoftmax(g, k, claimed);
      if (m) {
        for (const i of m.idx) claimed[i] = 1;
        softmaxes.push(m);
      }
    }
    const inAttention = new Set<Match>();
    const softmaxAt: { start: number; end: number; sm?: Match }[] = [];
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Softmax && !g[k].fast && !claimed[k]) softmaxAt.push({ start: k, end: k });
    for (const sm of softmaxes) softmaxAt.push({ start: sm.idx[0], end: sm.idx[sm.idx.length - 1], sm });
    for (const a of softmaxAt) {
      const m = matchAttention(g, a.start, a.end, claimed);
      if (!m) continue;
      if (a.sm) {
        inAttention.add(a.sm);
        m.idx.push(...a.sm.idx);
      }
      claim(m);
    }
    for (const sm of softmaxes) if (!inAttention.has(sm)) matches.push(sm);
    for (let k = 0; k < g.length; k++) if (g[k].op === Op.Sin && !g[k].fast && !claimed[k]) { const m = matchRope(g, k, claimed); if (m) claim(m); }
  }
  const byKind = new Map<FusedKind, Match[]>();
  for (const m of matches) {
    let a = byKind.get(m.kind);
    if (!a) byKind.set(m.kind, (a = []));
    a.push(m);
  }
  const findings: Finding[] = [];
  for (const [kind, list] of byKind) {
    const prims: Prim[] = [];
    let atStake = 0;
    let total = 0;
    for (const m of list) {
      let sum = 0;
      let keep = 0;
      for (const i of m.idx) {
        const p = m.group[i];
        // Patterns are anchored on hand-written ops but may pass through fallback ones, never reported.
        if (p.fast) continue;
        prims.push(p);
        sum += p.dur;
        // The fused kernel still does one pass (norms, rope, softmax) or the two matmuls (attention).
        keep = kind === 'sdpa' ? keep + (p.op === Op.Matmul ? p.dur : 0) : Math.max(keep, p.dur);
      }
      total += sum;
      atStake += Math.max(0, sum - keep);
    }
    // One primitive per match stands for its layer: all of a match comes from one group.
    const where = layerList(
      list.map((m) => m.group[m.idx[0]]),
      list.map((m) => m.idx.length),
    );
    const t = FUSED_TEXT[kind];
    findings.push({
      rule: 'unfused-op',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${t.what}: ${plural(list.length, 'place')}` +
        (where ? ` (${where})` : '') +
        `, ${plural(prims.length, 'primitive')} taking ${formatDuration(total)}.`,
      evidence: evidenceOf(prims.map((p) => p.span)),
      suggestion: t.fix,
      timeAtStake: atStake,
    });
  }
  return findings;
}

/**
 * Nearest unclaimed index before `from` (down to lo) whose op is in the bit set `ops` (1 << Op.X | ...)
 * and that passes `ok`, or -1. The op test comes first, so the predicate runs on few candidates.
 */
function back(g: Group, from: number, lo: number, claimed: Uint8Array, ops: number, ok?: (p: Prim) => boolean): number {
  for (let i = from; i >= Math.max(0, lo); i--) if (((ops >>> g[i].op) & 1) !== 0 && !claimed[i] && (!ok || ok(g[i]))) return i;
  return -1;
}

function fwd(g: Group, from: number, hi: number, claimed: Uint8Array, ops: number, ok?: (p: Prim) => boolean): number {
  for (let i = from; i <= Math.min(g.length - 1, hi); i++) if (((ops >>> g[i].op) & 1) !== 0 && !claimed[i] && (!ok || ok(g[i]))) return i;
  return -1;
}

/** Every op, for fwd/back. */
const ANY_OP = -1;
const NONE_CLAIMED = new Uint8Array(0);

/** Non-view ops in (lo, hi) whose output has shape a or b: the eps add, 1/N scaling, mask add... */
function interior(g: Group, lo: number, hi: number, claimed: Uint8Array, a: number[] | undefined, b: number[] | undefined, into: number[]) {
  for (let i = lo + 1; i < hi; i++) {
    if (claimed[i] || g[i].op === Op.View || into.includes(i)) continue;
    const s = out0(g[i])?.shape;
    if (sameShape(s, a) || sameShape(s, b)) into.push(i);
  }
}

/** RMSNorm / LayerNorm, anchored at the (r)sqrt: square -> reduce -> [+eps] -> rsqrt -> multiply. */
function matchNorm(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const normShape = in0(g[k])?.shape;
  const r = back(g, k - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(out0(p)?.shape, normShape));
  if (r < 0) return null;
  const rowShape = in0(g[r])?.shape;
  const sq = back(g, r - 1, k - W, claimed, (1 << Op.Square), (p) => sameShape(out0(p)?.shape, rowShape));
  if (sq < 0) return null;
  const x = in0(g[sq])?.shape;
  const m = fwd(g, k + 1, k + W, claimed, (1 << Op.Mul) | (1 << Op.Div), (p) => hasInputShape(p, x));
  if (m < 0) return null;
  const idx = [sq, r, k, m];
  // x - mean(x) in front of the square makes it a layer norm.
  const sub = back(g, sq - 1, k - W, claimed, (1 << Op.Sub), (p) => sameShape(out0(p)?.shape, x));
  let kind: FusedKind = 'rmsNorm';
  let first = sq;
  if (sub >= 0) {
    kind = 'layerNorm';
    idx.push(sub);
    first = sub;
    const mean = back(g, sub - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, x));
    if (mean >= 0) {
      idx.push(mean);
      first = mean;
    }
  }
  // The weight (and bias) applied right after.
  let last = m;
  for (let n = 0; n < 2; n++) {
    const w = fwd(g, last + 1, last + 4, claimed, (1 << Op.Mul) | (1 << Op.Add), (p) => sameShape(out0(p)?.shape, x));
    if (w < 0) break;
    idx.push(w);
    last = w;
  }
  interior(g, first, last, claimed, normShape, x, idx);
  return { kind, group: g, idx };
}

/** A softmax written out: [max, subtract] -> exp -> sum -> divide, anchored at the exp. */
function matchSoftmax(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const shape = out0(g[k])?.shape;
  if (!shape || shape.length === 0) return null;
  const r = fwd(g, k + 1, k + W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, shape));
  if (r < 0) return null;
  const d = fwd(g, r + 1, k + W, claimed, (1 << Op.Div), (p) => sameShape(out0(p)?.shape, shape) && hasInputShape(p, shape));
  if (d < 0) return null;
  const idx = [k, r, d];
  let first = k;
  const sub = back(g, k - 1, k - W, claimed, (1 << Op.Sub), (p) => sameShape(out0(p)?.shape, in0(g[k])?.shape));
  if (sub >= 0) {
    idx.push(sub);
    first = sub;
    const mx = back(g, sub - 1, k - W, claimed, (1 << Op.Reduce), (p) => sameShape(in0(p)?.shape, shape));
    if (mx >= 0) {
      idx.push(mx);
      first = mx;
    }
  }
  interior(g, first, d, claimed, shape, undefined, idx);
  idx.sort((a, b) => a - b);
  return { kind: 'softmax', group: g, idx };
}

/** scores = q @ k^T (scaled, masked) -> softmax -> @ v, anchored at the softmax (start..end in the group). */
function matchAttention(g: Group, start: number, end: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const scores = in0(g[start])?.shape;
  if (!scores || scores.length < 2) return null;
  const m1 = back(g, start - 1, start - W, claimed, (1 << Op.Matmul), (p) => sameShape(out0(p)?.shape, scores));
  if (m1 < 0) return null;
  const probs = out0(g[end])?.shape;
  const m2 = fwd(g, end + 1, end + W, claimed, (1 << Op.Matmul), (p) => sameShape(in0(p)?.shape, probs));
  if (m2 < 0) return null;
  const idx = [m1, m2];
  if (start === end) idx.push(start);
  interior(g, m1, start, claimed, scores, undefined, idx);
  return { kind: 'sdpa', group: g, idx };
}

/** Rotary embedding: sin and cos of the same angles, then x1*cos - x2*sin (and +), anchored at the sin. */
function matchRope(g: Group, k: number, claimed: Uint8Array): Match | null {
  const W = L.window;
  const angles = out0(g[k])?.shape;
  let c = -1;
  const isCos = (i: number) => i >= 0 && i < g.length && !claimed[i] && g[i].op === Op.Cos && sameShape(out0(g[i])?.shape, angles);
  for (let d = 1; d <= W && c < 0; d++) {
    if (isCos(k - d)) c = k - d;
    else if (isCos(k + d)) c = k + d;
  }
  if (c < 0) return null;
  const lo = Math.min(k, c);
  const hi = Math.max(k, c);
  const m = fwd(g, hi + 1, hi + W, claimed, (1 << Op.Mul));
  if (m < 0) return null;
  const rotated = out0(g[m])?.shape;
  const a = fwd(g, m + 1, hi + W, claimed, (1 << Op.Sub) | (1 << Op.Add), (p) => sameShape(out0(p)?.shape, rotated));
  if (a < 0) return null;
  const idx = [k, c];
  let last = a;
  for (let i = lo + 1; i <= Math.min(g.length - 1, a + 8); i++) {
    if (claimed[i] || i === k || i === c) continue;
    const p = g[i];
    const arith = p.op === Op.Mul || p.op === Op.Add || p.op === Op.Sub || p.op === Op.Concat;
    if (arith && (sameShape(out0(p)?.shape, rotated) || p.op === Op.Concat)) {
      idx.push(i);
      last = Math.max(last, i);
    }
  }
  if (last < a) return null;
  return { kind: 'rope', group: g, idx };
}

// ---------------------------------------------------------------------------------------------------------------
// Rule 3: evaluation cadence

/**
 * Every eval (and every item()/tolist(), which evaluates) has a fixed overhead: evaluate once per
 * iteration, not per element; but a graph that grows too big before an eval is expensive too.
 * (Writing Fast MLX, "Graph Evaluation".)
 */
function evalCadence(ix: Index): Finding[] {
  if (ix.jsTiming) return []; // JS-timed traces do not put primitives under evals
  const findings: Finding[] = [];
  // Runs of small evals/syncs in a row under the same parent (a step, a request, or the top level) that,
  // together, spend more time in eval overhead than in their primitives. Smallness is structural (few
  // primitives) so that one eval slowed down by the machine does not split a run.
  const runs: EvalInfo[][] = [];
  const current = new Map<number | null, EvalInfo[]>();
  const close = (key: number | null) => {
    const r = current.get(key);
    current.delete(key);
    if (!r || r.length < L.smallEvalRun) return;
    let wall = 0;
    let prim = 0;
    for (const e of r) {
      wall += Math.max(0, e.span.end - e.span.start);
      prim += e.primNs;
    }
    if (wall - prim >= prim) runs.push(r);
  };
  for (const e of ix.evals) {
    const small = e.prims <= L.smallEvalPrimitives;
    const key = e.span.parentId;
    if (!small) {
      close(key);
      continue;
    }
    let r = current.get(key);
    if (!r) current.set(key, (r = []));
    r.push(e);
  }
  for (const key of [...current.keys()]) close(key);
  if (runs.length > 0) {
    let atStake = 0;
    let runCount = 0;
    let syncs = 0;
    let longest = 0;
    const spans: Span[] = [];
    for (const r of runs) {
      let sum = 0;
      let max = 0;
      for (const e of r) {
        const over = Math.max(0, e.span.end - e.span.start - e.primNs);
        sum += over;
        max = Math.max(max, over);
        spans.push(e.span);
        if (e.span.kind === 'sync') syncs++;
      }
      // Merged into one eval, a run pays the overhead once.
      atStake += sum - max;
      runCount += r.length;
      longest = Math.max(longest, r.length);
    }
    const what = syncs === runCount ? 'sync points (item()/tolist())' : syncs > 0 ? 'evals and sync points' : 'evals';
    findings.push({
      rule: 'eval-too-often',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${count(runCount)} small ${what} in ${plural(runs.length, 'run')} (up to ${count(longest)} in a row), ` +
        `each running at most ${L.smallEvalPrimitives} primitives, together spending more time in eval overhead ` +
        `than in the primitives: ${formatDuration(atStake)} of overhead that one eval would not pay.`,
      evidence: evidenceOf(spans),
      suggestion:
        'Evaluate once per iteration (one token, one optimizer step) instead of per element: build the whole ' +
        'computation and call mx.eval once, keep loops over elements inside MLX ops, and read many values at ' +
        'once with tolist() instead of item() in a loop.',
      timeAtStake: atStake,
    });
  }
  const big = ix.evals.filter((e) => e.prims > L.graphPrimitives);
  if (big.length > 0) {
    let atStake = 0;
    let maxPrims = 0;
    for (const e of big) {
      atStake += Math.max(0, e.span.end - e.span.start - e.primNs);
      maxPrims = Math.max(maxPrims, e.prims);
    }
    findings.push({
      rule: 'graph-too-large',
      severity: severityFor(atStake, ix.busyNs) === 'critical' ? 'critical' : 'warning',
      message:
        `${plural(big.length, 'eval')} ran a graph of more than ${formatCount(L.graphPrimitives)} primitives ` +
        `(up to ${count(maxPrims)}); ${formatDuration(atStake)} of their time is eval overhead, not primitives.`,
      evidence: evidenceOf(big.map((e) => e.span)),
      suggestion:
        'Evaluate at the end of each iteration of the loop that builds the graph (once per step) instead of ' +
        'letting one graph grow across many iterations.',
      timeAtStake: atStake,
    });
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------------
// Rule 4: recompilation

/**
 * mx.compile compiles again when an input shape or a constant (non-array) argument changes, and compiling
 * is expensive. Seen in a trace (CPU build, checked by running it): the first execution of each newly
 * compiled kernel is a Compiled primitive that takes seconds (the backend builds the kernel's code) instead
 * of microseconds. (Writing Fast MLX, "Compile".)
 */
function recompiles(ix: Index): Finding[] {
  if (ix.jsTiming || ix.compiled.length < 2) return [];
  const bandwidth = ix.trace.meta?.peaks?.bandwidth > 0 ? ix.trace.meta.peaks.bandwidth : 20e9;
  // A call site: the layer that called the compiled function and the function's dtype signature.
  interface Site { calls: Prim[]; lastEval: number | null; builds: Prim[]; again: Prim[] }
  const sites = new Map<string, Site>();
  for (const p of ix.compiled) {
    const s = p.span;
    const sig = (s.inputs ?? []).map((t) => t.dtype).join(',') + '>' + (s.outputs ?? []).map((t) => t.dtype).join(',');
    const key = `${s.layerId ?? s.layer ?? ''}|${sig}`;
    let site = sites.get(key);
    if (!site) sites.set(key, (site = { calls: [], lastEval: null, builds: [], again: [] }));
    let io = 0;
    for (const t of s.inputs ?? []) io += t.bytes;
    for (const t of s.outputs ?? []) io += t.bytes;
    const expected = (io / bandwidth) * 1e9 + 20_000;
    const built = p.dur >= L.jitMinNs && p.dur >= L.jitFactor * expected;
    // Two different compiled functions called from one layer both build in their first eval; a build in a
    // later eval than an earlier call of the same site is a recompilation.
    if (built) {
      if (site.calls.length > 0 && site.calls.some((c) => c.span.parentId !== s.parentId)) site.again.push(p);
      site.builds.push(p);
    }
    site.calls.push(p);
  }
  const again: Prim[] = [];
  const shapeChanges: string[] = [];
  let sameShapes = 0;
  for (const site of sites.values()) {
    if (site.again.length === 0) continue;
    again.push(...site.again);
    const sigs = site.builds.map((p) => (p.span.inputs ?? []).map((t) => shapeText(t.shape)).join(' '));
    if (new Set(sigs).size > 1) shapeChanges.push(`${sigs[0]} -> ${sigs[sigs.length - 1]}`);
    else sameShapes++;
  }
  if (again.length === 0) return [];
  let atStake = 0;
  for (const p of again) atStake += p.dur;
  const where = layerList(again);
  const why =
    shapeChanges.length > 0 && sameShapes === 0
      ? `its input shapes changed (${shapeChanges[0]})`
      : shapeChanges.length > 0
        ? `input shapes changed (${shapeChanges[0]}) and, elsewhere, a constant argument`
        : 'with the same input shapes, so a constant (a JS number argument) changed between calls';
  return [
    {
      rule: 'recompile',
      severity: severityFor(atStake, ix.busyNs) === 'info' ? 'warning' : severityFor(atStake, ix.busyNs),
      message:
        `A compiled function${where ? ` called in ${where}` : ''} was compiled again ${plural(again.length, 'time')} ` +
        `after its first use (${formatDuration(atStake)} building kernels): ${why}.`,
      evidence: evidenceOf(again.map((p) => p.span)),
      suggestion:
        'Pass values that change between calls as mx.array arguments, not JS numbers; keep input shapes ' +
        'fixed (pad to a few sizes), or compile with shapeless=true (mx.compile(fn, true)) when only shapes change.',
      timeAtStake: atStake,
    },
  ];
}

// ---------------------------------------------------------------------------------------------------------------
// Rule 5: memory

/**
 * Peak memory is what decides whether a model fits: materializing arrays before casting or holding
 * temporaries during an eval raises it above what the program keeps. (Writing Fast MLX, "Memory Use": lazy
 * loading, release temporaries.) In Node, an array's memory is released when its JS object is collected.
 */
function memoryPeak(ix: Index): Finding[] {
  const mem = ix.trace.memory ?? [];
  if (mem.length < 2) return [];
  let peak = -Infinity;
  let peakAt = 0;
  for (let i = 0; i < mem.length; i++) {
    if (mem[i].live > peak) {
      peak = mem[i].live;
      peakAt = i;
    }
  }
  // The working set: live bytes between evals (after each one ends), where an iterative program rests.
  const samples: number[] = [];
  let j = -1;
  for (const e of ix.evals) {
    while (j + 1 < mem.length && mem[j + 1].t <= e.span.end) j++;
    if (j >= 0) samples.push(mem[j].live);
  }
  const working = samples.length >= 3 ? median(samples) : mem[mem.length - 1].live;
  if (!(peak >= L.peakRatio * working && peak - working >= L.peakMinExcess)) return [];

  // What filled it: the largest allocations since live was last at the working set.
  let from = peakAt;
  while (from > 0 && mem[from - 1].live > working) from--;
  const allocs = largestAllocations(mem, from, peakAt, 20);
  const spans: Span[] = [];
  const peakEval = evalAt(ix.evals, mem[peakAt].t);
  if (peakEval) spans.push(peakEval.span);
  for (const a of allocs) {
    const p = primAt(ix.prims, a.t);
    if (p) spans.push(p.span);
  }
  const total = ix.trace.meta?.host?.totalMemory ?? 0;
  const excess = peak - working;
  return [
    {
      rule: 'memory-peak',
      severity: total > 0 && excess >= total / 4 ? 'critical' : 'warning',
      message:
        `Memory peaked at ${formatBytes(peak)}${peakEval ? ` during ${peakEval.span.kind} ${peakEval.span.id}` : ''}, ` +
        `${(peak / Math.max(1, working)).toFixed(1)}x the ${formatBytes(working)} the program holds between evals ` +
        `(median): ${formatBytes(excess)} of arrays alive at once that are not kept.`,
      evidence: evidenceOf(spans),
      suggestion:
        'Do not materialize what you convert right after (cast or load weights in their final dtype before ' +
        'mx.eval), evaluate large batches in pieces, and drop references to arrays you no longer need before ' +
        'calling mx.eval (in Node an array is freed when its JS object is garbage-collected).',
      timeAtStake: 0,
    },
  ];
}

/** Single arrays far larger than the program's working set, consumed within the same eval. */
function largeTemporaries(ix: Index): Finding[] {
  if (ix.jsTiming) return [];
  const mem = ix.trace.memory ?? [];
  // Live bytes before each eval, when the allocator was recorded.
  const liveBefore = new Map<number, number>();
  if (mem.length > 0) {
    let j = -1;
    for (const e of ix.evals) {
      while (j + 1 < mem.length && mem[j + 1].t < e.span.start) j++;
      liveBefore.set(e.span.id, j >= 0 ? mem[j].live : 0);
    }
  }
  const temps: Prim[] = [];
  const users: Prim[] = [];
  let largest = 0;
  let largestShape: number[] | undefined;
  for (const g of ix.groups) {
    for (let i = 0; i < g.length; i++) {
      const p = g[i];
      const o = out0(p);
      if (p.fast || !o || p.op === Op.View || !(o.bytes >= L.tempMinBytes)) continue;
      const base = p.span.parentId != null ? liveBefore.get(p.span.parentId) : undefined;
      if (base !== undefined && !(o.bytes >= L.tempFactor * base)) continue;
      // Consumed later in the same layer group: a temporary, not a result the program keeps.
      const u = fwd(g, i + 1, i + L.window, NONE_CLAIMED, ANY_OP, (q) => (q.span.inputs ?? []).some((t) => sameShape(t?.shape, o.shape) && t.dtype === o.dtype));
      if (u < 0) continue;
      temps.push(p);
      if (!g[u].fast) users.push(g[u]);
      if (o.bytes > largest) {
        largest = o.bytes;
        largestShape = o.shape;
      }
    }
  }
  if (temps.length === 0) return [];
  let atStake = 0;
  for (const p of temps) atStake += p.dur;
  const where = layerList(temps);
  return [
    {
      rule: 'large-temporary',
      severity: severityFor(atStake, ix.busyNs) === 'info' ? 'warning' : severityFor(atStake, ix.busyNs),
      message:
        `${plural(temps.length, 'temporary array')} of ${formatBytes(L.tempMinBytes)} or more (largest ` +
        `${formatBytes(largest)}, shape ${shapeText(largestShape)})${where ? ` in ${where}` : ''}, far larger than ` +
        `the memory the program held before the eval; writing them took ${formatDuration(atStake)}.`,
      evidence: evidenceOf([...temps, ...users].map((p) => p.span)),
      suggestion:
        'Avoid materializing broadcast intermediates: use matmul / mx.addmm or mx.fast kernels instead of ' +
        'broadcast-multiply-then-sum, reduce earlier, or process the data in chunks.',
      timeAtStake: atStake,
    },
  ];
}

/** The k largest allocations in mem[from..to], without sorting them all (the climb can be the whole trace). */
function largestAllocations(mem: MemoryEvent[], from: number, to: number, k: number): MemoryEvent[] {
  const top: MemoryEvent[] = [];
  for (let i = from; i <= to; i++) {
    const e = mem[i];
    if (e.delta <= 0 || (top.length === k && e.delta <= top[k - 1].delta)) continue;
    let j = Math.min(top.length, k - 1);
    while (j > 0 && top[j - 1].delta < e.delta) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = e;
  }
  return top;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The eval running at t, or the last one started before it. */
function evalAt(evals: EvalInfo[], t: number): EvalInfo | null {
  let lo = 0;
  let hi = evals.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (evals[mid].span.start <= t) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best >= 0 ? evals[best] : null;
}

/** The primitive running at t (the last one started at or before t, if it has not ended). */
function primAt(prims: Prim[], t: number): Prim | null {
  let lo = 0;
  let hi = prims.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (prims[mid].span.start <= t) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best >= 0 && prims[best].span.end >= t ? prims[best] : null;
}

// ---------------------------------------------------------------------------------------------------------------
// Entry points

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/**
 * What to fix in the traced program, most severe (then most time at stake) first. Pure: reads the trace,
 * changes nothing. Throws a TypeError with one line when `trace` is not a Trace.
 */
export function advise(trace: Trace): Finding[] {
  assertTrace(trace, 'advise');
  const ix = buildIndex(trace);
  const findings = [
    ...typePromotion(ix),
    ...unfusedOps(ix),
    ...evalCadence(ix),
    ...recompiles(ix),
    ...memoryPeak(ix),
    ...largeTemporaries(ix),
  ];
  return findings.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.timeAtStake - a.timeAtStake);
}

export interface FormatFindingsOptions {
  /** ANSI color; never on when NO_COLOR is set. @default false */
  color?: boolean;
  /** Evidence ids shown per finding. @default 8 */
  evidenceLimit?: number;
}

/** Findings as terminal lines: severity, rule and message, then the suggestion and evidence span ids. */
export function formatFindings(findings: Finding[], opts: FormatFindingsOptions = {}): string[] {
  const c = makeColors(opts.color === true && !noColorRequested());
  if (findings.length === 0) return ['No findings: nothing in this trace matches a known MLX performance pitfall.'];
  const limit = Math.max(0, opts.evidenceLimit ?? 8);
  const paint: Record<Severity, (s: string) => string> = { critical: c.red, warning: c.yellow, info: c.cyan };
  const lines: string[] = [];
  const width = Math.max(...findings.map((f) => f.severity.length));
  findings.forEach((f, i) => {
    if (i > 0) lines.push('');
    const stake = f.timeAtStake > 0 ? c.dim(` (${formatDuration(f.timeAtStake)} at stake)`) : '';
    lines.push(`${paint[f.severity](f.severity.padEnd(width))}  ${c.bold(f.rule)}  ${f.message}${stake}`);
    const indent = ' '.repeat(width + 2);
    lines.push(`${indent}fix: ${f.suggestion}`);
    if (f.evidence.length > 0) {
      const shown = f.evidence.slice(0, limit).join(', ');
      const more = f.evidence.length > limit ? ` (+${count(f.evidence.length - limit)} more)` : '';
      lines.push(c.dim(`${indent}spans: ${shown}${more}`));
    }
  });
  return lines;
}
