/**
 * The advisor's index: one pass over the spans groups primitives by the eval that ran them and the layer that
 * built them (in execution order), with op names resolved to small integer codes once per distinct name, so each
 * rule makes one linear pass. Busy time, the base of every severity share, comes from the one aggregation.
 */
import type { Span, TensorInfo, Trace } from '../../model/trace';
import { layerOf as layerOfSpan } from '../../model/span-facts';
import { aggregate } from '../aggregate';

export const HALF = new Set<string | undefined>(['float16', 'bfloat16']);

// ---------------------------------------------------------------------------------------------------------------
// Op codes: names resolved once per distinct name, so the rules compare small integers.

export const enum Op {
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
export const CPU_FLOAT32_ONLY = new Set(['Matmul', 'AddMM', 'BlockMaskedMM', 'GatherMM', 'Convolution']);

/** The op's MLX class name: native spans carry it as name; JS-timed spans keep it in attrs.costOp. */
function opName(s: Span): string {
  const c = s.attrs?.costOp;
  return typeof c === 'string' ? c : s.name;
}

// ---------------------------------------------------------------------------------------------------------------
// Index: one pass over the spans.

/** A primitive as the rules see it. */
export interface Prim {
  span: Span;
  name: string;
  op: Op;
  dur: number;
  /** From an mx.fast fallback graph (attrs.fast): never reported, never a pattern's anchor. */
  fast: boolean;
}

/** Primitives run by one eval (or sync point) and built by one layer, in execution order. */
export type Group = Prim[];

export interface EvalInfo {
  span: Span;
  prims: number;
  primNs: number;
}

export interface Index {
  trace: Trace;
  groups: Group[];
  /** Eval and sync spans in start order, with the primitives each ran (fast-marked ones included). */
  evals: EvalInfo[];
  compiled: Prim[];
  /** Primitives not from an mx.fast fallback, in start order. Groups hold all, fast-marked ones flagged. */
  prims: Prim[];
  /** Whether any (not fast-marked) AsType turns half-precision data into float32. */
  upcasts: boolean;
  /** The layer that built a primitive (span-facts layerOf; NO_LAYER when none). */
  layerOf: (s: Span) => string;
  /** Busy time (aggregate.ts): evals, asyncEval work and sync points, each instant once; the base of every share. */
  busyNs: number;
  jsTiming: boolean;
}

export function buildIndex(trace: Trace): Index {
  const evalsById = new Map<number, EvalInfo>();
  const evals: EvalInfo[] = [];
  // Layer spans by id, for the layer a finding names (span-facts layerOf).
  const layers = new Map<number, Span>();
  for (const s of trace.spans) {
    if (s.kind === 'eval' || s.kind === 'sync') {
      const e = { span: s, prims: 0, primNs: 0 };
      evalsById.set(s.id, e);
      evals.push(e);
    } else if (s.kind === 'layer') layers.set(s.id, s);
  }
  // The primitives are indexed during the aggregation's pass, which also gives busy time.
  const b = new PrimIndexer(evalsById);
  const busyNs = aggregate(trace, { by: [], rows: false, onPrimitive: (s) => b.add(s) }).busy.ns;
  const { groups, compiled, prims, upcasts } = b.finish();
  evals.sort((x, y) => x.span.start - y.span.start);
  const layerSpan = (id: number) => layers.get(id);
  const layerOf = (s: Span) => layerOfSpan(s, layerSpan);
  return { trace, groups, evals, compiled, prims, upcasts, layerOf, busyNs, jsTiming: trace.meta?.timing === 'js' };
}

/**
 * Primitives, in trace order, into groups by eval and layer (each eval's count and time added up on the way).
 * Primitives of one eval, built by one layer, come together: the eval, its layer map and the group are looked up
 * once per run of them, and an op name once per run of one name. Whether the lists come in start order is checked
 * as they fill (the primitive just added is at hand), so only lists out of order are sorted.
 */
class PrimIndexer {
  private readonly byEval = new Map<number | null, Map<number | string | null, Group>>();
  private readonly groups: Group[] = [];
  private readonly compiled: Prim[] = [];
  private readonly prims: Prim[] = [];
  private readonly opCache = new Map<string, Op>();
  private upcasts = false;
  /** NaN equals nothing, so the first primitive always looks its eval up. */
  private lastParent: number | null | undefined = NaN;
  private lastEval: EvalInfo | undefined;
  private lastLayers = new Map<number | string | null, Group>();
  private lastKey: number | string | null | undefined = undefined;
  private lastGroup: Group | undefined;
  private lastName: string | undefined;
  private lastOp: Op = Op.Other;
  private readonly unsorted = new Set<Group>();
  private primsSorted = true;
  private lastPrimStart = -Infinity;

  constructor(private readonly evalsById: Map<number, EvalInfo>) {}

  add(s: Span): void {
    const dur = Math.max(0, s.end - s.start);
    if (s.parentId !== this.lastParent) {
      this.lastParent = s.parentId;
      this.lastEval = s.parentId != null ? this.evalsById.get(s.parentId) : undefined;
      let layers = this.byEval.get(s.parentId);
      if (!layers) this.byEval.set(s.parentId, (layers = new Map()));
      this.lastLayers = layers;
      this.lastKey = undefined;
    }
    if (this.lastEval) {
      this.lastEval.prims++;
      this.lastEval.primNs += dur;
    }
    const name = opName(s);
    let op = this.lastOp;
    if (name !== this.lastName) {
      const known = this.opCache.get(name);
      if (known === undefined) this.opCache.set(name, (op = OP_BY_NAME[name] ?? Op.Other));
      else op = known;
      this.lastName = name;
      this.lastOp = op;
    }
    const fast = !!s.attrs?.fast;
    const p: Prim = { span: s, name, op, dur, fast };
    if (!fast) {
      if (s.start < this.lastPrimStart) this.primsSorted = false;
      this.lastPrimStart = s.start;
      this.prims.push(p);
      if (op === Op.Compiled) this.compiled.push(p);
      else if (op === Op.AsType && !this.upcasts) this.upcasts = HALF.has(s.inputs?.[0]?.dtype) && s.outputs?.[0]?.dtype === 'float32';
    }
    const lk = s.layerId ?? s.layer ?? null;
    let g = this.lastGroup;
    if (lk !== this.lastKey || !g) {
      g = this.lastLayers.get(lk);
      if (!g) {
        this.lastLayers.set(lk, (g = []));
        this.groups.push(g);
      }
      this.lastGroup = g;
      this.lastKey = lk;
    }
    const n = g.length;
    if (n && s.start < g[n - 1].span.start) this.unsorted.add(g);
    g.push(p);
  }

  finish(): Pick<Index, 'groups' | 'compiled' | 'prims' | 'upcasts'> {
    const byStart = (a: Prim, b: Prim) => a.span.start - b.span.start;
    for (const g of this.unsorted) g.sort(byStart);
    if (!this.primsSorted) this.prims.sort(byStart);
    if (!isSorted(this.compiled)) this.compiled.sort(byStart);
    return { groups: this.groups, compiled: this.compiled, prims: this.prims, upcasts: this.upcasts };
  }
}

function isSorted(a: Prim[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i].span.start < a[i - 1].span.start) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers

export const out0 = (p: Prim): TensorInfo | undefined => p.span.outputs?.[0];
export const in0 = (p: Prim): TensorInfo | undefined => p.span.inputs?.[0];

export function sameShape(a: number[] | undefined, b: number[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hasInputShape(p: Prim, shape: number[] | undefined): boolean {
  for (const t of p.span.inputs ?? []) if (sameShape(t?.shape, shape)) return true;
  return false;
}

export const shapeText = (s: number[] | undefined) => (s ? `[${s.join(',')}]` : '[?]');

/**
 * Nearest unclaimed index before `from` (down to lo) whose op is in the bit set `ops` (1 << Op.X | ...)
 * and that passes `ok`, or -1. The op test comes first, so the predicate runs on few candidates.
 */
export function back(g: Group, from: number, lo: number, claimed: Uint8Array, ops: number, ok?: (p: Prim) => boolean): number {
  for (let i = from; i >= Math.max(0, lo); i--) if (((ops >>> g[i].op) & 1) !== 0 && !claimed[i] && (!ok || ok(g[i]))) return i;
  return -1;
}

export function fwd(g: Group, from: number, hi: number, claimed: Uint8Array, ops: number, ok?: (p: Prim) => boolean): number {
  for (let i = from; i <= Math.min(g.length - 1, hi); i++) if (((ops >>> g[i].op) & 1) !== 0 && !claimed[i] && (!ok || ok(g[i]))) return i;
  return -1;
}

/** Every op, for fwd/back. */
export const ANY_OP = -1;
export const NONE_CLAIMED = new Uint8Array(0);
