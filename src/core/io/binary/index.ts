/**
 * The binary layout of saved traces (.mlxtrace): the trace's header as JSON, then spans and memory
 * events in blocks of packed columns, written from and read into typed arrays with no text step.
 *
 *   file   = "MLXTRACE" (8 bytes), layout version u32 (1), reserved u32 (0), block, block, ...
 *   block  = type u32, count u32, length u32 (bytes of payload, before padding),
 *            CRC-32 u32 (of the block's first 12 bytes, then of its payload),
 *            payload, zero bytes up to a multiple of 8
 *
 * Numbers are little-endian; blocks and columns start at multiples of 8, so typed arrays view them
 * where they were read. Blocks are numbered from 0 in file order (in error messages too):
 *
 *   1 header       first, once; count 0. UTF-8 JSON {"spans":S,"memory":M,"trace":{...}}: S spans
 *                  and M memory events follow, and "trace" holds every top-level key of the trace
 *                  except spans and memory (schema, name, meta, dropped, counters, ...).
 *   2 definitions  strings, tensors and tensor lists used for the first time by the next block; count
 *                  = how many. UTF-8 JSON {"strings":[...],"tensors":[{shape,dtype,bytes},...],
 *                  "lists":[[tensor number, ...], ...]}. Each kind is numbered from 0 in order of
 *                  first appearance, on from the blocks before; one string table serves every field.
 *   3 spans        count n (at most 65536) spans in 14 columns: the values id, parentId, start, end,
 *                  thread, flops, bytes, layerId, then the numbers kind, name, device, layer (strings)
 *                  and inputs, outputs (tensor lists).
 *   4 memory       count n memory events in 4 columns: the values t, delta, live, the number op.
 *   5 end          last; count 0, empty: the file is complete.
 *
 * The payload of a spans or memory block:
 *   - a table of 16 bytes per column: base f64, width u32, 0 u32;
 *   - each column: n elements of `width` bytes, then zero bytes up to a multiple of 8. Element j is
 *     base + the unsigned integer in its bytes (width 1, 2 or 4); width 0 stores nothing (every
 *     element is base); width 8 is the f64 itself (base 0, value columns only). The writer picks the
 *     narrowest width that holds every element exactly, so a block of ns timestamps or ids costs
 *     4 bytes per element rather than 8, and a constant column nothing;
 *   - u8[n] flags, then zero bytes up to a multiple of 8;
 *   - the other keys of the rows flagged as having some, in order: u32[e] byte lengths, then e
 *     UTF-8 JSON objects (attrs, pass, warmup, anything else).
 * Flags say which elements stand for null or for an absent key (the element is then a placeholder):
 *   span    1 parentId null, 2 flops null, 4 bytes null, 8 has layerId, 16 layerId null,
 *           32 has layer, 64 layer null, 128 has other keys
 *   memory  1 has op, 2 op null, 4 has other keys
 *
 * Why: a primitive span and its memory event take about 40 bytes instead of 120 as JSON rows with
 * ns timestamps, the writer reads each field once into a column, and the reader makes objects with
 * no parsing; strings, shapes and tensor lists are written once. A newer layout version or an
 * unknown block type is refused with "upgrade mlx-trace"; a cut file is 'truncated', and a
 * checksum or length that does not add up is 'corrupt'.
 */
import { readSync } from 'node:fs';
import { endianness } from 'node:os';
import * as zlib from 'node:zlib';
import type { Cost } from '../../cost';
import type { MemoryLog, PrimitiveLog, Signature } from '../../record/event-log';
import type { MemoryEvent, Span, TensorInfo, Trace } from '../../model/trace';
import { ByteWriter, MEMORY_KEYS, Problem, SPAN_KEYS, extras, tensorJson, withRest } from '../rows';
import {
  IdCheck,
  TraceFileError,
  isCount,
  isObj,
  memoryProblem,
  plainValidFields,
  plainValidSpan,
  schemaProblem,
  show,
  spanProblem,
  tensorProblem,
  traceHeaderProblem,
  type Obj,
  type SaveChecks,
  type TraceFileErrorCode,
} from '../../model/checks';

const MAGIC = Buffer.from('MLXTRACE', 'latin1');
const VERSION = 1;
const PREAMBLE = 16;
const BLOCK_HEAD = 16;

const T_HEADER = 1;
const T_DEFS = 2;
const T_SPANS = 3;
const T_MEMORY = 4;
const T_END = 5;

/** Spans (or memory events) per block. */
const BLOCK = 65536;
/** A block is ended early once its other keys hold this many characters (a few spans with huge attrs). */
const OTHER_CHARS = 32 << 20;

// Span flags.
const PARENT_NULL = 1;
const FLOPS_NULL = 2;
const BYTES_NULL = 4;
const HAS_LAYER_ID = 8;
const LAYER_ID_NULL = 16;
const HAS_LAYER = 32;
const LAYER_NULL = 64;
const SPAN_OTHER = 128;
// Memory flags.
const HAS_OP = 1;
const OP_NULL = 2;
const MEMORY_OTHER = 4;
const MEMORY_FLAGS = HAS_OP | OP_NULL | MEMORY_OTHER;

/** Columns of values (f64 at most) and of numbers (u32 at most) in spans and memory blocks. */
const SPAN_VALUES = 8;
const SPAN_NUMBERS = 6;
const MEMORY_VALUES = 3;
const MEMORY_NUMBERS = 1;
/** Bytes per column in a block's table. */
const ENTRY = 16;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const pad8 = (n: number) => (n + 7) & ~7;

/** True when the file's first bytes are this layout's magic, or a cut-off start of it. */
export function isBinaryTrace(first: Uint8Array): boolean {
  const n = Math.min(first.length, MAGIC.length);
  if (n < 4) return false;
  for (let i = 0; i < n; i++) if (first[i] !== MAGIC[i]) return false;
  return true;
}

/** Typed arrays use the machine's byte order; the layout is little-endian. */
export function binaryByteOrderProblem(): string | null {
  return endianness() === 'LE' ? null : 'the binary layout (.mlxtrace) is little-endian and this machine is big-endian: use .json';
}

// CRC-32 (IEEE, as zlib and gzip): zlib.crc32 from Node 20.15, a table otherwise.
type Crc32 = (data: Uint8Array, value?: number) => number;
let table: Int32Array | null = null;
/** Exported for the test that compares it with zlib.crc32. */
export function crc32Table(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
const crc32: Crc32 = (zlib as { crc32?: Crc32 }).crc32 ?? crc32Table;

// ---------------------------------------------------------------------------------------------
// Writing

const ZEROS = new Uint8Array(8);

/** The list number that says a list failed the save's checks (bit 31: tested with int32 bit operations). */
const BAD_LIST = 2 ** 31;

/**
 * Writes a trace in the binary layout through `w`. `traceJson` is the JSON of the trace's
 * top-level keys but spans and memory (made by the caller, which checked them); `checks` is null
 * when the caller asked not to validate.
 */
export function writeBinaryTrace(w: ByteWriter, traceJson: string, trace: Trace, checks: SaveChecks | null): void {
  const { spans, memory } = trace;
  writeBinary(w, traceJson, spans.length, memory.length, checks, (e) => {
    e.spans(spans);
    e.memory(memory);
  });
}

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

/**
 * The recorder's primitives as spans: row p of `log` is {id, parentId: parent or null for 0, kind
 * 'primitive', name: name(cls), start: t0 - origin, end: max(t1, t0) - origin, thread,
 * device: device(flags), inputs and outputs: the signature's, flops and bytes: cost(sig, cls),
 * layerId: layer or null for 0, layer: layer(layer id)} and the other keys rest(flags) ('' for none).
 */
export interface PrimitiveRows {
  readonly log: PrimitiveLog;
  readonly origin: number;
  name(cls: number): string;
  device(flags: number): string;
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

/** writeBinaryTrace for a trace whose rows come from a RowSource; the file is the same byte for byte. */
export function writeBinaryFromSource(w: ByteWriter, traceJson: string, source: RowSource): void {
  writeBinary(w, traceJson, source.spanCount, source.memoryCount, null, (e) => {
    e.spansFrom(source);
    e.memoryFrom(source);
  });
}

/** The preamble and header block, the rows `body` writes, then the end block. */
function writeBinary(
  w: ByteWriter, traceJson: string, spans: number, memory: number, checks: SaveChecks | null, body: (e: BinaryEncoder) => void,
): void {
  const e = new BinaryEncoder(w, takeBuffers(Math.min(BLOCK, Math.max(spans, memory, 1))), checks);
  const preamble = Buffer.alloc(PREAMBLE);
  MAGIC.copy(preamble, 0);
  preamble.writeUInt32LE(VERSION, 8);
  w.bytes(preamble);
  e.block(T_HEADER, 0, [Buffer.from(`{"spans":${spans},"memory":${memory},"trace":${traceJson}}`, 'utf8')]);
  body(e);
  e.block(T_END, 0, []);
  e.done();
}

/** The typed arrays an encoder fills, kept between saves (while the GC lets them live). */
interface ColumnBuffers {
  cap: number;
  values: Float64Array[];
  numbers: Uint32Array[];
  flags: Uint8Array;
  /** Number columns narrowed to u8 or u16, one region of pad8(2 * cap) bytes each. */
  narrow: ArrayBuffer;
}
let spare: WeakRef<ColumnBuffers> | null = null;

/** Buffers for blocks of `cap` rows: the spare ones if big enough (a big save reuses 6 MB instead of zeroing it again). */
function takeBuffers(cap: number): ColumnBuffers {
  const b = spare?.deref();
  spare = null;
  if (b && b.cap >= cap) return b;
  return {
    cap,
    values: Array.from({ length: SPAN_VALUES }, () => new Float64Array(cap)),
    // One more element, so that a column of u32 can be padded to a multiple of 8 bytes in place.
    numbers: Array.from({ length: SPAN_NUMBERS }, () => new Uint32Array(cap + 1)),
    flags: new Uint8Array(pad8(cap)),
    narrow: new ArrayBuffer(SPAN_NUMBERS * pad8(2 * cap)),
  };
}

class BinaryEncoder {
  /** A block's columns as the loops fill them, packed in place when the block is written. */
  private readonly values: Float64Array[];
  private readonly numbers: Uint32Array[];
  private readonly flags: Uint8Array;
  /** The table of columns of the block being written. */
  private readonly table = new Uint8Array(ENTRY * (SPAN_VALUES + SPAN_NUMBERS));
  private readonly tableView = new DataView(this.table.buffer);
  private readonly head = new Uint8Array(BLOCK_HEAD);
  private readonly headView = new DataView(this.head.buffer);

  private readonly strings = new Map<string, number>();
  private readonly tensors = new Map<TensorInfo, number>();
  /** Tensors by content, for traces whose equal tensors are separate objects (built by hand, merged). */
  private readonly tensorsByKey = new Map<string, number>();
  /** Lists by identity (the recorder shares one per shape signature), then by content. */
  private readonly lists = new Map<readonly TensorInfo[], number>();
  private readonly listsByKey = new Map<string, number>();
  /** Definitions the next block needs (JSON texts). */
  private newStrings: string[] = [];
  private newTensors: string[] = [];
  private newLists: string[] = [];
  /** Other keys of the current block's rows (JSON texts), and their length in characters. */
  private other: string[] = [];
  private otherChars = 0;

  constructor(
    private readonly w: ByteWriter,
    private readonly buffers: ColumnBuffers,
    private readonly checks: SaveChecks | null,
  ) {
    this.values = buffers.values;
    this.numbers = buffers.numbers;
    this.flags = buffers.flags;
  }

  /** Hands the buffers on to the next save. */
  done(): void {
    spare = new WeakRef(this.buffers);
  }

  private str(s: string): number {
    let n = this.strings.get(s);
    if (n === undefined) {
      n = this.strings.size;
      this.strings.set(s, n);
      this.newStrings.push(JSON.stringify(s));
    }
    return n;
  }

  /** The number of a list of tensors, or BAD_LIST when the save's checks refuse it. */
  private list(ts: readonly TensorInfo[]): number {
    let n = this.lists.get(ts);
    if (n !== undefined) return n;
    // Refused by the span's check, which names what is wrong.
    if (this.checks !== null && !this.checks.list(ts)) return BAD_LIST;
    // Not an array, when not validating: written as an empty list.
    const items: readonly TensorInfo[] = Array.isArray(ts) ? ts : [];
    let key = '';
    for (let i = 0; i < items.length; i++) {
      const t = items[i];
      let k = this.tensors.get(t);
      if (k === undefined) {
        const json = tensorJson(t);
        k = this.tensorsByKey.get(json);
        if (k === undefined) {
          k = this.tensorsByKey.size;
          this.tensorsByKey.set(json, k);
          this.newTensors.push(json);
        }
        if (t !== null && typeof t === 'object') this.tensors.set(t, k);
      }
      key += (i > 0 ? ',' : '') + k;
    }
    n = this.listsByKey.get(key);
    if (n === undefined) {
      n = this.listsByKey.size;
      this.listsByKey.set(key, n);
      this.newLists.push('[' + key + ']');
    }
    // By identity: nothing can change a list during one save.
    if (typeof ts === 'object' && ts !== null) this.lists.set(ts, n);
    return n;
  }

  // What the last rows had, shared by every row whatever its source: kind and device repeat
  // (literal strings compare by pointer), lists too (by identity). Placeholders for null and absent
  // values are the last real one, which keeps a column's range narrow.
  private kindS: unknown = null;
  private kindN = 0;
  private deviceS: unknown = null;
  private deviceN = 0;
  private inS: unknown = null;
  private inN = 0;
  private outS: unknown = null;
  private outN = 0;
  private opS: unknown = null;
  private opN = 0;
  private lastParent = 0;
  private lastFlops = 0;
  private lastBytes = 0;
  private lastLayerId = 0;
  /** Rows in the block being filled. */
  private n = 0;

  /** Every span of the array, each checked (unless checks is null) on the fields as read. */
  spans(spans: readonly Span[]): void {
    const checks = this.checks;
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      // Anything but an object is refused by the check before a field is read.
      if (checks !== null && (s === null || typeof s !== 'object')) checks.span(s, i);
      this.spanObject(s, i);
    }
    this.endBlock(T_SPANS);
  }

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
   * Rows from..to of a primitive log, straight from its columns into the block's: what spanRow
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
        // Numbered in spanRow's order: name, device, lists, layer.
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

  /** Span object s (span i of the trace, checked unless i < 0 or checks is null). */
  private spanObject(s: Span, i: number): void {
    const sid = s.id;
    const p = s.parentId;
    const k = s.kind;
    const nm = s.name;
    const st = s.start;
    const en = s.end;
    const th = s.thread;
    const d = s.device;
    const fl = s.flops;
    const b = s.bytes;
    const li = s.layerId;
    const ly = s.layer;
    const optional = s.pass !== undefined || s.warmup !== undefined || s.attrs !== undefined;
    const keys = 12 + (li === undefined ? 0 : 1) + (ly === undefined ? 0 : 1);
    const rest = optional || keyCount(s) !== keys ? extras(s, SPAN_KEYS) : '';
    const lists = this.spanRow(sid, p, k, nm, st, en, th, d, s.inputs, s.outputs, fl, b, li, ly, rest);
    // The fields as read above, checked once (plainValidFields is what the JSON writer's check uses too).
    if (i >= 0 && this.checks !== null) {
      this.checks.spanRead(s, i, sid, !optional && (lists & BAD_LIST) === 0 && plainValidFields(sid, p, k, d, nm, st, en, th, fl, b, li, ly));
    }
  }

  /**
   * One span into the block being filled; `rest` is the JSON of its other keys ('' for none).
   * Returns its two list numbers or'ed together (BAD_LIST is set when the checks refused a list).
   */
  private spanRow(
    sid: number, p: number | null, k: string, nm: string, st: number, en: number, th: number, d: string,
    ins: readonly TensorInfo[], outs: readonly TensorInfo[], fl: number | null, b: number | null,
    li: number | null | undefined, ly: string | null | undefined, rest: string,
  ): number {
    const v = this.values;
    const id = v[0], parent = v[1], start = v[2], end = v[3], thread = v[4], flops = v[5], bytes = v[6], layerId = v[7];
    const u = this.numbers;
    const kind = u[0], name = u[1], device = u[2], layer = u[3], inputs = u[4], outputs = u[5];
    const strings = this.strings;
    const n = this.n;
    let f = 0;
    id[n] = sid;
    if (p === null) {
      f = PARENT_NULL;
      parent[n] = this.lastParent;
    } else parent[n] = this.lastParent = p;
    if (k !== this.kindS) {
      this.kindN = this.str(k);
      this.kindS = k;
    }
    kind[n] = this.kindN;
    const nmN = strings.get(nm);
    name[n] = nmN === undefined ? this.str(nm) : nmN;
    start[n] = st;
    end[n] = en;
    thread[n] = th;
    if (d !== this.deviceS) {
      this.deviceN = this.str(d);
      this.deviceS = d;
    }
    device[n] = this.deviceN;
    if (ins !== this.inS) {
      this.inN = this.list(ins);
      this.inS = ins;
    }
    if (outs !== this.outS) {
      this.outN = this.list(outs);
      this.outS = outs;
    }
    inputs[n] = this.inN;
    outputs[n] = this.outN;
    if (fl === null) {
      f |= FLOPS_NULL;
      flops[n] = this.lastFlops;
    } else flops[n] = this.lastFlops = fl;
    if (b === null) {
      f |= BYTES_NULL;
      bytes[n] = this.lastBytes;
    } else bytes[n] = this.lastBytes = b;
    if (li === undefined) layerId[n] = this.lastLayerId;
    else if (li === null) {
      f |= HAS_LAYER_ID | LAYER_ID_NULL;
      layerId[n] = this.lastLayerId;
    } else {
      f |= HAS_LAYER_ID;
      layerId[n] = this.lastLayerId = li;
    }
    if (ly === undefined) layer[n] = 0;
    else if (ly === null) {
      f |= HAS_LAYER | LAYER_NULL;
      layer[n] = 0;
    } else {
      f |= HAS_LAYER;
      const lyN = strings.get(ly);
      layer[n] = lyN === undefined ? this.str(ly) : lyN;
    }
    if (rest) {
      f |= SPAN_OTHER;
      this.other.push(rest);
      this.otherChars += rest.length;
    }
    this.flags[n] = f;
    const lists = this.inN | this.outN;
    if (++this.n === this.buffers.cap || this.otherChars > OTHER_CHARS) this.endBlock(T_SPANS);
    return lists;
  }

  memory(memory: readonly MemoryEvent[]): void {
    const checks = this.checks;
    for (let i = 0; i < memory.length; i++) {
      const m = memory[i];
      if (checks !== null) checks.memory(m, i);
      const o = m.op;
      const rest = keyCount(m) !== (o === undefined ? 3 : 4) ? extras(m, MEMORY_KEYS) : '';
      this.memoryRow(m.t, m.delta, m.live, o, rest);
    }
    this.endBlock(T_MEMORY);
  }

  private memoryRow(tv: number, dv: number, lv: number, o: string | null | undefined, rest: string): void {
    const v = this.values;
    const t = v[0], delta = v[1], live = v[2];
    const op = this.numbers[0];
    const n = this.n;
    let f = 0;
    t[n] = tv;
    delta[n] = dv;
    live[n] = lv;
    if (o === undefined) op[n] = this.opN;
    else if (o === null) {
      f = HAS_OP | OP_NULL;
      op[n] = this.opN;
    } else {
      f = HAS_OP;
      if (o !== this.opS) {
        this.opN = this.str(o);
        this.opS = o;
      }
      op[n] = this.opN;
    }
    if (rest) {
      f |= MEMORY_OTHER;
      this.other.push(rest);
      this.otherChars += rest.length;
    }
    this.flags[n] = f;
    if (++this.n === this.buffers.cap || this.otherChars > OTHER_CHARS) this.endBlock(T_MEMORY);
  }

  /** Writes the rows filled so far, if any, as a block of `type`. */
  private endBlock(type: number): void {
    if (this.n === 0) return;
    if (type === T_SPANS) this.columns(T_SPANS, this.n, SPAN_VALUES, SPAN_NUMBERS);
    else this.columns(T_MEMORY, this.n, MEMORY_VALUES, MEMORY_NUMBERS);
    this.n = 0;
  }

  /**
   * The payload of a block of the first n rows: the table, then each column packed (values in
   * place: the narrow elements overwrite the wide ones from the start of the same buffer; numbers
   * into `narrow`), then the flags.
   */
  private pack(n: number, valueColumns: number, numberColumns: number): Uint8Array[] {
    const table = this.tableView;
    const columns = valueColumns + numberColumns;
    const parts: Uint8Array[] = [this.table.subarray(0, ENTRY * columns)];
    const entry = (c: number, base: number, width: number) => {
      table.setFloat64(ENTRY * c, base, true);
      table.setUint32(ENTRY * c + 8, width, true);
      table.setUint32(ENTRY * c + 12, 0, true);
    };
    for (let c = 0; c < valueColumns; c++) {
      const src = this.values[c];
      const ab = src.buffer;
      const width = plan(src, n);
      const base = planned[0];
      if (width === 1) offsets8(new Uint8Array(ab, 0, n), src, base);
      else if (width === 2) offsets16(new Uint16Array(ab, 0, n), src, base);
      else if (width === 4) offsets32(new Uint32Array(ab, 0, n), src, base);
      entry(c, base, width);
      if (width > 0) parts.push(padded(new Uint8Array(ab), width * n));
    }
    const region = pad8(2 * this.buffers.cap);
    for (let c = valueColumns; c < columns; c++) {
      // Numbers are below the size of their table: strings for kind..layer and op, lists for inputs, outputs.
      const src = this.numbers[c - valueColumns].subarray(0, n);
      const size = valueColumns === SPAN_VALUES && c >= SPAN_VALUES + 4 ? this.listsByKey.size : this.strings.size;
      const width = size <= 2 ** 8 ? 1 : size <= 2 ** 16 ? 2 : 4;
      entry(c, 0, width);
      if (width === 4) {
        parts.push(padded(new Uint8Array(src.buffer), 4 * n));
        continue;
      }
      // TypedArray.set narrows in native code, about ten times faster than a loop here.
      const at = (c - valueColumns) * region;
      if (width === 1) new Uint8Array(this.buffers.narrow, at, n).set(src);
      else new Uint16Array(this.buffers.narrow, at, n).set(src);
      parts.push(padded(new Uint8Array(this.buffers.narrow, at, region), width * n));
    }
    parts.push(padded(this.flags, n));
    return parts;
  }

  /** The definitions the block about to be written needs, then that block of n rows. */
  private columns(type: number, n: number, valueColumns: number, numberColumns: number): void {
    const defs = this.newStrings.length + this.newTensors.length + this.newLists.length;
    if (defs > 0) {
      const json = `{"strings":[${this.newStrings.join(',')}],"tensors":[${this.newTensors.join(',')}],"lists":[${this.newLists.join(',')}]}`;
      this.block(T_DEFS, defs, [Buffer.from(json, 'utf8')]);
      this.newStrings = [];
      this.newTensors = [];
      this.newLists = [];
    }
    const parts = this.pack(n, valueColumns, numberColumns);
    if (this.other.length > 0) {
      const texts = this.other.map((s) => Buffer.from(s, 'utf8'));
      const lengths = new Uint32Array(texts.length);
      for (let i = 0; i < texts.length; i++) lengths[i] = texts[i].length;
      parts.push(new Uint8Array(lengths.buffer), ...texts);
      this.other = [];
      this.otherChars = 0;
    }
    this.block(type, n, parts);
  }

  block(type: number, count: number, parts: Uint8Array[]): void {
    let length = 0;
    for (const p of parts) length += p.length;
    const h = this.headView;
    h.setUint32(0, type, true);
    h.setUint32(4, count, true);
    h.setUint32(8, length, true);
    let crc = crc32(this.head.subarray(0, 12));
    for (const p of parts) crc = crc32(p, crc);
    h.setUint32(12, crc, true);
    const w = this.w;
    w.bytes(this.head);
    for (const p of parts) w.chunk(p);
    if (pad8(length) > length) w.bytes(ZEROS.subarray(0, pad8(length) - length));
  }
}

// One loop per width: a typed-array store that sees one type of array is several times faster.
// In place (out and src share a buffer) too: element j is written at or before where it was read.
function offsets8(out: Uint8Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
function offsets16(out: Uint16Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
function offsets32(out: Uint32Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
function fromOffsets8(out: Float64Array, src: Uint8Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}
function fromOffsets16(out: Float64Array, src: Uint16Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}
function fromOffsets32(out: Float64Array, src: Uint32Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}

/** start and end of primitive rows from..to into out[at..]: t0 - origin and max(t1, t0) - origin. */
function primitiveTimes(start: Float64Array, end: Float64Array, at: number, t0: Float64Array, t1: Float64Array, from: number, to: number, origin: number): void {
  for (let p = from, j = at; p < to; p++, j++) {
    const a = t0[p];
    const b = t1[p];
    start[j] = a - origin;
    end[j] = (b > a ? b : a) - origin;
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
 * src[from..to) into out[at..], 0 standing for null: then `flag` is or'ed into the row's flags and
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

/** The base `plan` chose (in a typed array: a double stored in a field would change the encoder's shape). */
const planned = new Float64Array(1);

/**
 * The width (0, 1, 2, 4 or 8 bytes) that holds the first n values of `a` exactly, leaving the base
 * in planned[0]: offsets from the smallest value when all are integers within 2^32 of it.
 */
function plan(a: Float64Array, n: number): number {
  planned[0] = 0;
  let lo = a[0];
  if (Math.floor(lo) !== lo) return 8;
  // A constant column (thread, often flops and bytes) costs one compare an element.
  let j = 1;
  while (j < n && a[j] === lo) j++;
  // Then two elements a step, each with its own bounds: measured ~1.5x faster than one (the
  // compares of one element do not wait for those of the one before).
  let hi = lo;
  let lo2 = lo;
  let hi2 = lo;
  for (; j + 1 < n; j += 2) {
    const v = a[j];
    const w = a[j + 1];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (w < lo2) lo2 = w;
    if (w > hi2) hi2 = w;
    // NaN fails these tests.
    if (Math.floor(v) !== v || Math.floor(w) !== w) return 8;
  }
  if (j < n) {
    const v = a[j];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.floor(v) !== v) return 8;
  }
  if (lo2 < lo) lo = lo2;
  if (hi2 > hi) hi = hi2;
  // -0 would come back as 0 (only possible when 0 is in range).
  if (lo <= 0 && hi >= 0) for (let k = 0; k < n; k++) if (a[k] === 0 && 1 / a[k] < 0) return 8;
  if (!(lo >= -MAX_SAFE && hi <= MAX_SAFE)) return 8;
  const range = hi - lo;
  if (range >= 2 ** 32) return 8;
  planned[0] = lo;
  return range === 0 ? 0 : range < 2 ** 8 ? 1 : range < 2 ** 16 ? 2 : 4;
}

/** The first `length` bytes of `b` and zero bytes up to a multiple of 8 (b has room for them). */
function padded(b: Uint8Array, length: number): Uint8Array {
  const end = pad8(length);
  b.fill(0, length, end);
  return b.subarray(0, end);
}

/** Keys of an object, counted without making an array of them. */
function keyCount(o: object): number {
  let n = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for (const _ in o) n++;
  return n;
}
// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Reads a trace in the binary layout from `fd` (a file of `size` bytes), block by block into one
 * reused buffer, checking everything loadTrace checks in a JSON file. Throws TraceFileError.
 */
export function readBinaryTrace(path: string, fd: number, size: number): Trace {
  const order = binaryByteOrderProblem();
  if (order) throw new TraceFileError(path, 'unreadable', `cannot read: ${order}`);
  return new BinaryDecoder(path, fd, size).read();
}

class BinaryDecoder {
  private buf = new Uint8Array(new ArrayBuffer(1 << 16));
  private pos = 0;
  private blockNo = 0;

  private spanTotal = 0;
  private memoryTotal = 0;
  private readonly spans: Span[] = [];
  private readonly memory: MemoryEvent[] = [];
  private readonly ids = new IdCheck();
  private readonly idOf = (j: number) => this.spans[j].id;

  private readonly strings: string[] = [];
  private readonly tensors: TensorInfo[] = [];
  /** Tensors that passed tensorProblem; lists made only of those are in `listsOk`. */
  private readonly tensorOk: boolean[] = [];
  private readonly lists: TensorInfo[][] = [];
  private readonly listsOk = new WeakSet<object>();
  /** The columns of the block being read: views of it (f64 columns) or decoded into `scratch`. */
  private readonly cols: Float64Array[] = [];
  private scratch: Float64Array[] = [];

  constructor(
    private readonly path: string,
    private readonly fd: number,
    private readonly size: number,
  ) {}

  private fail(code: TraceFileErrorCode, detail: string): never {
    throw new TraceFileError(this.path, code, detail);
  }

  /** Reads `n` bytes at `pos` into the start of the buffer (grown when needed). */
  private readAt(pos: number, n: number): Uint8Array {
    if (n > this.buf.length) this.buf = new Uint8Array(new ArrayBuffer(Math.max(n, this.buf.length * 2)));
    let done = 0;
    while (done < n) {
      let got: number;
      try {
        got = readSync(this.fd, this.buf, done, n - done, pos + done);
      } catch (e) {
        this.fail('unreadable', `cannot read: ${(e as NodeJS.ErrnoException)?.code ?? (e as Error)?.message}`);
      }
      if (got === 0) this.fail('truncated', `truncated: the file ended while being read (byte ${pos + done} of ${this.size})`);
      done += got;
    }
    return this.buf;
  }

  read(): Trace {
    const size = this.size;
    if (size < PREAMBLE) this.fail('truncated', `truncated: the file ends inside its ${PREAMBLE}-byte preamble (byte ${size})`);
    const pre = this.readAt(0, PREAMBLE);
    if (!isBinaryTrace(pre.subarray(0, 8))) this.fail('not-a-trace', 'not an mlx-trace file');
    const dv = new DataView(pre.buffer, 0, PREAMBLE);
    const version = dv.getUint32(8, true);
    if (version > VERSION) {
      this.fail('future-version', `written in binary layout version ${version}, and this version of mlx-trace reads version ${VERSION}: upgrade mlx-trace to open it`);
    }
    if (version === 0) this.fail('corrupt', 'corrupt: binary layout version 0 does not exist (bytes 8-11)');
    if (dv.getUint32(12, true) !== 0) this.fail('corrupt', 'corrupt: bytes 12-15 are not zero');
    this.pos = PREAMBLE;
    let trace: Obj | null = null;
    for (;;) {
      const k = this.blockNo;
      if (this.pos === size) {
        this.fail('truncated', `truncated: the file ends after block ${k - 1}, ${this.missing()} (byte ${size})`);
      }
      if (size - this.pos < BLOCK_HEAD) this.fail('truncated', `truncated: the file ends inside the head of block ${k} (byte ${size})`);
      const h = new DataView(this.readAt(this.pos, BLOCK_HEAD).buffer, 0, BLOCK_HEAD);
      const type = h.getUint32(0, true);
      const count = h.getUint32(4, true);
      const length = h.getUint32(8, true);
      const crc = h.getUint32(12, true);
      const what = this.describe(type, count);
      const start = this.pos + BLOCK_HEAD;
      const end = start + pad8(length);
      if (end > size) this.fail('truncated', `truncated: block ${k} (${what}) ends at byte ${end}, the file at byte ${size}`);
      const head12 = this.buf.slice(0, 12);
      const payload = this.readAt(start, length);
      if (crc32(payload.subarray(0, length), crc32(head12)) !== crc) {
        this.fail('corrupt', `corrupt: block ${k} (${what}, bytes ${this.pos}-${end - 1}) does not match its checksum`);
      }
      this.pos = end;
      this.blockNo++;
      if (k === 0) {
        if (type !== T_HEADER) {
          this.refuseUnknown(type, k);
          this.fail('corrupt', `corrupt: block 0 is ${what}, not the header`);
        }
        trace = this.header(payload, length);
        continue;
      }
      switch (type) {
        case T_DEFS:
          this.definitions(payload, length, count, k);
          break;
        case T_SPANS:
          this.spanBlock(payload, length, count, k, what);
          break;
        case T_MEMORY:
          this.memoryBlock(payload, length, count, k, what);
          break;
        case T_END:
          if (count !== 0 || length !== 0) this.fail('corrupt', `corrupt: block ${k} (the end) is not empty`);
          if (this.spans.length !== this.spanTotal || this.memory.length !== this.memoryTotal) {
            this.fail('corrupt', `corrupt: the file ends at block ${k}, ${this.missing()}`);
          }
          if (this.pos !== size) this.fail('corrupt', `corrupt: ${size - this.pos} bytes after the end block (byte ${this.pos} of ${size})`);
          return this.finish(trace!);
        case T_HEADER:
          this.fail('corrupt', `corrupt: block ${k} is a second header`);
          break;
        default:
          this.refuseUnknown(type, k);
      }
    }
  }

  /** Refuses a block type this version does not know (a newer writer's), if `type` is one. */
  private refuseUnknown(type: number, k: number): void {
    if (type < T_HEADER || type > T_END) {
      this.fail('future-version', `block ${k} is of type ${type}, which this version of mlx-trace does not know: upgrade mlx-trace to open it`);
    }
  }

  private describe(type: number, count: number): string {
    switch (type) {
      case T_HEADER:
        return 'the header';
      case T_DEFS:
        return 'definitions';
      case T_SPANS:
        return `spans ${this.spans.length}-${this.spans.length + count - 1}`;
      case T_MEMORY:
        return `memory events ${this.memory.length}-${this.memory.length + count - 1}`;
      case T_END:
        return 'the end';
      default:
        return `type ${type}`;
    }
  }

  private missing(): string {
    const s = this.spanTotal - this.spans.length;
    const m = this.memoryTotal - this.memory.length;
    if (s === 0 && m === 0) return 'before the end block';
    return `with ${s} of ${this.spanTotal} spans and ${m} of ${this.memoryTotal} memory events missing`;
  }

  private json(payload: Uint8Array, length: number, k: number, what: string): unknown {
    try {
      return JSON.parse(Buffer.from(payload.buffer, 0, length).toString('utf8'));
    } catch {
      return this.fail('corrupt', `corrupt: block ${k} (${what}) is not valid JSON`);
    }
  }

  private header(payload: Uint8Array, length: number): Obj {
    const h = this.json(payload, length, 0, 'the header');
    if (!isObj(h) || !isCount(h.spans) || !isCount(h.memory) || !isObj(h.trace)) {
      this.fail('corrupt', 'corrupt: block 0 (the header) is not {"spans":count,"memory":count,"trace":{...}}');
    }
    const trace = h.trace;
    if (!Object.hasOwn(trace, 'schema')) this.fail('not-a-trace', "not an mlx-trace file: it has no 'schema' field");
    const sp = schemaProblem(trace.schema);
    if (sp) this.fail(sp.code, sp.detail);
    const p = traceHeaderProblem(trace);
    if (p) this.fail('invalid-field', p);
    if (Object.hasOwn(trace, 'spans') || Object.hasOwn(trace, 'memory')) this.fail('corrupt', "corrupt: the header's trace holds 'spans' or 'memory'");
    // Nothing is made from these counts: spans and events arrive in blocks, each bounded by the file's size.
    this.spanTotal = h.spans;
    this.memoryTotal = h.memory;
    return trace;
  }

  private finish(header: Obj): Trace {
    const out: Obj = {};
    // defineProperty: a '__proto__' key must stay a plain field, not set the prototype.
    for (const key of Object.keys(header)) Object.defineProperty(out, key, { value: header[key], enumerable: true, writable: true, configurable: true });
    out.spans = this.spans;
    out.memory = this.memory;
    return out as unknown as Trace;
  }

  private definitions(payload: Uint8Array, length: number, count: number, k: number): void {
    const d = this.json(payload, length, k, 'definitions');
    const bad = (detail: string) => this.fail('corrupt', `corrupt: block ${k} (definitions): ${detail}`);
    if (!isObj(d) || !Array.isArray(d.strings) || !Array.isArray(d.tensors) || !Array.isArray(d.lists)) {
      return bad('not {"strings":[...],"tensors":[...],"lists":[...]}');
    }
    if (d.strings.length + d.tensors.length + d.lists.length !== count) bad(`holds ${d.strings.length + d.tensors.length + d.lists.length} definitions, its head says ${count}`);
    for (const s of d.strings) {
      if (typeof s !== 'string') bad(`string ${this.strings.length} is ${show(s)}, expected a string`);
      this.strings.push(s);
    }
    // Tensors are frozen and shared; a wrong one is reported by the check of the first span using it.
    for (const t of d.tensors) {
      this.tensorOk.push(tensorProblem(t, 'tensor') === null);
      this.tensors.push((isObj(t) ? Object.freeze(t) : t) as TensorInfo);
    }
    for (const l of d.lists) {
      const no = this.lists.length;
      if (!Array.isArray(l)) return bad(`list ${no} is ${show(l)}, expected an array of tensor numbers`);
      const list: TensorInfo[] = new Array(l.length);
      let ok = true;
      for (let i = 0; i < l.length; i++) {
        const t = l[i];
        if (!(isCount(t) && t < this.tensors.length)) bad(`list ${no} names tensor ${show(t)}, and ${this.tensors.length} are defined`);
        list[i] = this.tensors[t];
        ok &&= this.tensorOk[t];
      }
      if (ok) this.listsOk.add(list);
      this.lists.push(list);
    }
  }

  /**
   * The column table and columns of a block of n rows, decoded into this.cols (value columns first,
   * then numbers); returns the offset of the flags.
   */
  private unpack(payload: Uint8Array, length: number, n: number, valueColumns: number, numberColumns: number, k: number, what: string): number {
    const columns = valueColumns + numberColumns;
    const bad = (detail: string): never => this.fail('corrupt', `corrupt: block ${k} (${what}) ${detail}`);
    if (n > BLOCK) bad(`has ${n} rows, more than the ${BLOCK} a block holds`);
    let at = ENTRY * columns;
    if (length < at) bad(`has ${length} bytes, too few for its table of columns`);
    const ab = payload.buffer;
    const table = new DataView(ab, 0, at);
    if (this.scratch.length === 0 || this.scratch[0].length < n) this.scratch = Array.from({ length: SPAN_VALUES + SPAN_NUMBERS }, () => new Float64Array(n));
    for (let c = 0; c < columns; c++) {
      const base = table.getFloat64(ENTRY * c, true);
      const width = table.getUint32(ENTRY * c + 8, true);
      const isValue = c < valueColumns;
      if (!(width === 0 || width === 1 || width === 2 || width === 4 || (width === 8 && isValue)) || table.getUint32(ENTRY * c + 12, true) !== 0) {
        bad(`has column ${c} of width ${width}`);
      }
      if (width === 8 ? !Object.is(base, 0) : isValue ? !Number.isFinite(base) : !(Number.isInteger(base) && base >= 0)) bad(`has column ${c} based at ${base}`);
      const size = pad8(width * n);
      if (at + size > length) bad(`has ${length} bytes, too few for its columns`);
      if (width === 8) this.cols[c] = new Float64Array(ab, at, n);
      else {
        const out = this.scratch[c];
        if (width === 0) out.fill(base, 0, n);
        else if (width === 1) fromOffsets8(out, new Uint8Array(ab, at, n), base);
        else if (width === 2) fromOffsets16(out, new Uint16Array(ab, at, n), base);
        else fromOffsets32(out, new Uint32Array(ab, at, n), base);
        this.cols[c] = out;
      }
      at += size;
    }
    if (at + n > length) bad(`has ${length} bytes, too few for its flags`);
    return at;
  }

  /**
   * Where the other keys of a block start and end, after its flags: the byte lengths, then the
   * texts. `flagged` is how many rows have some.
   */
  private otherKeys(payload: Uint8Array, length: number, base: number, flagged: number, k: number, what: string): { lengths: Uint32Array; at: number } {
    const bad = (detail: string) => this.fail('corrupt', `corrupt: block ${k} (${what}) ${detail}`);
    if (flagged === 0) {
      if (length !== base) bad(`has ${length} bytes, and its columns take ${base}`);
      return { lengths: new Uint32Array(0), at: base };
    }
    if (length < base + 4 * flagged) bad(`has ${length} bytes, too few for its columns and ${flagged} lengths of other keys`);
    const lengths = new Uint32Array(payload.buffer, base, flagged);
    let total = base + 4 * flagged;
    for (let i = 0; i < flagged; i++) total += lengths[i];
    if (total !== length) bad(`has ${length} bytes, and its columns and other keys take ${total}`);
    return { lengths, at: base + 4 * flagged };
  }

  /** Other keys of row `index` ('span 17'), parsed, or a failure naming it. */
  private otherObject(payload: Uint8Array, at: number, n: number, where: string): Obj {
    let v: unknown;
    try {
      v = JSON.parse(Buffer.from(payload.buffer, at, n).toString('utf8'));
    } catch {
      return this.fail('corrupt', `corrupt: the other keys of ${where} are not valid JSON`);
    }
    if (!isObj(v)) this.fail('corrupt', `corrupt: the other keys of ${where} are ${show(v)}, expected an object`);
    return v;
  }

  private unknownNumber(index: number, field: string, v: number, table: 'string' | 'tensor list', defined: number): never {
    return this.fail('invalid-field', `span ${index}: '${field}' is ${table} number ${v}, and ${defined} are defined before it`);
  }

  private spanBlock(payload: Uint8Array, length: number, n: number, k: number, what: string): void {
    const first = this.spans.length;
    if (first + n > this.spanTotal) this.fail('corrupt', `corrupt: block ${k} holds ${what}, and the header says the trace has ${this.spanTotal}`);
    const flagsAt = this.unpack(payload, length, n, SPAN_VALUES, SPAN_NUMBERS, k, what);
    const [id, parent, start, end, thread, flops, bytes, layerId, kind, name, device, layer, inputs, outputs] = this.cols;
    const flags = new Uint8Array(payload.buffer, flagsAt, n);
    let flagged = 0;
    for (let j = 0; j < n; j++) if (flags[j] & SPAN_OTHER) flagged++;
    const other = this.otherKeys(payload, length, pad8(flagsAt + n), flagged, k, what);
    let otherAt = other.at;
    let otherNo = 0;

    const strings = this.strings;
    const ns = strings.length;
    const lists = this.lists;
    const nl = lists.length;
    const listsOk = this.listsOk;
    const spans = this.spans;
    let prevIn: unknown = null;
    let prevOut: unknown = null;
    for (let j = 0; j < n; j++) {
      const i = first + j;
      const f = flags[j];
      if ((f & LAYER_ID_NULL && !(f & HAS_LAYER_ID)) || (f & LAYER_NULL && !(f & HAS_LAYER))) {
        this.fail('corrupt', `corrupt: span ${i} has flags ${f} (null without the key)`);
      }
      const kn = kind[j];
      if (kn >= ns) this.unknownNumber(i, 'kind', kn, 'string', ns);
      const nn = name[j];
      if (nn >= ns) this.unknownNumber(i, 'name', nn, 'string', ns);
      const dn = device[j];
      if (dn >= ns) this.unknownNumber(i, 'device', dn, 'string', ns);
      const inn = inputs[j];
      if (inn >= nl) this.unknownNumber(i, 'inputs', inn, 'tensor list', nl);
      const outn = outputs[j];
      if (outn >= nl) this.unknownNumber(i, 'outputs', outn, 'tensor list', nl);
      let ly: string | null = null;
      if ((f & (HAS_LAYER | LAYER_NULL)) === HAS_LAYER) {
        const ln = layer[j];
        if (ln >= ns) this.unknownNumber(i, 'layer', ln, 'string', ns);
        ly = strings[ln];
      }
      // Spans with both layer fields (primitives) made whole, with no change of shape after.
      const s: Span =
        (f & (HAS_LAYER_ID | HAS_LAYER)) === (HAS_LAYER_ID | HAS_LAYER)
          ? {
              id: id[j],
              parentId: f & PARENT_NULL ? null : parent[j],
              kind: strings[kn] as Span['kind'],
              name: strings[nn],
              start: start[j],
              end: end[j],
              thread: thread[j],
              device: strings[dn] as Span['device'],
              inputs: lists[inn],
              outputs: lists[outn],
              flops: f & FLOPS_NULL ? null : flops[j],
              bytes: f & BYTES_NULL ? null : bytes[j],
              layerId: f & LAYER_ID_NULL ? null : layerId[j],
              layer: ly,
            }
          : {
              id: id[j],
              parentId: f & PARENT_NULL ? null : parent[j],
              kind: strings[kn] as Span['kind'],
              name: strings[nn],
              start: start[j],
              end: end[j],
              thread: thread[j],
              device: strings[dn] as Span['device'],
              inputs: lists[inn],
              outputs: lists[outn],
              flops: f & FLOPS_NULL ? null : flops[j],
              bytes: f & BYTES_NULL ? null : bytes[j],
            };
      if ((f & (HAS_LAYER_ID | HAS_LAYER)) === HAS_LAYER_ID) s.layerId = f & LAYER_ID_NULL ? null : layerId[j];
      else if ((f & (HAS_LAYER_ID | HAS_LAYER)) === HAS_LAYER) s.layer = ly;
      let ok: Span = s;
      if (f & SPAN_OTHER) {
        const len = other.lengths[otherNo++];
        const r = withRest(s, this.otherObject(payload, otherAt, len, `span ${i}`), SPAN_KEYS);
        otherAt += len;
        if (r instanceof Problem) this.fail('invalid-field', `span ${i} ${r.detail}`);
        ok = r;
      }
      if (!plainValidSpan(ok, listsOk, prevIn, prevOut)) {
        const p = spanProblem(ok, i);
        if (p) this.fail('invalid-field', p);
      } else {
        prevIn = ok.inputs;
        prevOut = ok.outputs;
      }
      const dup = this.ids.problem(ok.id, i, this.idOf);
      if (dup) this.fail('invalid-field', dup);
      spans.push(ok);
    }
  }

  private memoryBlock(payload: Uint8Array, length: number, n: number, k: number, what: string): void {
    const first = this.memory.length;
    if (first + n > this.memoryTotal) this.fail('corrupt', `corrupt: block ${k} holds ${what}, and the header says the trace has ${this.memoryTotal}`);
    const flagsAt = this.unpack(payload, length, n, MEMORY_VALUES, MEMORY_NUMBERS, k, what);
    const [t, delta, live, op] = this.cols;
    const flags = new Uint8Array(payload.buffer, flagsAt, n);
    let flagged = 0;
    for (let j = 0; j < n; j++) if (flags[j] & MEMORY_OTHER) flagged++;
    const other = this.otherKeys(payload, length, pad8(flagsAt + n), flagged, k, what);
    let otherAt = other.at;
    let otherNo = 0;
    const strings = this.strings;
    const ns = strings.length;
    const memory = this.memory;
    for (let j = 0; j < n; j++) {
      const i = first + j;
      const f = flags[j];
      if (f & ~MEMORY_FLAGS || (f & OP_NULL && !(f & HAS_OP))) this.fail('corrupt', `corrupt: memory event ${i} has flags ${f}`);
      const m = { t: t[j], delta: delta[j], live: live[j] } as MemoryEvent;
      if (f & HAS_OP) {
        if (f & OP_NULL) m.op = null;
        else {
          const on = op[j];
          if (on >= ns) this.fail('invalid-field', `memory event ${i}: 'op' is string number ${on}, and ${ns} are defined before it`);
          m.op = strings[on];
        }
      }
      let ok: MemoryEvent = m;
      if (f & MEMORY_OTHER) {
        const len = other.lengths[otherNo++];
        const r = withRest(m, this.otherObject(payload, otherAt, len, `memory event ${i}`), MEMORY_KEYS);
        otherAt += len;
        if (r instanceof Problem) this.fail('invalid-field', `memory event ${i} ${r.detail}`);
        ok = r;
      }
      if (!(Number.isFinite(ok.t) && Number.isFinite(ok.delta) && Number.isFinite(ok.live))) {
        const p = memoryProblem(ok, i);
        if (p) this.fail('invalid-field', p);
      }
      memory.push(ok);
    }
  }
}
