/**
 * What the native layer records, kept as columns between takes. A million primitives recorded
 * between two takes cost typed-array slots, not a million JS objects: objects that live that long
 * are promoted to the old heap and every garbage collection of the app (node-mlx makes a lot of
 * garbage) would then have to mark them. Span objects are made once, by Recorder.take().
 */
import type { TensorInfo } from '../model/trace';

/** The arrays of one primitive call, interned: spans with the same shapes share one Signature. */
export interface Signature {
  readonly inputs: TensorInfo[];
  readonly outputs: TensorInfo[];
}

/**
 * Every Signature a log has held, by number. A log keeps the number in a typed column: storing the
 * object in a JS array would grow and copy that array as it fills.
 */
const signatures: Signature[] = [];

/** A number for `s`, by which logs hold it (call once per Signature: each call gives a new number). */
export function registerSignature(s: Signature): number {
  signatures.push(s);
  return signatures.length - 1;
}

/** Primitive flags column (the native drain writes the same bits: native/records.h kCol*). */
export const PRIM_GPU = 1;
export const PRIM_TRUNCATED = 2;
/** Bits 2-4: the mx.fast function whose fallback graph built the primitive (FAST_FUNCTIONS index). */
export const PRIM_FAST_SHIFT = 2;

type Column = Float64Array | Int32Array | Int16Array | Uint32Array | Uint16Array | Uint8Array;

function grown<T extends Column>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

const MIN_CAPACITY = 1024;

/**
 * Windows in a row that must each use under a quarter of a log's room before the log gives the room
 * back. One small window is no sign: a program that alternates short and long windows (a warm-up and
 * a generation, each taken) would otherwise shrink after every short one and grow again inside every
 * long one, allocating, zero-filling and copying its columns while it runs, and leaving megabytes of
 * dropped columns a window for the collector (docs/design.md, "Columns that shrink and grow").
 */
const SHRINK_AFTER = 8;

/**
 * How much room a log keeps from window to window: a program that takes a trace every N primitives
 * records the next N without growing (growing by doubling allocates, zero-fills and copies); a
 * program whose windows stay much smaller gets the memory back.
 */
class Room {
  /** Windows in a row that used under a quarter of the room. */
  private small = 0;

  /** The capacity for the next window, after one that held `used` entries of `capacity`. */
  next(capacity: number, used: number): number {
    this.small = used * 4 < capacity ? this.small + 1 : 0;
    if (this.small < SHRINK_AFTER) return capacity;
    return Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(Math.max(1, used) * 2)));
  }
}

export class PrimitiveLog {
  id: Float64Array;
  parent: Float64Array; // 0: none
  t0: Float64Array;
  t1: Float64Array;
  layer: Float64Array; // layer span id, 0: built outside any layer
  thread: Int32Array;
  cls: Uint16Array;
  flags: Uint8Array;
  /** registerSignature() numbers; sigAt(i) gives the Signature. */
  sigId: Uint32Array;
  length = 0;
  private readonly room = new Room();

  constructor(capacity = MIN_CAPACITY) {
    this.id = new Float64Array(capacity);
    this.parent = new Float64Array(capacity);
    this.t0 = new Float64Array(capacity);
    this.t1 = new Float64Array(capacity);
    this.layer = new Float64Array(capacity);
    this.thread = new Int32Array(capacity);
    this.cls = new Uint16Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.sigId = new Uint32Array(capacity);
  }

  sigAt(i: number): Signature {
    return signatures[this.sigId[i]];
  }

  /** Empties this log for the next window: the same columns, or smaller new ones if its Room says so. */
  nextWindow(): PrimitiveLog {
    const n = this.room.next(this.id.length, this.length);
    return n === this.id.length ? this.reset() : new PrimitiveLog(n);
  }

  /** Empties this log for reuse (its columns keep their room: fresh pages cost a fault each). */
  reset(): this {
    this.length = 0;
    return this;
  }

  push(id: number, parent: number, t0: number, t1: number, layer: number, thread: number, cls: number, flags: number, sigId: number): void {
    if (this.length === this.id.length) this.grow(Math.max(MIN_CAPACITY, this.length * 2));
    const i = this.length++;
    this.id[i] = id;
    this.parent[i] = parent;
    this.t0[i] = t0;
    this.t1[i] = t1;
    this.layer[i] = layer;
    this.thread[i] = thread;
    this.cls[i] = cls;
    this.flags[i] = flags;
    this.sigId[i] = sigId;
  }

  /**
   * Entries from..to in new columns of just their size: what a taken trace keeps while this log
   * records on (a copy, by typed-array slices).
   */
  slice(from = 0, to = this.length): PrimitiveLog {
    const m = new PrimitiveLog(0);
    m.id = this.id.slice(from, to);
    m.parent = this.parent.slice(from, to);
    m.t0 = this.t0.slice(from, to);
    m.t1 = this.t1.slice(from, to);
    m.layer = this.layer.slice(from, to);
    m.thread = this.thread.slice(from, to);
    m.cls = this.cls.slice(from, to);
    m.flags = this.flags.slice(from, to);
    m.sigId = this.sigId.slice(from, to);
    m.length = m.id.length;
    return m;
  }

  appendTo(other: PrimitiveLog): void {
    for (let i = 0; i < this.length; i++) {
      other.push(this.id[i], this.parent[i], this.t0[i], this.t1[i], this.layer[i], this.thread[i], this.cls[i], this.flags[i], this.sigId[i]);
    }
  }

  /** Room for at least n entries (the native drain writes the columns in place). */
  reserve(n: number): void {
    if (n > this.id.length) this.grow(Math.max(n, this.id.length * 2));
  }

  private grow(n: number): void {
    this.id = grown(this.id, n);
    this.parent = grown(this.parent, n);
    this.t0 = grown(this.t0, n);
    this.t1 = grown(this.t1, n);
    this.layer = grown(this.layer, n);
    this.thread = grown(this.thread, n);
    this.cls = grown(this.cls, n);
    this.flags = grown(this.flags, n);
    this.sigId = grown(this.sigId, n);
  }
}

/** Allocator events as columns. */
export class MemoryLog {
  t: Float64Array;
  delta: Float64Array;
  live: Float64Array;
  cls: Int16Array;
  length = 0;
  private readonly room = new Room();

  constructor(capacity = MIN_CAPACITY) {
    this.t = new Float64Array(capacity);
    this.delta = new Float64Array(capacity);
    this.live = new Float64Array(capacity);
    this.cls = new Int16Array(capacity);
  }

  /** Empties this log for the next window: the same columns, or smaller new ones if its Room says so. */
  nextWindow(): MemoryLog {
    const n = this.room.next(this.t.length, this.length);
    return n === this.t.length ? this.reset() : new MemoryLog(n);
  }

  /** Empties this log for reuse. */
  reset(): this {
    this.length = 0;
    return this;
  }

  push(t: number, delta: number, live: number, cls: number): void {
    if (this.length === this.t.length) this.grow(Math.max(MIN_CAPACITY, this.length * 2));
    const i = this.length++;
    this.t[i] = t;
    this.delta[i] = delta;
    this.live[i] = live;
    this.cls[i] = cls;
  }

  /** Entries from..to in new columns of just their size (see PrimitiveLog.slice). */
  slice(from = 0, to = this.length): MemoryLog {
    const m = new MemoryLog(0);
    m.t = this.t.slice(from, to);
    m.delta = this.delta.slice(from, to);
    m.live = this.live.slice(from, to);
    m.cls = this.cls.slice(from, to);
    m.length = m.t.length;
    return m;
  }

  appendTo(other: MemoryLog): void {
    for (let i = 0; i < this.length; i++) other.push(this.t[i], this.delta[i], this.live[i], this.cls[i]);
  }

  /** Room for at least n entries. */
  reserve(n: number): void {
    if (n > this.t.length) this.grow(Math.max(n, this.t.length * 2));
  }

  private grow(n: number): void {
    this.t = grown(this.t, n);
    this.delta = grown(this.delta, n);
    this.live = grown(this.live, n);
    this.cls = grown(this.cls, n);
  }
}

/**
 * The order of t[from..to) by time, stable, as indices; null when already in order. The events
 * arrive as sorted runs (each thread's ring, drain after drain), so a natural merge sort on the
 * column costs a few passes of typed-array compares instead of an object sort with a comparator.
 */
export function timeOrder(t: Float64Array, from: number, to: number): Uint32Array | null {
  const n = to - from;
  let sorted = true;
  for (let i = from + 1; i < to; i++) {
    if (t[i] < t[i - 1]) {
      sorted = false;
      break;
    }
  }
  if (sorted) return null;
  let a = new Uint32Array(n);
  let b = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = from + i;
  // Run starts: where time goes back.
  let runs: number[] = [0];
  for (let i = 1; i < n; i++) if (t[a[i]] < t[a[i - 1]]) runs.push(i);
  while (runs.length > 1) {
    const next: number[] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const lo = runs[r];
      const mid = r + 1 < runs.length ? runs[r + 1] : n;
      const hi = r + 2 < runs.length ? runs[r + 2] : n;
      next.push(lo);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) b[k++] = t[a[j]] < t[a[i]] ? a[j++] : a[i++];
      while (i < mid) b[k++] = a[i++];
      while (j < hi) b[k++] = a[j++];
    }
    const tmp = a;
    a = b;
    b = tmp;
    runs = next;
  }
  return a;
}
