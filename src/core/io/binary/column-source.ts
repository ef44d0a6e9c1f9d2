/**
 * The column path of the binary writer: a taken trace whose arrays were never made is written
 * straight from the recorder's columns (a RowSource), a run of primitive rows at a time, to the same
 * bytes the object path (encoder.ts) writes for the same spans. What a primitive row stands for is
 * written once, in PrimitiveRows and the row functions below; taken-trace.ts makes span objects from
 * rows with the same functions.
 */
import type { Cost } from '../../cost';
import type { MemoryLog, PrimitiveLog, Signature } from '../../record/event-log';
import type { Span } from '../../model/trace';
import type { JsonBytes } from '../json-bytes';
import { BLOCK, BYTES_NULL, FLOPS_NULL, HAS_LAYER, HAS_LAYER_ID, HAS_OP, LAYER_ID_NULL, LAYER_NULL, OP_NULL, OTHER_CHARS, PARENT_NULL, SPAN_OTHER, T_MEMORY, T_SPANS } from './layout';
import { BinaryEncoder } from './encoder';

/**
 * A trace's spans and memory events without an object for each: the recorder's columns, read by
 * saveTrace when a taken trace's arrays were never made (taken-trace.ts TakenColumns). A source is
 * trusted: its rows are not checked. eachSpan gives the spans in order, as objects (the few that
 * are kept as objects) or as runs of rows of the primitive log; memoryRows the memory events.
 */
export interface RowSource {
  readonly spanCount: number;
  readonly memoryCount: number;
  eachSpan(object: (s: Span) => void, run: (rows: PrimitiveRows, from: number, to: number) => void): void;
  memoryRows(): MemoryRows;
}

/** The names of a primitive log's classes and flags: shared by every window of one recorder. */
export interface PrimitiveNames {
  name(cls: number): string;
  device(flags: number): Span['device'];
  /** The attrs a primitive with these flags carries (one shared object per flags), or undefined. */
  attrs(flags: number): Span['attrs'] | undefined;
}

/**
 * The recorder's primitives as spans: row p of `log` is primitiveRowSpan(log, p, origin, this,
 * cost(sig, cls), layer(layer id)); rest(flags) is the JSON of attrs(flags) as the other keys of a
 * row ('' for none).
 */
export interface PrimitiveRows extends PrimitiveNames {
  readonly log: PrimitiveLog;
  readonly origin: number;
  rest(flags: number): string;
  cost(sig: Signature, cls: number): Cost;
  layer(layerId: number): string | null;
}

/**
 * The recorder's memory events: event k is row order[k] of `log` (from + k when order is null),
 * {t: t - origin, delta, live, op: op(cls)}.
 */
export interface MemoryRows {
  readonly log: MemoryLog;
  readonly from: number;
  readonly order: Uint32Array | null;
  readonly origin: number;
  op(cls: number): string | null;
}


// ---- A primitive row as span fields: the one definition, read by the column writer below and by
// taken-trace.ts when it makes span objects.

/** A span's start from a row's t0. */
export const rowStart = (t0: number, origin: number): number => t0 - origin;
/** A span's end from a row's t0 and t1 (a primitive whose end was not seen ends where it starts). */
export const rowEnd = (t0: number, t1: number, origin: number): number => (t1 > t0 ? t1 : t0) - origin;
/** A parent or layer id from a row: 0 stands for none. */
export const rowRef = (x: number): number | null => (x === 0 ? null : x);

/** Primitive row p of `log` as a span object (times relative to `origin`), priced with `cost` (null: not yet), in layer `layer`. */
export function primitiveRowSpan(log: PrimitiveLog, p: number, origin: number, names: PrimitiveNames, cost: Cost | null, layer: string | null): Span {
  const cls = log.cls[p];
  const flags = log.flags[p];
  const sig = log.sigAt(p);
  const t0 = log.t0[p];
  const s: Span = {
    id: log.id[p],
    parentId: rowRef(log.parent[p]),
    kind: 'primitive',
    name: names.name(cls),
    start: rowStart(t0, origin),
    end: rowEnd(t0, log.t1[p], origin),
    thread: log.thread[p],
    device: names.device(flags),
    inputs: sig.inputs,
    outputs: sig.outputs,
    flops: cost ? cost.flops : null,
    bytes: cost ? cost.bytes : null,
    layerId: rowRef(log.layer[p]),
    layer,
  };
  const attrs = names.attrs(flags);
  if (attrs) s.attrs = attrs;
  return s;
}

/** Writes a trace whose rows come from a RowSource: the file is the one writeBinaryTrace makes of the same spans, byte for byte. */
export function writeBinaryFromSource(w: JsonBytes, traceJson: string, source: RowSource): void {
  const e = new ColumnEncoder(w, Math.max(source.spanCount, source.memoryCount), null);
  e.begin(traceJson, source.spanCount, source.memoryCount);
  e.spansFrom(source);
  e.memoryFrom(source);
  e.end();
}

/** The encoder with the column path (saveTrace's, and the streaming writer's across its flushes). */
export class ColumnEncoder extends BinaryEncoder {
  /** Spans from a source that has no objects for most of them (the recorder's columns, trusted). */
  spansFrom(source: RowSource): void {
    source.eachSpan(
      (s) => this.spanObject(s, -1),
      (rows, from, to) => this.primitiveRun(rows, from, to),
    );
    this.endBlock(T_SPANS);
  }

  /** String numbers of the names and devices of `keyed`'s classes and flags (-1: not yet), the other keys of its flags. */
  private keyed: PrimitiveRows | null = null;
  private nameByCls = new Int32Array(0);
  private deviceByFlags = new Int32Array(0);
  private restByFlags: string[] = [];

  /**
   * Rows from..to of a primitive log, straight from its columns into the block's: what spanObject
   * does for each, without a call and 14 arguments per row (the numbers in the same order of
   * first appearance, the same placeholders).
   */
  private primitiveRun(rows: PrimitiveRows, from: number, to: number): void {
    if (rows !== this.keyed) {
      this.keyed = rows;
      this.nameByCls = new Int32Array(2 ** 16).fill(-1);
      this.deviceByFlags = new Int32Array(2 ** 8).fill(-1);
      this.restByFlags = new Array<string>(2 ** 8).fill('');
    }
    if (this.kindS !== 'primitive') {
      this.kindN = this.str('primitive');
      this.kindS = 'primitive';
    }
    const cap = this.buffers.cap;
    while (from < to) {
      from = this.fillPrimitives(rows, from, Math.min(to, from + cap - this.n));
      if (this.n === cap || this.otherChars > OTHER_CHARS) this.endBlock(T_SPANS);
    }
  }

  /**
   * Rows from..to (at most to the end of the block) into the block; returns the row it stopped
   * before (sooner than `to` when the other keys grew past OTHER_CHARS). One pass for the numbers
   * (in row order: that is the order strings and lists are numbered in), then one per column of
   * values: measured ~3x faster than one loop writing all 15 columns.
   */
  private fillPrimitives(rows: PrimitiveRows, from: number, to: number): number {
    const { nameByCls, deviceByFlags, restByFlags, flags } = this;
    const log = rows.log;
    const classes = log.cls, pflags = log.flags, sigs = log.sigId, layers = log.layer;
    const v = this.values;
    const u = this.numbers;
    const name = u[1], device = u[2], layer = u[3], inputs = u[4], outputs = u[5], flops = v[5], bytes = v[6];
    let lastFlops = this.lastFlops;
    let lastBytes = this.lastBytes;
    // The keys of the last row (class, flags, signature, layer id) and what they came to.
    let cls = -1;
    let pf = -1;
    let sig = -1;
    let sigObj: Signature | null = null;
    let li = -1;
    let nameN = 0, deviceN = 0, inN = 0, outN = 0, layerN = 0, flopsV = 0, bytesV = 0, f = 0;
    let fl: number | null = null;
    let by: number | null = null;
    let rest = '';
    const n0 = this.n;
    let n = n0;
    let p = from;
    while (p < to) {
      const c = classes[p];
      const g = pflags[p];
      const sg = sigs[p];
      const l = layers[p];
      if (c !== cls || g !== pf || sg !== sig || l !== li) {
        // Numbered in spanObject's order: name, device, lists, layer.
        let nm = nameByCls[c];
        if (nm < 0) nm = nameByCls[c] = this.str(rows.name(c));
        let dv = deviceByFlags[g];
        if (dv < 0) {
          dv = deviceByFlags[g] = this.str(rows.device(g));
          restByFlags[g] = rows.rest(g);
        }
        if (sg !== sig) {
          sigObj = log.sigAt(p);
          inN = this.list(sigObj.inputs);
          outN = this.list(sigObj.outputs);
        }
        if (sg !== sig || c !== cls) {
          const cost = rows.cost(sigObj!, c);
          fl = cost.flops;
          by = cost.bytes;
        }
        if (l !== li) {
          const ly = l === 0 ? null : rows.layer(l);
          layerN = ly === null ? -1 : this.str(ly);
        }
        cls = c;
        pf = g;
        sig = sg;
        li = l;
        nameN = nm;
        deviceN = dv;
        rest = restByFlags[g];
        f = HAS_LAYER_ID | (layerN < 0 ? HAS_LAYER | LAYER_NULL : HAS_LAYER) | (rest === '' ? 0 : SPAN_OTHER);
        if (fl === null) {
          f |= FLOPS_NULL;
          flopsV = lastFlops;
        } else flopsV = lastFlops = fl;
        if (by === null) {
          f |= BYTES_NULL;
          bytesV = lastBytes;
        } else bytesV = lastBytes = by;
      }
      // The rows up to q have the same numbers: a chain of one op on one shape is common, and
      // fill() is much faster than stores in a loop once there are more than a few rows.
      let q = p + 1;
      if (rest === '') while (q < to && classes[q] === c && pflags[q] === g && sigs[q] === sg && layers[q] === l) q++;
      const e = n + q - p;
      const layerV = layerN < 0 ? 0 : layerN;
      if (q - p < 16) {
        for (let j = n; j < e; j++) {
          name[j] = nameN;
          device[j] = deviceN;
          inputs[j] = inN;
          outputs[j] = outN;
          layer[j] = layerV;
          flops[j] = flopsV;
          bytes[j] = bytesV;
          flags[j] = f;
        }
      } else {
        name.fill(nameN, n, e);
        device.fill(deviceN, n, e);
        inputs.fill(inN, n, e);
        outputs.fill(outN, n, e);
        layer.fill(layerV, n, e);
        flops.fill(flopsV, n, e);
        bytes.fill(bytesV, n, e);
        flags.fill(f, n, e);
      }
      n = e;
      p = q;
      if (rest !== '') {
        this.other.push(rest);
        if ((this.otherChars += rest.length) > OTHER_CHARS) break;
      }
    }
    this.n = n;
    this.lastFlops = lastFlops;
    this.lastBytes = lastBytes;
    u[0].fill(this.kindN, n0, n);
    v[0].set(log.id.subarray(from, p), n0);
    v[4].set(log.thread.subarray(from, p), n0);
    primitiveTimes(v[2], v[3], n0, log.t0, log.t1, from, p, rows.origin);
    this.lastParent = orNull(v[1], flags, n0, log.parent, from, p, this.lastParent, PARENT_NULL);
    this.lastLayerId = orNull(v[7], flags, n0, log.layer, from, p, this.lastLayerId, LAYER_ID_NULL);
    return p;
  }

  /** Memory events from a source's columns: what memoryRow does for each, a block at a time. */
  memoryFrom(source: RowSource): void {
    const rows = source.memoryRows();
    const log = rows.log;
    const { from, order, origin } = rows;
    const [t, delta, live] = this.values;
    const cap = this.buffers.cap;
    // The op's string number per class (as a u16), -1 for null, -2 not yet known.
    const opByCls = new Int32Array(2 ** 16).fill(-2);
    for (let k = 0, count = source.memoryCount; k < count; ) {
      const n0 = this.n;
      const e = Math.min(count - k, cap - n0) + k;
      this.memoryOps(rows, opByCls, k, e);
      if (order === null) {
        timesFrom(t, n0, log.t, from + k, from + e, origin);
        delta.set(log.delta.subarray(from + k, from + e), n0);
        live.set(log.live.subarray(from + k, from + e), n0);
      } else {
        gather(t, n0, log.t, order, k, e, origin);
        gather(delta, n0, log.delta, order, k, e, 0);
        gather(live, n0, log.live, order, k, e, 0);
      }
      this.n = n0 + e - k;
      k = e;
      if (this.n === cap) this.endBlock(T_MEMORY);
    }
    // opS no longer names opN's string.
    this.opS = null;
    this.endBlock(T_MEMORY);
  }

  /** The op and flags of memory events k..e (in order: op strings are numbered on first appearance). */
  private memoryOps(rows: MemoryRows, opByCls: Int32Array, k: number, e: number): void {
    const { from, order } = rows;
    const classes = rows.log.cls;
    const op = this.numbers[0];
    const flags = this.flags;
    let opN = this.opN;
    for (let n = this.n; k < e; k++, n++) {
      const c = classes[order === null ? from + k : order[k]];
      let o = opByCls[c & 0xffff];
      if (o === -2) {
        const s = rows.op(c);
        o = opByCls[c & 0xffff] = s === null ? -1 : this.str(s);
      }
      if (o < 0) {
        flags[n] = HAS_OP | OP_NULL;
        op[n] = opN;
      } else {
        flags[n] = HAS_OP;
        op[n] = opN = o;
      }
    }
    this.opN = opN;
  }
}

/** start and end of primitive rows from..to into out[at..] (rowStart, rowEnd). */
function primitiveTimes(start: Float64Array, end: Float64Array, at: number, t0: Float64Array, t1: Float64Array, from: number, to: number, origin: number): void {
  for (let p = from, j = at; p < to; p++, j++) {
    const a = t0[p];
    start[j] = rowStart(a, origin);
    end[j] = rowEnd(a, t1[p], origin);
  }
}

/** t[from..to) - origin into out[at..]. */
function timesFrom(out: Float64Array, at: number, t: Float64Array, from: number, to: number, origin: number): void {
  for (let i = from, j = at; i < to; i++, j++) out[j] = t[i] - origin;
}

/** src[order[k]] - origin for k in from..to, into out[at..]. */
function gather(out: Float64Array, at: number, src: Float64Array, order: Uint32Array, from: number, to: number, origin: number): void {
  for (let k = from, j = at; k < to; k++, j++) out[j] = src[order[k]] - origin;
}

/**
 * src[from..to) into out[at..], 0 standing for null (rowRef): then `flag` is or'ed into the row's flags and
 * the element is the last value before it (`last` at first). Returns the last value.
 */
function orNull(out: Float64Array, flags: Uint8Array, at: number, src: Float64Array, from: number, to: number, last: number, flag: number): number {
  for (let p = from, j = at; p < to; p++, j++) {
    const x = src[p];
    if (x === 0) {
      flags[j] |= flag;
      out[j] = last;
    } else out[j] = last = x;
  }
  return last;
}
