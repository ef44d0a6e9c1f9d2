/**
 * Shapes and dtypes of JS-level op calls without asking node-mlx: every getter is a native call
 * (a.shape the dearest), so reading one output's shape and dtype costs about half of what building a
 * small op costs (bench: js.wrap_ns_per_op).
 *
 * Per-array info: each array's TensorInfo is kept on the array under a symbol (`a[INFO]`), set once,
 * invisible to for-in, Object.keys and JSON. A symbol property rather than a WeakMap: a WeakMap hashes
 * on every get and set and adds ephemeron work to every GC, which js.wrap_ns_per_op shows.
 * TensorInfo objects are interned: one frozen object per (dtype, shape).
 *
 * The memo (OpShapes, one per op function) and why it is exact: MLX infers an op's output shapes and
 * dtypes when the op is built, from the op, its inputs' shapes and dtypes and its other arguments,
 * never from array values (MLX has no data-dependent shapes), device or stream. A call's key is its
 * argument count followed by one or more keys per argument:
 * - an MLX array: its TensorInfo object. Every TensorInfo is frozen (and no one writes its shape
 *   array), so an identity stands for one (dtype, shape) for as long as it lives (interning only makes equal infos one identity, for hits);
 * - a number, string, boolean, undefined or null: the value itself (Map keys compare by SameValueZero:
 *   0 and -0 are one key, which no op tells apart, and NaN is one key);
 * - a node-mlx Dtype: the object (node-mlx hands out one per dtype; identity is exact either way);
 * - a plain array of at most 8 numbers and MLX arrays (shapes, axes, a short list to concatenate): a
 *   BEGIN marker, its elements' keys, an END marker.
 * Anything else (option objects, typed arrays, nested or long arrays, Stream objects, functions) makes
 * the call un-memoizable: its infos are read from the arrays. Each argument's keys delimit themselves
 * and the count comes first, so no key sequence is a prefix of another: a path ends at one leaf.
 * The leaf holds the outputs' infos, read with the getters on the first call, and the inputs' infos in
 * the primitive's order, both arrays that spans share (read-only, as the trace model says). A hit asks node-mlx nothing, and gives
 * the output arrays their info, so the next op that takes them needs no getter either.
 *
 * The memo is bounded: past `cap` entries (map nodes, leaves and interned infos, all ops together)
 * every memo and the intern table are cleared, so a program with endless distinct shapes cannot grow it without end.
 */
import { dtypeItemsize } from '../../core/cost';
import type { TensorInfo } from '../../core/model/trace';

/** Where an MLX array keeps its interned TensorInfo. */
export const INFO: unique symbol = Symbol('mlx-trace.tensorInfo');


/** Interned TensorInfo by `${dtype}:${shape}`. */
let interned = new Map<string, TensorInfo>();
/** node-mlx hands out one Dtype object per dtype: map it to its name without a native toString. */
const dtypeNames = new Map<unknown, string>();

const NoMlxArray = class NoMlxArray {};
let arrayClass: Function = NoMlxArray;
let dtypeClass: Function | null = null;

/** Learns node-mlx's array and Dtype classes from its core module (instanceof tests on the hot path). */
export function setMlxClasses(core: any): void {
  arrayClass = core.array;
  // The dtypes are instances of one class (mx.float32 === a.dtype when a is float32).
  const d = core.float32 != null && typeof core.float32 === 'object' ? core.float32.constructor : null;
  dtypeClass = typeof d === 'function' && d !== Object ? d : null;
}

/** Whether v is an MLX array; by its class's name and getters until setMlxClasses has run. */
export function isMlxArray(v: object): boolean {
  if (arrayClass !== NoMlxArray) return v instanceof arrayClass;
  const c = (v as any).constructor;
  return !!c && c.name === 'array' && 'shape' in v && 'dtype' in v;
}

/** Counters, for tests and benchmarks: memo hits, misses, calls that cannot be memoized, getter reads. */
export const opShapeStats = { hits: 0, misses: 0, unmemoizable: 0, getterReads: 0, clears: 0 };

/** The one frozen TensorInfo for (dtype, shape). */
export function internInfo(dtype: string, shape: readonly number[]): TensorInfo {
  const key = dtype + ':' + shape.join(',');
  let info = interned.get(key);
  if (info === undefined) {
    if (entries >= cap) clearOpShapes();
    let n = 1;
    for (const x of shape) n *= x;
    // Frozen as the native layer's are (decode.ts); the shape array is left unfrozen there too (faster reads).
    info = Object.freeze({ shape: shape.slice(), dtype, bytes: n * (dtypeItemsize(dtype) ?? 4) });
    interned.set(key, info);
    entries++;
  }
  return info;
}

/** An MLX array's TensorInfo: from the array if it has it, else read with the getters (once per array). */
export function tensorInfo(a: any): TensorInfo {
  const info: TensorInfo | undefined = a[INFO];
  return info !== undefined ? info : readInfo(a);
}

function readInfo(a: any): TensorInfo {
  opShapeStats.getterReads++;
  const shape: number[] = a.shape;
  const d = a.dtype;
  let dtype = dtypeNames.get(d);
  if (dtype === undefined) dtypeNames.set(d, (dtype = String(d)));
  const info = internInfo(dtype, shape);
  a[INFO] = info;
  return info;
}

/** What a call's spans get: inputs in the primitive's order and outputs. */
export interface OpIO {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
}

/** A memo leaf: the call's infos and the form of its result (one array, or a list of `outputs.length`). */
interface Leaf extends OpIO {
  readonly single: boolean;
}

const BEGIN = { begin: true };
const END = { end: true };
const MAX_LIST = 8;

let cap = 1 << 15;
let entries = 0;
let generation = 0;

/** Sets the entry cap (tests); returns the previous one. */
export function setOpShapesCap(n: number): number {
  const old = cap;
  cap = n;
  return old;
}

/** Entries held now (map nodes, leaves and interned infos), for tests. */
export function opShapesEntries(): number {
  return entries;
}

/** Empties every memo and the intern table (arrays keep their infos: identities stay exact). */
export function clearOpShapes(): void {
  generation++;
  entries = 0;
  interned = new Map();
  opShapeStats.clears++;
}

type Node = Map<unknown, unknown>;

/** The memo of one op function. `order` puts the inputs in the order of the primitive the op builds. */
export class OpShapes {
  /** Roots by argument count. */
  private roots: Array<Node | undefined> = [];
  private gen = generation;

  constructor(private readonly order: (inputs: TensorInfo[]) => TensorInfo[] = (x) => x) {}

  /** The infos of a finished call `out = op(...args)`. */
  io(args: unknown[], out: unknown): OpIO {
    if (this.gen !== generation) {
      this.roots = [];
      this.gen = generation;
    }
    const leaf = this.lookup(args);
    if (leaf !== undefined && leaf !== null && this.give(leaf, out)) {
      opShapeStats.hits++;
      return leaf;
    }
    return this.miss(args, out, leaf === null);
  }

  /** The leaf for args; undefined if absent, null if the call cannot be memoized. */
  private lookup(args: unknown[]): Leaf | null | undefined {
    let node: any = this.roots[args.length];
    if (node === undefined) return undefined;
    for (let i = 0; i < args.length; i++) {
      const v = args[i];
      if (typeof v === 'object' && v !== null) {
        if (v instanceof arrayClass) node = node.get(tensorInfo(v));
        else if (Array.isArray(v)) {
          const n = v.length;
          if (n > MAX_LIST || Object.getPrototypeOf(v) !== Array.prototype) return null;
          node = node.get(BEGIN);
          for (let j = 0; j < n && node !== undefined; j++) {
            const x = v[j];
            if (typeof x === 'number') node = node.get(x);
            else if (typeof x === 'object' && x !== null && x instanceof arrayClass) node = node.get(tensorInfo(x));
            else return null;
          }
          if (node !== undefined) node = node.get(END);
        } else if (dtypeClass !== null && v.constructor === dtypeClass) node = node.get(v);
        else return null;
      } else if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return null;
      else node = node.get(v);
      if (node === undefined) return undefined;
    }
    return node as Leaf;
  }

  /** Gives the result's arrays the leaf's infos; false if the result does not have the leaf's form. */
  private give(leaf: Leaf, out: unknown): boolean {
    const outputs = leaf.outputs;
    if (leaf.single) {
      if (!(typeof out === 'object' && out !== null && out instanceof arrayClass)) return false;
      (out as any)[INFO] = outputs[0];
      return true;
    }
    if (!Array.isArray(out) || out.length !== outputs.length) return false;
    for (let i = 0; i < out.length; i++) if (!(out[i] instanceof arrayClass)) return false;
    for (let i = 0; i < out.length; i++) out[i][INFO] = outputs[i];
    return true;
  }

  private miss(args: unknown[], out: unknown, unmemoizable: boolean): OpIO {
    const keys: unknown[] | null = unmemoizable ? null : [];
    const inputs: TensorInfo[] = [];
    const memo = keys !== null && keyArgs(args, keys, inputs);
    const single = typeof out === 'object' && out !== null && out instanceof arrayClass;
    const list = !single && Array.isArray(out) && out.every((o) => o instanceof arrayClass);
    if (!memo || !(single || list)) {
      opShapeStats.unmemoizable++;
      return { inputs: this.order(collectInfos(args, [])), outputs: collectInfos(out, []) };
    }
    opShapeStats.misses++;
    const outputs: TensorInfo[] = single ? [tensorInfo(out)] : (out as unknown[]).map(tensorInfo);
    // Shared by the spans of this call shape; not frozen (see decode.ts newSignature).
    const leaf: Leaf = { inputs: this.order(inputs), outputs, single };
    if (entries + keys!.length + 1 > cap) clearOpShapes();
    if (this.gen !== generation) {
      this.roots = [];
      this.gen = generation;
    }
    entries++;
    const last = keys!.length - 1;
    if (last < 0) {
      // A call without arguments: its root is the leaf.
      this.roots[0] = leaf as any;
      return leaf;
    }
    let node = this.roots[args.length];
    if (node === undefined) {
      this.roots[args.length] = node = new Map();
      entries++;
    }
    for (let i = 0; i < last; i++) {
      let next = node.get(keys![i]) as Node | undefined;
      if (next === undefined) {
        node.set(keys![i], (next = new Map()));
        entries++;
      }
      node = next;
    }
    node.set(keys![last], leaf);
    return leaf;
  }
}

/** The keys of a call's arguments (after the count) and its input infos; false if it cannot be memoized. */
function keyArgs(args: unknown[], keys: unknown[], inputs: TensorInfo[]): boolean {
  for (const v of args) {
    if (typeof v === 'object' && v !== null) {
      if (v instanceof arrayClass) {
        const info = tensorInfo(v);
        keys.push(info);
        inputs.push(info);
      } else if (Array.isArray(v)) {
        if (v.length > MAX_LIST || Object.getPrototypeOf(v) !== Array.prototype) return false;
        keys.push(BEGIN);
        for (let j = 0; j < v.length; j++) {
          const x = v[j];
          if (typeof x === 'number') keys.push(x);
          else if (typeof x === 'object' && x !== null && x instanceof arrayClass) {
            const info = tensorInfo(x);
            keys.push(info);
            inputs.push(info);
          } else return false;
        }
        keys.push(END);
      } else if (dtypeClass !== null && v.constructor === dtypeClass) keys.push(v);
      else return false;
    } else if (typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return false;
    else keys.push(v);
  }
  return true;
}

/**
 * The infos of the MLX arrays among a call's arguments or results, one level into arrays and plain
 * objects (the same walk as arraysIn in utils.ts).
 */
function collectInfos(v: unknown, out: TensorInfo[], depth = 0): TensorInfo[] {
  if (v == null || typeof v !== 'object') return out;
  if (v instanceof arrayClass) {
    out.push(tensorInfo(v));
    return out;
  }
  if (depth > 2) return out;
  if (Array.isArray(v)) for (const x of v) collectInfos(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const k in v) collectInfos((v as any)[k], out, depth + 1);
  return out;
}
