/**
 * Writes the binary layout (layout.ts) from span and memory objects, a block at a time: begin()
 * writes the preamble and header, spans() and memory() append blocks of rows (each preceded by the
 * definitions it needs), end() the end block. column-source.ts extends it to write rows straight
 * from the recorder's columns.
 */
import type { MemoryEvent, Span, TensorInfo, Trace } from '../../model/trace';
import { plainValidFields, type SaveChecks } from '../../model/span-checks';
import { MEMORY_KEYS, SPAN_KEYS, extras, keyCount } from '../rows';
import type { JsonBytes } from '../json-bytes';
import { BAD_LIST, DefinitionTable } from './definitions';
import {
  BLOCK, BLOCK_HEAD, BYTES_NULL, ENTRY, FLOPS_NULL, HAS_LAYER, HAS_LAYER_ID, HAS_OP, LAYER_ID_NULL, LAYER_NULL, MAGIC, MEMORY_NUMBERS,
  MEMORY_OTHER, MEMORY_VALUES, OP_NULL, OTHER_CHARS, PARENT_NULL, PREAMBLE, SPAN_NUMBERS, SPAN_OTHER, SPAN_VALUES, STREAM_VERSION, T_DEFS, T_END,
  T_HEADER, T_MEMORY, T_SPANS, VERSION, pad8,
} from './layout';
import { crc32, offsets16, offsets32, offsets8, padded, plan, planned } from './packing';

const ZEROS = new Uint8Array(8);

/**
 * Writes a trace in the binary layout through `w`. `traceJson` is the JSON of the trace's
 * top-level keys but spans and memory (made by the caller, which checked them); `checks` is null
 * when the caller asked not to validate.
 */
export function writeBinaryTrace(w: JsonBytes, traceJson: string, trace: Trace, checks: SaveChecks | null): void {
  const { spans, memory } = trace;
  const e = new BinaryEncoder(w, Math.max(spans.length, memory.length), checks);
  e.begin(traceJson, spans.length, memory.length);
  e.spans(spans);
  e.memory(memory);
  e.end();
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

export class BinaryEncoder {
  /** A block's columns as the loops fill them, packed in place when the block is written. */
  protected readonly values: Float64Array[];
  protected readonly numbers: Uint32Array[];
  protected readonly flags: Uint8Array;
  /** The table of columns of the block being written. */
  private readonly table = new Uint8Array(ENTRY * (SPAN_VALUES + SPAN_NUMBERS));
  private readonly tableView = new DataView(this.table.buffer);
  private readonly head = new Uint8Array(BLOCK_HEAD);
  private readonly headView = new DataView(this.head.buffer);

  /** The strings, tensors and lists numbered so far, and those the next block needs defined. */
  protected readonly defs: DefinitionTable;
  /** Other keys of the current block's rows (JSON texts), and their length in characters. */
  protected other: string[] = [];
  protected otherChars = 0;

  protected readonly buffers: ColumnBuffers;

  /**
   * An encoder writing through `w` blocks of up to BLOCK rows (fewer when the trace has `rows` rows
   * at most); `checks` are the save's checks, or null when it does not validate.
   */
  constructor(
    private readonly w: JsonBytes,
    rows: number,
    protected readonly checks: SaveChecks | null,
  ) {
    const buffers = (this.buffers = takeBuffers(Math.min(BLOCK, Math.max(rows, 1))));
    this.defs = new DefinitionTable();
    this.values = buffers.values;
    this.numbers = buffers.numbers;
    this.flags = buffers.flags;
  }

  /**
   * The preamble and the header block: `traceJson` is the JSON of the trace's top-level keys but
   * spans and memory, and `spans` and `memory` the counts of rows the blocks after it will hold;
   * null for a streamed file (layout version 2), whose end block carries the counts.
   */
  begin(traceJson: string, spans: number | null, memory: number | null): void {
    const preamble = Buffer.alloc(PREAMBLE);
    preamble.set(MAGIC, 0);
    preamble.writeUInt32LE(spans === null ? STREAM_VERSION : VERSION, 8);
    this.w.bytes(preamble);
    const counts = spans === null ? '"streamed":true' : `"spans":${spans},"memory":${memory}`;
    this.block(T_HEADER, 0, [Buffer.from(`{${counts},"trace":${traceJson}}`, 'utf8')]);
  }

  /**
   * The end block, after the rows (with `trailer`, the JSON a streamed file ends with); hands the
   * buffers on to the next save.
   */
  end(trailer?: string): void {
    this.block(T_END, 0, trailer === undefined ? [] : [Buffer.from(trailer, 'utf8')]);
    spare = new WeakRef(this.buffers);
  }

  /** The number of string s (defined in the next definitions block when new). */
  protected str(s: string): number {
    return this.defs.str(s);
  }

  /** The number of a list of tensors, or BAD_LIST when the save's checks refuse it. */
  protected list(ts: readonly TensorInfo[]): number {
    return this.defs.list(ts, this.checks);
  }

  // What the last rows had, shared by every row whatever its source: kind and device repeat
  // (literal strings compare by pointer), lists too (by identity). Placeholders for null and absent
  // values are the last real one, which keeps a column's range narrow.
  protected kindS: unknown = null;
  protected kindN = 0;
  private deviceS: unknown = null;
  private deviceN = 0;
  private inS: unknown = null;
  private inN = 0;
  private outS: unknown = null;
  private outN = 0;
  protected opS: unknown = null;
  protected opN = 0;
  protected lastParent = 0;
  protected lastFlops = 0;
  protected lastBytes = 0;
  protected lastLayerId = 0;
  /** Rows in the block being filled. */
  protected n = 0;

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

  /**
   * Span object s (span i of the trace, checked unless i < 0 or checks is null) into the block being
   * filled. One function, over 80 lines, so that no field value is passed to a call: a double given
   * to a call that is not inlined is boxed, an allocation per timestamp.
   */
  protected spanObject(s: Span, i: number): void {
    const sid = s.id;
    const p = s.parentId;
    const k = s.kind;
    const nm = s.name;
    const st = s.start;
    const en = s.end;
    const th = s.thread;
    const d = s.device;
    const ins = s.inputs;
    const outs = s.outputs;
    const fl = s.flops;
    const b = s.bytes;
    const li = s.layerId;
    const ly = s.layer;
    const optional = s.pass !== undefined || s.warmup !== undefined || s.attrs !== undefined;
    const keys = 12 + (li === undefined ? 0 : 1) + (ly === undefined ? 0 : 1);
    const rest = optional || keyCount(s) !== keys ? extras(s, SPAN_KEYS) : '';

    const v = this.values;
    const id = v[0], parent = v[1], start = v[2], end = v[3], thread = v[4], flops = v[5], bytes = v[6], layerId = v[7];
    const u = this.numbers;
    const kind = u[0], name = u[1], device = u[2], layer = u[3], inputs = u[4], outputs = u[5];
    const strings = this.defs.strings;
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
    // The fields as read above, checked once (plainValidFields is what the JSON writer's check uses too).
    if (i >= 0 && this.checks !== null) {
      this.checks.spanRead(s, i, sid, !optional && (lists & BAD_LIST) === 0 && plainValidFields(sid, p, k, d, nm, st, en, th, fl, b, li, ly));
    }
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
  protected endBlock(type: number): void {
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
      const size = valueColumns === SPAN_VALUES && c >= SPAN_VALUES + 4 ? this.defs.listCount : this.defs.strings.size;
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
    const defs = this.defs.pending();
    if (defs !== null) this.block(T_DEFS, defs.count, [Buffer.from(defs.json, 'utf8')]);
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

  /** One block: its head (type, count, length, CRC-32 of head and payload), the payload, padding. */
  protected block(type: number, count: number, parts: Uint8Array[]): void {
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
