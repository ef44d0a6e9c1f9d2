/**
 * The advisor's index: one pass over the spans groups primitives by the eval that ran them and the layer that
 * built them (in execution order), with op names resolved to small integer codes once per distinct name, so each
 * rule makes one linear pass. Busy time, the base of every severity share, comes from the one aggregation.
 */
import type { Span, TensorInfo, Trace } from '../../model/trace';
import { layerResolver } from '../../model/span-facts';
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
  /** The layer that built it (span-facts layerOf; NO_LAYER when none). */
  layer: string;
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
  /** Busy time (aggregate.ts): evals, asyncEval work and sync points, each instant once; the base of every share. */
  busyNs: number;
  jsTiming: boolean;
}

export function buildIndex(trace: Trace): Index {
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
  const layerOf = layerResolver(trace);
  let upcasts = false;
  let lastParent: number | null | undefined = undefined;
  let lastLayers: Map<number | string | null, Group> | undefined;
  for (const s of trace.spans) {
    if (s.kind !== 'primitive') continue;
    const dur = Math.max(0, s.end - s.start);
    const ev = s.parentId != null ? evalsById.get(s.parentId) : undefined;
    if (ev) {
      ev.prims++;
      ev.primNs += dur;
    }
    const name = opName(s);
    let op = opCache.get(name);
    if (op === undefined) opCache.set(name, (op = OP_BY_NAME[name] ?? Op.Other));
    const fast = !!s.attrs?.fast;
    const p: Prim = { span: s, name, op, dur, layer: layerOf(s), fast };
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
  const busyNs = aggregate(trace, { by: [] }).busy.ns;
  return { trace, groups, evals, compiled, prims, upcasts, busyNs, jsTiming: trace.meta?.timing === 'js' };
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
