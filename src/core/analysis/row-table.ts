/**
 * The rows of the aggregation: each key field is interned to a small integer (op, layer and device names through
 * a Map, shapes through an integer hash with an exact check), the ids of a span's key find its row in one
 * open-addressing table, and the sums live in one Float64Array. Nothing is allocated per primitive; row objects
 * are made once per row, at the end.
 */
import type { Device, Span } from '../model/trace';
import type { AggregateKey, AggregateRow } from './aggregate';

/** Stands for "no device added yet": equal to no span's device, not even a missing one. */
const NO_DEVICE = Symbol('no device');

/** Field offsets of a row's sums; the slot times follow them. */
const CALLS = 0, TOTAL = 1, FLOPS = 2, FLOPS_NS = 3, COSTED = 4, BYTES = 5, BYTES_NS = 6, BYTES_KNOWN = 7;
const INT_FLOPS = 8, INT_BYTES = 9, OUT_BYTES = 10, SLOT0 = 11;

/** Strings to small integers, remembering the last one (neighbouring primitives often share a name). */
class Interner {
  private readonly ids = new Map<unknown, number>();
  private last: unknown = undefined;
  private lastId = -1;
  id(v: unknown): number {
    if (v === this.last && this.lastId >= 0) return this.lastId;
    let id = this.ids.get(v);
    if (id === undefined) this.ids.set(v, (id = this.ids.size));
    this.last = v;
    this.lastId = id;
    return id;
  }
}

/** Shape signatures to small integers without building a string: a hash, then an exact check on collision. */
class ShapeInterner {
  private readonly first = new Map<number, number>();
  private readonly next: number[] = [];
  private readonly samples: Span[] = [];
  id(s: Span): number {
    const h = shapeHash(s);
    const head = this.first.get(h);
    for (let id = head ?? -1; id >= 0; id = this.next[id]) if (sameShapes(this.samples[id], s)) return id;
    const id = this.samples.length;
    this.samples.push(s);
    this.next.push(head ?? -1);
    this.first.set(h, id);
    return id;
  }
}

export class RowTable {
  readonly byOp: boolean;
  readonly byLayer: boolean;
  readonly byDevice: boolean;
  readonly byShapes: boolean;
  private readonly ops = new Interner();
  private readonly layers = new Interner();
  private readonly deviceIds = new Interner();
  private readonly shapes = new ShapeInterner();
  /** Pass codes each row has room for (see PassTracker), and the row's length in `sums`. */
  private codes = 1;
  private stride = SLOT0 + 1;
  private count = 0;
  /** Per row: its key's ids (op, layer, device, shapes) and the index of its first span. */
  private keyIds = new Int32Array(4 * 64);
  private sampleAt = new Int32Array(64);
  private sums: Float64Array;
  /** Open addressing: row + 1 per cell, 0 when empty; the size is a power of two at least twice the rows. */
  private cells = new Int32Array(256);
  /** Devices each row ran on, in first-seen order, and the last one added (a row's primitives mostly share one). */
  private readonly devices: Set<Device>[] = [];
  private readonly lastDevice: unknown[] = [];
  private readonly layerNames: string[] = [];
  private last = -1;

  constructor(private readonly by: readonly AggregateKey[]) {
    const set = new Set(by);
    this.byOp = set.has('op');
    this.byLayer = set.has('layer');
    this.byDevice = set.has('device');
    this.byShapes = set.has('shapes');
    this.sums = new Float64Array(64 * this.stride);
  }

  /** FunctionEventAvg.add: one primitive (spans[index]) of pass code `code` into its row. */
  add(s: Span, index: number, code: number, d: number, layer: string): void {
    if (code >= this.codes) this.widen(2 * code + 2);
    const r = this.find(s, index, layer);
    const sums = this.sums;
    const b = r * this.stride;
    sums[b + CALLS]++;
    sums[b + TOTAL] += d;
    sums[b + SLOT0 + code] += d;
    if (s.device !== this.lastDevice[r]) {
      this.devices[r].add(s.device);
      this.lastDevice[r] = s.device;
    }
    const flops = s.flops;
    const bytes = s.bytes;
    if (flops != null) {
      sums[b + FLOPS] += flops;
      sums[b + FLOPS_NS] += d;
      sums[b + COSTED]++;
    }
    if (bytes != null) {
      sums[b + BYTES] += bytes;
      sums[b + BYTES_NS] += d;
      sums[b + BYTES_KNOWN]++;
    }
    if (flops != null && bytes != null) {
      sums[b + INT_FLOPS] += flops;
      sums[b + INT_BYTES] += bytes;
    }
    const outs = s.outputs;
    if (outs) for (let i = 0; i < outs.length; i++) sums[b + OUT_BYTES] += outs[i].bytes;
  }

  private find(s: Span, index: number, layer: string): number {
    const op = this.byOp ? this.ops.id(s.name) : 0;
    const ly = this.byLayer ? this.layers.id(layer) : 0;
    const dv = this.byDevice ? this.deviceIds.id(s.device) : 0;
    const sh = this.byShapes ? this.shapes.id(s) : 0;
    const k = this.keyIds;
    let r = this.last;
    if (r >= 0 && k[4 * r] === op && k[4 * r + 1] === ly && k[4 * r + 2] === dv && k[4 * r + 3] === sh) return r;
    const mask = this.cells.length - 1;
    let at = mix(op, ly, dv, sh) & mask;
    for (;;) {
      r = this.cells[at] - 1;
      if (r < 0) break;
      if (k[4 * r] === op && k[4 * r + 1] === ly && k[4 * r + 2] === dv && k[4 * r + 3] === sh) return (this.last = r);
      at = (at + 1) & mask;
    }
    r = this.newRow(op, ly, dv, sh, index, layer);
    this.cells[at] = r + 1;
    if (2 * this.count > this.cells.length) this.rehash();
    return (this.last = r);
  }

  private newRow(op: number, ly: number, dv: number, sh: number, index: number, layer: string): number {
    const r = this.count++;
    if (r === this.sampleAt.length) {
      this.keyIds = grown(this.keyIds, 2 * this.keyIds.length);
      this.sampleAt = grown(this.sampleAt, 2 * r);
      this.sums = grown(this.sums, 2 * this.sums.length);
    }
    this.keyIds.set([op, ly, dv, sh], 4 * r);
    this.sampleAt[r] = index;
    this.devices.push(new Set());
    this.lastDevice.push(NO_DEVICE);
    this.layerNames.push(layer);
    return r;
  }

  private rehash(): void {
    const cells = new Int32Array(2 * this.cells.length);
    const mask = cells.length - 1;
    const k = this.keyIds;
    for (let r = 0; r < this.count; r++) {
      let at = mix(k[4 * r], k[4 * r + 1], k[4 * r + 2], k[4 * r + 3]) & mask;
      while (cells[at] !== 0) at = (at + 1) & mask;
      cells[at] = r + 1;
    }
    this.cells = cells;
  }

  /** Room for `codes` pass codes in every row. */
  private widen(codes: number): void {
    const stride = SLOT0 + codes;
    const sums = new Float64Array((this.sums.length / this.stride) * stride);
    for (let r = 0; r < this.count; r++) sums.set(this.sums.subarray(r * this.stride, (r + 1) * this.stride), r * stride);
    this.sums = sums;
    this.codes = codes;
    this.stride = stride;
  }

  /** The rows, in the order their first primitive appears, with each code's time in its slot. */
  rows(spans: readonly Span[], slotOfCode: Int32Array, slots: number): AggregateRow[] {
    const out: AggregateRow[] = [];
    const sums = this.sums;
    for (let r = 0; r < this.count; r++) {
      const sample = spans[this.sampleAt[r]];
      const b = r * this.stride;
      const op = this.byOp ? sample.name : '';
      const layer = this.byLayer ? this.layerNames[r] : '';
      const device = this.byDevice ? sample.device : '';
      const key = this.by.map((f) => (f === 'op' ? op : f === 'layer' ? layer : f === 'device' ? device : shapeSignature(sample))).join('\u0000');
      out.push({
        key, op, layer, device, sample, calls: sums[b + CALLS], totalNs: sums[b + TOTAL],
        slotNs: inSlots(sums, b + SLOT0, slotOfCode.subarray(0, this.codes), slots), flops: sums[b + FLOPS], flopsNs: sums[b + FLOPS_NS],
        costed: sums[b + COSTED], bytes: sums[b + BYTES], bytesNs: sums[b + BYTES_NS], bytesKnown: sums[b + BYTES_KNOWN],
        intensityFlops: sums[b + INT_FLOPS], intensityBytes: sums[b + INT_BYTES], outputBytes: sums[b + OUT_BYTES],
        devices: this.devices[r],
      });
    }
    return out;
  }
}

/** A row's time per code (from sums[at]) put in slot order. */
function inSlots(sums: Float64Array, at: number, slotOfCode: Int32Array, slots: number): Float64Array {
  const out = new Float64Array(slots);
  for (let c = 0; c < slotOfCode.length; c++) out[slotOfCode[c]] = sums[at + c];
  return out;
}

function mix(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15) ^ d, 0x165667b1);
  return h ^ (h >>> 16);
}

export function grown<T extends Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (n: number) => T)(length);
  b.set(a);
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes

function shapeList(ts: readonly { shape: number[] }[]): string {
  let s = '';
  for (let i = 0; i < ts.length; i++) {
    const sh = ts[i].shape;
    // A scalar has shape []: 'scalar' keeps '8x64 scalar' readable.
    s += (i ? ' ' : '') + (sh.length ? sh.join('x') : 'scalar');
  }
  return s;
}

/** Readable shape signature of a primitive, inputs then outputs: '8x64 64x64 → 8x64'. */
export function shapeSignature(s: Pick<Span, 'inputs' | 'outputs'>): string {
  return `${shapeList(s.inputs ?? []) || '-'} → ${shapeList(s.outputs ?? []) || '-'}`;
}

/** An integer hash of a span's input and output shapes (counts and dims), for matching rows without strings. */
function shapeHash(s: Span): number {
  // Masked to 30 bits so it stays a small integer for V8 (a larger one is boxed on every Map lookup).
  return hashList(hashList(0x811c9dc5 | 0, s.inputs ?? []), s.outputs ?? []) & 0x3fffffff;
}

function hashList(h: number, list: readonly { shape: number[] }[]): number {
  h = (Math.imul(h, 0x01000193) ^ (list.length + 0x9e37)) | 0;
  for (let i = 0; i < list.length; i++) {
    const sh = list[i].shape;
    h = (Math.imul(h, 0x01000193) ^ (sh.length + 0x3c6e)) | 0;
    for (let k = 0; k < sh.length; k++) h = (Math.imul(h, 0x01000193) ^ sh[k]) | 0;
  }
  return h;
}

function sameShapeList(x: readonly { shape: number[] }[], y: readonly { shape: number[] }[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const a = x[i].shape;
    const b = y[i].shape;
    if (a === b) continue;
    if (a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  }
  return true;
}

const sameShapes = (a: Span, b: Span) => sameShapeList(a.inputs ?? [], b.inputs ?? []) && sameShapeList(a.outputs ?? [], b.outputs ?? []);

