/**
 * Reads the binary layout (layout.ts) block by block into one reused buffer, checking everything
 * loadTrace checks in a JSON file; a cut file is 'truncated', a checksum or length that does not add
 * up 'corrupt', a newer version or block type 'future-version'.
 */
import { readSync } from 'node:fs';
import type { MemoryEvent, Span, TensorInfo, Trace } from '../../model/trace';
import { MEMORY_KEYS, SPAN_KEYS } from '../rows';
import { Problem, withRest } from '../row-decoder';
import {
  TraceFileError,
  isCount,
  isObj,
  memoryProblem,
  schemaProblem,
  show,
  spanProblem,
  tensorProblem,
  traceHeaderProblem,
  type Obj,
  type TraceFileErrorCode,
} from '../../model/checks';
import { IdCheck, plainValidSpan } from '../../model/span-checks';
import {
  BLOCK, BLOCK_HEAD, BYTES_NULL, FLOPS_NULL, HAS_LAYER, HAS_LAYER_ID, HAS_OP, LAYER_ID_NULL, LAYER_NULL, MEMORY_FLAGS, MEMORY_NUMBERS,
  MEMORY_OTHER, MEMORY_VALUES, OP_NULL, PARENT_NULL, PREAMBLE, SPAN_NUMBERS, SPAN_OTHER, SPAN_VALUES, T_DEFS, T_END, T_HEADER, T_MEMORY,
  T_SPANS, STREAM_VERSION, VERSION, pad8,
} from './layout';
import { binaryByteOrderProblem, crc32, isBinaryTrace, unpackColumns } from './packing';
import { DefinitionList } from './definitions';

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
  /** A streamed file (layout version 2 with a streamed header): counts in the end block, a cut tail is read up to it. */
  private streamed = false;
  /** Where the last complete block ends. */
  private complete = 0;
  private readonly spans: Span[] = [];
  private readonly memory: MemoryEvent[] = [];
  private readonly ids = new IdCheck();
  private readonly idOf = (j: number) => this.spans[j].id;

  /** Strings, tensors and lists defined by the blocks read so far. */
  private readonly defs = new DefinitionList();
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
    if (version > STREAM_VERSION) {
      this.fail('future-version', `written in binary layout version ${version}, and this version of mlx-trace reads version ${STREAM_VERSION}: upgrade mlx-trace to open it`);
    }
    if (version === 0) this.fail('corrupt', 'corrupt: binary layout version 0 does not exist (bytes 8-11)');
    if (dv.getUint32(12, true) !== 0) this.fail('corrupt', 'corrupt: bytes 12-15 are not zero');
    this.pos = PREAMBLE;
    this.streamed = version === STREAM_VERSION;
    let trace: Obj | null = null;
    try {
      return this.blocks((t) => (trace = t));
    } catch (e) {
      // A streamed file cut after its header (its writer was killed): what its complete blocks hold.
      if (!(e instanceof TraceFileError) || e.code !== 'truncated' || !this.streamed || trace === null) throw e;
      return this.cut(trace, e.detail);
    }
  }

  /** The blocks after the preamble, up to the end block; `header` gets the header's trace as soon as it is read. */
  private blocks(header: (trace: Obj) => void): Trace {
    const size = this.size;
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
        header(trace);
        this.complete = this.pos;
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
          if (this.streamed) this.trailer(trace!, payload, length, count, k);
          else if (count !== 0 || length !== 0) this.fail('corrupt', `corrupt: block ${k} (the end) is not empty`);
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
      this.complete = this.pos;
    }
  }

  /**
   * The end block of a streamed file: {"spans":S,"memory":M,"dropped":D,"meta":{...}}, the totals
   * (checked against what the blocks held), the final dropped count and meta keys, applied to `trace`.
   * Its counts then stand as the header's would, for the checks of the end block that follow.
   */
  private trailer(trace: Obj, payload: Uint8Array, length: number, count: number, k: number): void {
    if (count !== 0) this.fail('corrupt', `corrupt: block ${k} (the end) has count ${count}, not 0`);
    const t = length === 0 ? null : this.json(payload, length, k, 'the end');
    if (!isObj(t) || !isCount(t.spans) || !isCount(t.memory) || !isCount(t.dropped) || !isObj(t.meta)) {
      this.fail('corrupt', `corrupt: block ${k} (the end of a streamed file) is not {"spans":count,"memory":count,"dropped":count,"meta":{...}}`);
    }
    this.spanTotal = t.spans;
    this.memoryTotal = t.memory;
    trace.dropped = t.dropped;
    const meta = trace.meta as Obj;
    for (const key of Object.keys(t.meta)) Object.defineProperty(meta, key, { value: t.meta[key], enumerable: true, writable: true, configurable: true });
  }

  /** A streamed file whose tail was cut: the trace its complete blocks hold, with meta.truncated saying so in one line. */
  private cut(trace: Obj, detail: string): Trace {
    const meta = trace.meta as Obj;
    meta.truncated = `the tail was cut (the recording was not finished): read ${this.spans.length} spans and ${this.memory.length} memory events up to byte ${this.complete} of ${this.size} (${detail.replace(/^truncated: /, '')})`;
    return this.finish(trace);
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
    if ((s === 0 && m === 0) || this.spanTotal === Infinity) return 'before the end block';
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
    if (this.streamed) {
      // A streamed file's counts come in its end block; until then the blocks are bounded by the file's size.
      if (!isObj(h) || h.streamed !== true || Object.hasOwn(h, 'spans') || Object.hasOwn(h, 'memory') || !isObj(h.trace)) {
        this.fail('corrupt', 'corrupt: block 0 (the header of a streamed file, layout version 2) is not {"streamed":true,"trace":{...}}');
      }
    } else if (!isObj(h) || !isCount(h.spans) || !isCount(h.memory) || !isObj(h.trace)) {
      this.fail('corrupt', 'corrupt: block 0 (the header) is not {"spans":count,"memory":count,"trace":{...}}');
    }
    const trace = h.trace as Obj;
    if (!Object.hasOwn(trace, 'schema')) this.fail('not-a-trace', "not an mlx-trace file: it has no 'schema' field");
    const sp = schemaProblem(trace.schema);
    if (sp) this.fail(sp.code, sp.detail);
    const p = traceHeaderProblem(trace);
    if (p) this.fail('invalid-field', p);
    if (Object.hasOwn(trace, 'spans') || Object.hasOwn(trace, 'memory')) this.fail('corrupt', "corrupt: the header's trace holds 'spans' or 'memory'");
    // Nothing is made from these counts: spans and events arrive in blocks, each bounded by the file's size.
    this.spanTotal = this.streamed ? Infinity : (h.spans as number);
    this.memoryTotal = this.streamed ? Infinity : (h.memory as number);
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
    this.defs.read(d, count, (detail) => this.fail('corrupt', `corrupt: block ${k} (definitions): ${detail}`));
  }

  /** The columns of a block of n rows, decoded into this.cols (value columns first, then numbers); returns the offset of the flags. */
  private unpack(payload: Uint8Array, length: number, n: number, valueColumns: number, numberColumns: number, k: number, what: string): number {
    const bad = (detail: string): never => this.fail('corrupt', `corrupt: block ${k} (${what}) ${detail}`);
    if (n > BLOCK) bad(`has ${n} rows, more than the ${BLOCK} a block holds`);
    if (this.scratch.length === 0 || this.scratch[0].length < n) this.scratch = Array.from({ length: SPAN_VALUES + SPAN_NUMBERS }, () => new Float64Array(n));
    return unpackColumns(payload, length, n, valueColumns, numberColumns, this.cols, this.scratch, bad);
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

    const { strings, lists, listsOk } = this.defs;
    const ns = strings.length;
    const nl = lists.length;
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
    const strings = this.defs.strings;
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

