/**
 * The row layout of saved traces: each span (and memory event) is one JSON array instead of one
 * JSON object, and strings and tensors are written once and then referred to by number.
 *
 *   "spanFields":["id","parentId","kind","name","start","end","thread","device","inputs","outputs","flops","bytes","layerId","layer"]
 *   [206,205,"primitive","Add",15284271,15292637,32641,"cpu",[{"shape":[4],"dtype":"float32","bytes":16},0],[0],4,48,204,"Chain"]
 *   [207,205,0,1,15299249,15300151,32641,2,[0,0],[0],4,48,204,3]
 *
 * - kind, name, device, layer (and a memory event's op) are a string the first time a string
 *   appears in the file and its number afterwards (numbered from 0 in order of first appearance,
 *   one table for spans and memory events).
 * - inputs and outputs list tensors: an object {shape, dtype, bytes} the first time, its number
 *   afterwards (a second table, numbered the same way).
 * - A row has 12 fields; 14 when the span has layerId and layer; a last field that is an object
 *   holds every other key of the span (attrs, pass, warmup, ...). Memory rows: t, delta, live,
 *   then op when present, then an object of other keys.
 *
 * Why: a model repeats a few hundred ops, shapes and layer paths across millions of spans, so this
 * is about a fifth of the object layout's bytes and is written straight into a byte buffer: the
 * save costs a few hundred ns per span instead of microseconds. Numbers are written exactly
 * (shortest round-trip form, as JSON.stringify does).
 */
import { putBytes, putNumber } from './number-bytes';
import type { JsonBytes } from './json-bytes';
import { MAX_NESTING, tooDeep } from '../model/checks';
import type { MemoryEvent, Span, TensorInfo } from '../model/trace';

export const SPAN_FIELDS = ['id', 'parentId', 'kind', 'name', 'start', 'end', 'thread', 'device', 'inputs', 'outputs', 'flops', 'bytes', 'layerId', 'layer'] as const;
export const MEMORY_FIELDS = ['t', 'delta', 'live', 'op'] as const;

export const SPAN_KEYS: ReadonlySet<string> = new Set(SPAN_FIELDS);
/**
 * The fields of a 12-field row: a span with only one of layerId and layer keeps it among its other
 * keys, so that the missing one does not come back as null.
 */
export const ROW12_KEYS: ReadonlySet<string> = new Set(SPAN_FIELDS.slice(0, 12));
export const MEMORY_KEYS: ReadonlySet<string> = new Set(MEMORY_FIELDS);

const COMMA = 44;
const NEWLINE = 10;
const NULL = Buffer.from('null');

/**
 * Writes spans and memory events as rows. One per file: the string and tensor numbers are the
 * order of first appearance in that file.
 */
export class RowEncoder {
  private strings = new Map<string, Uint8Array>();
  private tensors = new Map<TensorInfo, number>();
  /** Tensors by content, for traces whose equal tensors are separate objects (built by hand, merged). */
  private tensorsByKey = new Map<string, number>();
  /** A list of tensors (the recorder shares one per shape signature) -> its encoding with numbers. */
  private lists = new Map<readonly TensorInfo[], Uint8Array>();

  /** Strings and tensors defined so far (a row that defines one is not cached). */
  private defined = 0;
  /**
   * The encodings of recent rows' fields from thread to layer, with the values they encode: a few
   * signatures (thread, shapes, cost, layer) take turns row after row, so a row usually repeats one.
   */
  private readonly tails: Tail[] = Array.from({ length: TAILS }, () => new Tail());
  /** The tail a row that matches none replaces next. */
  private nextTail = 0;

  /** Rows written so far. */
  private spanRows = 0;
  private memoryRows = 0;

  constructor(private readonly w: JsonBytes) {}

  /** Per string field, the last string and its encoding: kind, device and often name repeat row after row. */
  private lastStr: (string | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  private lastEnc: Uint8Array[] = new Array(5);

  // The row writers keep the offset in a local and write straight into the buffer: a row needs
  // less than ROW_ROOM bytes except for strings and tensors written out the first time, which go
  // through w.text() (after which the buffer is re-read: text may flush or replace it).

  // The hot paths (a string or list met before) stay small, so that they are inlined into the row
  // writers; first appearances go to the *New methods.

  /** A string field at o: the JSON string the first time, its number after. Returns the new offset. */
  private putStr(s: string, field: number, o: number): number {
    if (this.lastStr[field] === s) return putBytes(this.w.buf, o, this.lastEnc[field]);
    const known = this.strings.get(s);
    if (known === undefined) return this.putStrNew(s, o);
    this.lastStr[field] = s;
    this.lastEnc[field] = known;
    return putBytes(this.w.buf, o, known);
  }

  private putStrNew(s: string, o: number): number {
    this.strings.set(s, Buffer.from(String(this.strings.size)));
    this.defined++;
    return this.putText(JSON.stringify(s), o);
  }

  private putText(text: string, o: number): number {
    const w = this.w;
    w.off = o;
    w.text(text);
    w.room(ROW_ROOM);
    return w.off;
  }

  private putList(ts: readonly TensorInfo[], o: number): number {
    const known = this.lists.get(ts);
    return known !== undefined ? putBytes(this.w.buf, o, known) : this.putListNew(ts, o);
  }

  private putListNew(ts: readonly TensorInfo[], o: number): number {
    let refs = '[';
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      let n = this.tensors.get(t);
      if (n === undefined) {
        const json = tensorJson(t);
        n = this.tensorsByKey.get(json);
        if (n === undefined) {
          n = this.tensorsByKey.size;
          this.tensorsByKey.set(json, n);
          this.defined++;
          refs += (i > 0 ? ',' : '') + json;
          this.tensors.set(t, n);
          continue;
        }
        this.tensors.set(t, n);
      }
      refs += (i > 0 ? ',' : '') + n;
    }
    refs += ']';
    // By identity: nothing can change a list during one save (the recorder shares one per signature).
    if (!refs.includes('{')) this.lists.set(ts, Buffer.from(refs));
    return this.putText(refs, o);
  }

  /** Span s as a row, after a line break (and a comma from the second row on). */
  span(s: Span): void {
    const w = this.w;
    w.room(ROW_ROOM);
    let o = w.off;
    let buf = w.buf;
    if (this.spanRows++ > 0) buf[o++] = COMMA;
    buf[o++] = NEWLINE;
    buf[o++] = 0x5b;
    o = putNumber(buf, o, s.id);
    buf[o++] = COMMA;
    o = s.parentId === null ? putBytes(buf, o, NULL) : putNumber(buf, o, s.parentId);
    buf[o++] = COMMA;
    o = this.putStr(s.kind, 0, o);
    buf = w.buf;
    buf[o++] = COMMA;
    o = this.putStr(s.name, 1, o);
    buf = w.buf;
    buf[o++] = COMMA;
    o = putNumber(buf, o, s.start);
    buf[o++] = COMMA;
    o = putNumber(buf, o, s.end);
    buf[o++] = COMMA;
    // From thread to layer, a row usually repeats a recent one (same thread, shapes, cost, layer):
    // then its bytes are copied instead of written field by field.
    const tails = this.tails;
    const ins = s.inputs;
    for (let k = 0; k < TAILS; k++) {
      const t = tails[k];
      if (
        t.inputs === ins && t.len > 0 && s.thread === t.thread && s.device === t.device && s.outputs === t.outputs &&
        s.flops === t.flops && s.bytes === t.bytes && s.layerId === t.layerId && s.layer === t.layer
      ) {
        const tail = t.bytes_;
        for (let i = 0, n = t.len; i < n; i++) buf[o++] = tail[i];
        this.endRow(s, o, s.layerId !== undefined && s.layer !== undefined);
        return;
      }
    }
    const tailStart = o;
    const defined = this.defined;
    o = putNumber(buf, o, s.thread);
    buf[o++] = COMMA;
    o = this.putStr(s.device, 2, o);
    buf = w.buf;
    buf[o++] = COMMA;
    o = this.putList(ins, o);
    buf = w.buf;
    buf[o++] = COMMA;
    o = this.putList(s.outputs, o);
    buf = w.buf;
    buf[o++] = COMMA;
    o = s.flops === null ? putBytes(buf, o, NULL) : putNumber(buf, o, s.flops);
    buf[o++] = COMMA;
    o = s.bytes === null ? putBytes(buf, o, NULL) : putNumber(buf, o, s.bytes);
    const hasLayer = s.layerId !== undefined && s.layer !== undefined;
    if (hasLayer) {
      buf[o++] = COMMA;
      o = s.layerId == null ? putBytes(buf, o, NULL) : putNumber(buf, o, s.layerId);
      buf[o++] = COMMA;
      o = s.layer == null ? putBytes(buf, o, NULL) : this.putStr(s.layer, 3, o);
      buf = w.buf;
    }
    // Kept for later rows only when it defined no string or tensor (a later row refers to them).
    if (this.defined === defined && o - tailStart <= ROW_ROOM) {
      const t = tails[this.nextTail];
      this.nextTail = (this.nextTail + 1) % TAILS;
      t.keep(s, buf, tailStart, o);
    }
    this.endRow(s, o, hasLayer);
  }

  /** Other keys of the span, if any, and the closing bracket. */
  private endRow(s: Span, o: number, hasLayer: boolean): void {
    // Counting keys is much cheaper than walking them, and almost no span has any others.
    const plain = s.pass === undefined && s.warmup === undefined && s.attrs === undefined;
    if (!plain || keyCount(s) !== (hasLayer ? 14 : 12)) {
      const rest = extras(s, hasLayer ? SPAN_KEYS : ROW12_KEYS);
      if (rest) o = this.putText(',' + rest, o);
    }
    this.w.buf[o++] = 0x5d;
    this.w.off = o;
  }

  /** Memory event m as a row, after a line break (and a comma from the second row on). */
  memory(m: MemoryEvent): void {
    const w = this.w;
    w.room(ROW_ROOM);
    let o = w.off;
    let buf = w.buf;
    if (this.memoryRows++ > 0) buf[o++] = COMMA;
    buf[o++] = NEWLINE;
    buf[o++] = 0x5b;
    o = putNumber(buf, o, m.t);
    buf[o++] = COMMA;
    o = putNumber(buf, o, m.delta);
    buf[o++] = COMMA;
    o = putNumber(buf, o, m.live);
    if (m.op !== undefined) {
      buf[o++] = COMMA;
      o = m.op === null ? putBytes(buf, o, NULL) : this.putStr(m.op, 4, o);
      buf = w.buf;
    }
    if (keyCount(m) !== (m.op !== undefined ? 4 : 3)) {
      const rest = extras(m, MEMORY_KEYS);
      if (rest) {
        o = this.putText(',' + rest, o);
        buf = w.buf;
      }
    }
    buf[o++] = 0x5d;
    w.off = o;
  }
}

/** Room a row needs, except for strings and tensors written out in full (those check for themselves). */
const ROW_ROOM = 512;
/** Recent row tails kept. */
const TAILS = 8;

/** The encoding of a row's fields from thread to layer, and the values it encodes (len 0: none yet). */
class Tail {
  readonly bytes_ = new Uint8Array(ROW_ROOM);
  len = 0;
  thread = 0;
  device = '';
  inputs: readonly TensorInfo[] | null = null;
  outputs: readonly TensorInfo[] | null = null;
  flops: number | null = null;
  bytes: number | null = null;
  layerId: number | null | undefined = undefined;
  layer: string | null | undefined = undefined;

  /** Span s's tail, written in buf from `from` to `to`. */
  keep(s: Span, buf: Uint8Array, from: number, to: number): void {
    const b = this.bytes_;
    for (let i = from, j = 0; i < to; ) b[j++] = buf[i++];
    this.len = to - from;
    this.thread = s.thread;
    this.device = s.device;
    this.inputs = s.inputs;
    this.outputs = s.outputs;
    this.flops = s.flops;
    this.bytes = s.bytes;
    this.layerId = s.layerId;
    this.layer = s.layer;
  }
}

/** JSON of the free-form value of key `k`; refuses one nested deeper than a load accepts (as loading would). */
function freeJson(v: unknown, k: string): string | undefined {
  if (typeof v === 'object' && v !== null && tooDeep(v)) throw new Error(`'${k}' is nested deeper than ${MAX_NESTING} levels`);
  return JSON.stringify(v);
}

export function tensorJson(t: TensorInfo): string {
  let o = '{"shape":' + JSON.stringify(t.shape) + ',"dtype":' + JSON.stringify(t.dtype) + ',"bytes":' + JSON.stringify(t.bytes);
  for (const k in t) {
    if (k === 'shape' || k === 'dtype' || k === 'bytes') continue;
    const j = freeJson((t as unknown as Record<string, unknown>)[k], k);
    if (j !== undefined) o += ',' + JSON.stringify(k) + ':' + j;
  }
  return o + '}';
}

/** Keys of an object, counted without making an array of them (a row writer calls it per row). */
export function keyCount(o: object): number {
  let n = 0;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  for (const _ in o) n++;
  return n;
}

/** JSON of the keys outside `known` (undefined values left out, as JSON.stringify does), or ''. */
export function extras(o: object, known: ReadonlySet<string>): string {
  let out = '';
  for (const k in o) {
    if (known.has(k)) continue;
    const j = freeJson((o as Record<string, unknown>)[k], k);
    if (j !== undefined) out += (out ? ',' : '{') + JSON.stringify(k) + ':' + j;
  }
  return out ? out + '}' : '';
}
