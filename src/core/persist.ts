/**
 * Saved traces: saveTrace writes a Trace as JSON span by span, loadTrace reads it back in chunks
 * and validates it, failing with one TraceFileError line that names the file and what is wrong.
 *
 * File layout (plain JSON; rows as documented in trace-rows.ts):
 *   {"schema":"mlx-trace/1","name":...,"layout":"rows","spanFields":[...],"memoryFields":[...],
 *    "meta":{...},"dropped":0,"spans":[
 *   [row],
 *   ...
 *   ],"memory":[
 *   [row],
 *   ...
 *   ]}
 * Spans and memory events come last, one per line, so the header is read (and a future schema or
 * layout refused) before any of them. loadTrace also accepts plain JSON of the Trace shape (one
 * object per span), in any key order and layout.
 *
 * Size limits: nothing is ever one string of the whole file, so there is no 512 MB ceiling; the
 * limit is the heap needed for the loaded objects (a few hundred bytes per span; tensors are shared),
 * and any single span, memory event or 'meta' must stay under V8's string limit (~512 MB).
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { TRACE_SCHEMA, type MemoryEvent, type Span, type TensorInfo, type Trace } from './trace';
import { JsonObjectStream, ScanError } from './json-stream';
import { ByteWriter, MEMORY_FIELDS, Problem, ROW_BREAK, RowDecoder, RowEncoder, SPAN_FIELDS } from './trace-rows';

export type TraceFileErrorCode =
  | 'not-found'
  | 'unreadable'
  | 'unwritable'
  | 'empty'
  | 'truncated'
  | 'invalid-json'
  | 'not-a-trace'
  | 'future-version'
  | 'invalid-field';

/** The one error loadTrace and saveTrace throw: message = '<file>: <what is wrong>', on one line. */
export class TraceFileError extends Error {
  override readonly name = 'TraceFileError';
  constructor(
    readonly file: string,
    readonly code: TraceFileErrorCode,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Validation: shared by save (never write what load would refuse) and load.
// Each check returns a problem description or null; nothing throws on the hot path.

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isCount = (v: unknown): v is number => isNum(v) && v >= 0 && Number.isInteger(v);

function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}

/**
 * Where a problem is ('span 17', 'span 17 inputs[0]'): a string, or a function that makes it, so
 * that checking a million good spans builds no location strings.
 */
type Loc = string | (() => string);
const at = (w: Loc): string => (typeof w === 'string' ? w : w());

const missing = (where: Loc, key: string) => `${at(where)} has no '${key}'`;
const wrong = (where: Loc, key: string, v: unknown, expected: string) => `${at(where)}: '${key}' is ${show(v)}, expected ${expected}`;

function checkField(o: Obj, where: Loc, key: string, ok: (v: unknown) => boolean, expected: string): string | null {
  const v = o[key];
  if (v === undefined) return missing(where, key);
  return ok(v) ? null : wrong(where, key, v, expected);
}

const KINDS = new Set(['eval', 'layer', 'primitive', 'sync', 'user']);
const DEVICES = new Set(['cpu', 'gpu']);

function tensorProblem(t: unknown, where: Loc): string | null {
  if (!isObj(t)) return `${at(where)} is ${show(t)}, expected {shape, dtype, bytes}`;
  const shape = t.shape;
  if (shape === undefined) return missing(where, 'shape');
  if (!Array.isArray(shape)) return wrong(where, 'shape', shape, 'an array');
  for (let i = 0; i < shape.length; i++) if (!isCount(shape[i])) return wrong(where, 'shape', shape, 'an array of sizes');
  if (typeof t.dtype !== 'string') return t.dtype === undefined ? missing(where, 'dtype') : wrong(where, 'dtype', t.dtype, 'a string');
  return checkField(t, where, 'bytes', isCount, 'a byte count');
}

function tensorsProblem(s: Obj, where: Loc, key: 'inputs' | 'outputs'): string | null {
  const ts = s[key];
  if (ts === undefined) return missing(where, key);
  if (!Array.isArray(ts)) return wrong(where, key, ts, 'an array');
  for (let i = 0; i < ts.length; i++) {
    const p = tensorProblem(ts[i], () => `${at(where)} ${key}[${i}]`);
    if (p) return p;
  }
  return null;
}

/** What is wrong with span number `index`, or null. */
export function spanProblem(s: unknown, index: number): string | null {
  const where = () => `span ${index}`;
  if (!isObj(s)) return `${where()} is ${show(s)}, expected an object`;
  const id = s.id;
  if (id === undefined) return missing(where, 'id');
  if (!(isCount(id) && id > 0)) return wrong(where, 'id', id, 'a positive integer');
  const parentId = s.parentId;
  if (parentId === undefined) return missing(where, 'parentId');
  if (parentId !== null && !isCount(parentId)) return wrong(where, 'parentId', parentId, 'a span id or null');
  if (s.kind === undefined) return missing(where, 'kind');
  if (!KINDS.has(s.kind as string)) return wrong(where, 'kind', s.kind, "one of 'eval', 'layer', 'primitive', 'sync', 'user'");
  if (typeof s.name !== 'string') return s.name === undefined ? missing(where, 'name') : wrong(where, 'name', s.name, 'a string');
  const start = s.start;
  if (start === undefined) return missing(where, 'start');
  if (!isNum(start)) return wrong(where, 'start', start, 'a number');
  const end = s.end;
  if (end === undefined) return missing(where, 'end');
  if (!isNum(end)) return wrong(where, 'end', end, 'a number');
  if (end < start) return `${where()}: 'end' (${end}) is before 'start' (${start})`;
  if (s.thread === undefined) return missing(where, 'thread');
  if (!isNum(s.thread)) return wrong(where, 'thread', s.thread, 'a number');
  if (s.device === undefined) return missing(where, 'device');
  if (!DEVICES.has(s.device as string)) return wrong(where, 'device', s.device, "'cpu' or 'gpu'");
  const p = tensorsProblem(s, where, 'inputs') ?? tensorsProblem(s, where, 'outputs');
  if (p) return p;
  for (const key of ['flops', 'bytes'] as const) {
    const v = s[key];
    if (v === undefined) return missing(where, key);
    if (v !== null && !(isNum(v) && v >= 0)) return wrong(where, key, v, 'a non-negative number or null');
  }
  // Optional fields: checked only when present.
  if (s.layerId !== undefined && s.layerId !== null && !isCount(s.layerId)) return wrong(where, 'layerId', s.layerId, 'a span id or null');
  if (s.layer !== undefined && s.layer !== null && typeof s.layer !== 'string') return wrong(where, 'layer', s.layer, 'a string or null');
  if (s.pass !== undefined && !isNum(s.pass)) return wrong(where, 'pass', s.pass, 'a number');
  if (s.warmup !== undefined && typeof s.warmup !== 'boolean') return wrong(where, 'warmup', s.warmup, 'true or false');
  if (s.attrs !== undefined) {
    if (!isObj(s.attrs)) return wrong(where, 'attrs', s.attrs, 'an object');
    for (const k in s.attrs) {
      const v = s.attrs[k];
      if (!(typeof v === 'string' || typeof v === 'boolean' || isNum(v))) return wrong(where, `attrs.${k}`, v, 'a string, number or boolean');
    }
  }
  return null;
}

export function memoryProblem(m: unknown, index: number): string | null {
  const where = () => `memory event ${index}`;
  if (!isObj(m)) return `${where()} is ${show(m)}, expected an object`;
  const p = checkField(m, where, 't', isNum, 'a number') ?? checkField(m, where, 'delta', isNum, 'a number') ?? checkField(m, where, 'live', isNum, 'a number');
  if (p) return p;
  if (m.op !== undefined && m.op !== null && typeof m.op !== 'string') return wrong(where, 'op', m.op, 'a string or null');
  return null;
}

const isStr = (v: unknown) => typeof v === 'string';

export function metaProblem(meta: unknown): string | null {
  if (meta === undefined) return "the trace has no 'meta'";
  if (!isObj(meta)) return `'meta' is ${show(meta)}, expected an object`;
  let p =
    checkField(meta, 'meta', 'timing', (v) => v === 'native' || v === 'js', "'native' or 'js'") ??
    checkField(meta, 'meta', 'createdAt', isStr, 'a string') ??
    checkField(meta, 'meta', 'origin', isObj, 'an object') ??
    checkField(meta, 'meta', 'host', isObj, 'an object') ??
    checkField(meta, 'meta', 'versions', isObj, 'an object') ??
    checkField(meta, 'meta', 'peaks', isObj, 'an object');
  if (p) return p;
  const origin = meta.origin as Obj;
  const host = meta.host as Obj;
  const versions = meta.versions as Obj;
  const peaks = meta.peaks as Obj;
  p =
    checkField(origin, 'meta.origin', 'monotonicNs', isNum, 'a number') ??
    checkField(origin, 'meta.origin', 'epochNs', (v) => isStr(v) && /^-?\d+$/.test(v as string), 'a decimal string') ??
    checkField(host, 'meta.host', 'platform', isStr, 'a string') ??
    checkField(host, 'meta.host', 'arch', isStr, 'a string') ??
    checkField(host, 'meta.host', 'cpuModel', isStr, 'a string') ??
    checkField(host, 'meta.host', 'cpus', isCount, 'a count') ??
    checkField(host, 'meta.host', 'totalMemory', isNum, 'a number') ??
    checkField(host, 'meta.host', 'hostname', isStr, 'a string') ??
    checkField(versions, 'meta.versions', 'mlx', isStr, 'a string') ??
    checkField(versions, 'meta.versions', 'node', isStr, 'a string') ??
    checkField(versions, 'meta.versions', 'mlxTrace', isStr, 'a string') ??
    checkField(peaks, 'meta.peaks', 'flops', isNum, 'a number') ??
    checkField(peaks, 'meta.peaks', 'bandwidth', isNum, 'a number') ??
    checkField(peaks, 'meta.peaks', 'source', (v) => v === 'calibrated' || v === 'default', "'calibrated' or 'default'");
  if (p) return p;
  if (meta.fallbackReason !== undefined && !isStr(meta.fallbackReason)) return wrong('meta', 'fallbackReason', meta.fallbackReason, 'a string');
  // Extra facts are free-form, but must survive a save: JSON has no Infinity or NaN (1e999 parses to Infinity).
  for (const k in meta) {
    if (META_KEYS.has(k)) continue;
    const bad = nonFinitePath(meta[k], `meta.${k}`, 0);
    if (bad) return `${bad} is not a finite number`;
  }
  return null;
}

const META_KEYS = new Set(['timing', 'createdAt', 'origin', 'host', 'versions', 'peaks', 'fallbackReason']);

function nonFinitePath(v: unknown, path: string, depth: number): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : path;
  if (typeof v !== 'object' || v === null || depth > 64) return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nonFinitePath(v[i], `${path}[${i}]`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  for (const k in v) {
    const p = nonFinitePath((v as Obj)[k], `${path}.${k}`, depth + 1);
    if (p) return p;
  }
  return null;
}

/** Refuses anything that is not this schema version, with the reason a user can act on. */
function schemaProblem(schema: unknown): { code: TraceFileErrorCode; detail: string } | null {
  if (schema === TRACE_SCHEMA) return null;
  if (typeof schema === 'string') {
    const m = /^mlx-trace\/(\d+)$/.exec(schema);
    if (m && Number(m[1]) > 1) {
      return {
        code: 'future-version',
        detail: `written by a newer mlx-trace (schema '${schema}'); this version reads '${TRACE_SCHEMA}': upgrade mlx-trace to open it`,
      };
    }
  }
  return { code: 'not-a-trace', detail: `not an mlx-trace file: 'schema' is ${show(schema)}, expected '${TRACE_SCHEMA}'` };
}

// ---------------------------------------------------------------------------------------------
// Saving

export interface SaveOptions {
  /**
   * Check every span before writing it, so a saved file always loads.
   * @default true
   */
  validate?: boolean;
}

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, b.length - done);
}

/** Top-level keys of the file that are about the layout, not part of the Trace. */
const LAYOUT_KEYS = new Set(['layout', 'spanFields', 'memoryFields']);

/**
 * The common case of spanProblem without building anything: a span this accepts is valid. Spans it
 * does not accept (extra keys, odd values) go through spanProblem, which has the last word.
 */
function plainValidSpan(s: Span, tensorsOk: WeakSet<object>, prevIn: unknown, prevOut: unknown): boolean {
  const id = s.id;
  const p = s.parentId;
  const f = s.flops;
  const b = s.bytes;
  const l = s.layerId;
  const ly = s.layer;
  const k = s.kind;
  const d = s.device;
  const start = s.start;
  const end = s.end;
  // typeof + comparisons: NaN fails every comparison, Infinity fails the bound.
  return (
    typeof id === 'number' && id > 0 && id <= 9007199254740991 && id % 1 === 0 &&
    (p === null || (typeof p === 'number' && p >= 0 && p <= 9007199254740991 && p % 1 === 0)) &&
    (k === 'primitive' || k === 'eval' || k === 'layer' || k === 'sync' || k === 'user') &&
    (d === 'cpu' || d === 'gpu') && typeof s.name === 'string' &&
    typeof start === 'number' && typeof end === 'number' && start > -Infinity && end < Infinity && end >= start &&
    typeof s.thread === 'number' && s.thread > -Infinity && s.thread < Infinity &&
    (f === null || (typeof f === 'number' && f >= 0 && f < Infinity)) &&
    (b === null || (typeof b === 'number' && b >= 0 && b < Infinity)) &&
    (l === undefined || l === null || (typeof l === 'number' && l >= 0 && l <= 9007199254740991 && l % 1 === 0)) &&
    (ly === undefined || ly === null || typeof ly === 'string') &&
    s.pass === undefined && s.warmup === undefined && s.attrs === undefined &&
    (s.inputs === prevIn || checkedList(s.inputs, tensorsOk)) && (s.outputs === prevOut || checkedList(s.outputs, tensorsOk))
  );
}

/** A list already checked in this save, or made only of tensors already checked in it. */
function checkedList(ts: unknown, ok: WeakSet<object>): boolean {
  if (!Array.isArray(ts)) return false;
  if (ok.has(ts)) return true;
  for (let i = 0; i < ts.length; i++) if (!ok.has(ts[i])) return false;
  return true;
}

function rememberChecked(ts: readonly object[], ok: WeakSet<object>): void {
  ok.add(ts);
  for (const t of ts) ok.add(t);
}

function headerProblem(trace: Trace): string | null {
  if (!isObj(trace)) return `the trace is ${show(trace)}, expected an object`;
  const s = schemaProblem(trace.schema);
  if (s) return s.detail.replace(/^not an mlx-trace file: /, '');
  if (typeof trace.name !== 'string') return wrong('trace', 'name', trace.name, 'a string');
  if (!isCount(trace.dropped)) return wrong('trace', 'dropped', trace.dropped, 'a count');
  if (!Array.isArray(trace.spans)) return wrong('trace', 'spans', trace.spans, 'an array');
  if (!Array.isArray(trace.memory)) return wrong('trace', 'memory', trace.memory, 'an array');
  return metaProblem(trace.meta);
}

/**
 * Writes the trace to `path` as JSON, streaming span by span through a 1 MB buffer, to a temporary
 * file renamed over `path` at the end (a crash never leaves half a trace under the real name).
 * Synchronous: `saveTrace(trace, 'trace.json')` needs no await. Throws TraceFileError.
 */
export function saveTrace(trace: Trace, path: string, opts: SaveOptions = {}): void {
  const validate = opts.validate ?? true;
  const notSaved = (detail: string) => new TraceFileError(path, 'invalid-field', `not saved: ${detail}`);
  const hp = headerProblem(trace);
  if (hp) throw notSaved(hp);

  const tmp = `${path}.${process.pid}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new TraceFileError(path, 'unwritable', `cannot write: ${ioReason(e)}`);
  }
  let ok = false;
  try {
    const w = new ByteWriter((b) => writeAll(fd, b));
    const rows = new RowEncoder(w);
    let head = '{"schema":' + JSON.stringify(trace.schema) + ',"name":' + JSON.stringify(trace.name) + ',"layout":"rows"';
    head += ',"spanFields":' + JSON.stringify(SPAN_FIELDS) + ',"memoryFields":' + JSON.stringify(MEMORY_FIELDS);
    head += ',"meta":' + JSON.stringify(trace.meta) + ',"dropped":' + trace.dropped;
    for (const k in trace) {
      if (k === 'schema' || k === 'name' || k === 'meta' || k === 'dropped' || k === 'spans' || k === 'memory') continue;
      if (LAYOUT_KEYS.has(k)) throw notSaved(`trace: '${k}' is a name the file layout uses; rename that field`);
      const j = JSON.stringify((trace as unknown as Obj)[k]);
      if (j !== undefined) head += ',' + JSON.stringify(k) + ':' + j;
    }
    w.text(head + ',"spans":[');
    const spans = trace.spans;
    // Validation: ids that only go up cannot repeat; a Set of ids is made only if they stop doing so.
    let lastId = 0;
    let seen: Set<number> | null = null;
    let prevIn: unknown = null;
    let prevOut: unknown = null;
    // Tensors and tensor lists already checked (the recorder shares one list per shape signature).
    const tensorsOk = new WeakSet<object>();
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i];
      if (validate) {
        if (!(s !== null && typeof s === 'object' && plainValidSpan(s, tensorsOk, prevIn, prevOut))) {
          const p = spanProblem(s, i);
          if (p) throw notSaved(p);
          rememberChecked(s.inputs, tensorsOk);
          rememberChecked(s.outputs, tensorsOk);
        }
        // Nothing can change a list while this loop runs: one checked once is good for the whole save.
        prevIn = s.inputs;
        prevOut = s.outputs;
        if (!seen && !(s.id > lastId)) {
          seen = new Set<number>();
          for (let j = 0; j < i; j++) seen.add(spans[j].id);
        }
        if (seen) {
          if (seen.has(s.id)) throw notSaved(`span ${i}: id ${s.id} is used twice`);
          seen.add(s.id);
        } else lastId = s.id;
      }
      if (i === 0) w.byte(10);
      else w.bytes(ROW_BREAK);
      rows.span(s);
    }
    w.text('\n],"memory":[');
    const mem = trace.memory;
    for (let i = 0; i < mem.length; i++) {
      const m = mem[i];
      if (validate && !(m !== null && typeof m === 'object' && Number.isFinite(m.t) && Number.isFinite(m.delta) && Number.isFinite(m.live) && (m.op == null || typeof m.op === 'string'))) {
        const p = memoryProblem(m, i);
        if (p) throw notSaved(p);
      }
      if (i === 0) w.byte(10);
      else w.bytes(ROW_BREAK);
      rows.memory(m);
    }
    w.text('\n]}\n');
    w.flush();
    ok = true;
  } catch (e) {
    if (e instanceof TraceFileError) throw e;
    // A system error is the file's fault; anything else (a BigInt in meta...) is the trace's.
    if ((e as NodeJS.ErrnoException)?.code) throw new TraceFileError(path, 'unwritable', `cannot write: ${ioReason(e)}`);
    throw notSaved(e instanceof Error ? e.message.split('\n')[0] : String(e));
  } finally {
    closeSync(fd);
    if (!ok) {
      try {
        unlinkSync(tmp);
      } catch {
        // already gone
      }
    }
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw new TraceFileError(path, 'unwritable', `cannot write: ${ioReason(e)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

function ioReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return code ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
}

const STREAMED = new Set(['spans', 'memory']);

/**
 * Reads a trace saved by saveTrace (or plain JSON of the Trace shape), checking every field.
 * Throws TraceFileError with one line naming the file and the problem: missing file, empty,
 * truncated, invalid JSON, not a trace, a newer schema, or a missing/wrong field
 * ("trace.json: span 17 has no 'end'").
 */
export interface LoadOptions {
  /** Read size in bytes (default 4 MB, less for small files). Tests use tiny chunks to cross every boundary. */
  chunkBytes?: number;
}

export function loadTrace(path: string, opts: LoadOptions = {}): Trace {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    throw new TraceFileError(path, code === 'ENOENT' ? 'not-found' : 'unreadable', code === 'ENOENT' ? 'no such file' : `cannot read: ${ioReason(e)}`);
  }
  try {
    let size: number;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw Object.assign(new Error('EISDIR'), { code: 'EISDIR' });
      size = st.size;
    } catch (e) {
      throw new TraceFileError(path, 'unreadable', `cannot read: ${ioReason(e)}`);
    }
    if (size === 0) throw new TraceFileError(path, 'empty', 'the file is empty');
    return readTrace(path, fd, size, opts.chunkBytes ?? Math.min(size + 1, 4 << 20));
  } finally {
    closeSync(fd);
  }
}

function readTrace(path: string, fd: number, size: number, chunkBytes: number): Trace {
  const out: Obj = {};
  const spans: Span[] = [];
  const memory: MemoryEvent[] = [];
  const ids = new Map<number, number>();
  let schemaChecked = false;
  /** layout / spanFields / memoryFields seen before the schema, checked once it is. */
  const layoutMembers: [string, unknown][] = [];
  // Whether the streamed arrays were checked element by element (only once the schema is known).
  let spansChecked = true;
  let memoryChecked = true;
  const fail = (code: TraceFileErrorCode, detail: string): never => {
    throw new TraceFileError(path, code, detail);
  };
  // Row layout (trace-rows.ts): rows are turned into objects in file order, once the layout is known.
  const decoder = new RowDecoder();
  let rowLayout = false;
  let rowsPending = false;
  const fromRow = (v: unknown, key: 'spans' | 'memory', i: number): unknown => {
    if (!Array.isArray(v) || !rowLayout) return v;
    const r = key === 'spans' ? decoder.span(v) : decoder.memory(v);
    if (r instanceof Problem) fail('invalid-field', `${key === 'spans' ? 'span' : 'memory event'} ${i}${r.detail.startsWith("'") ? ': ' : ' '}${r.detail}`);
    return r;
  };
  const checkLayoutMember = (key: string, value: unknown) => {
    if (key === 'layout') {
      if (value !== 'rows') fail('future-version', `written in layout ${show(value)}, which this version of mlx-trace cannot read ('rows' only): upgrade mlx-trace to open it`);
      rowLayout = true;
    } else {
      const known: readonly string[] = key === 'spanFields' ? SPAN_FIELDS : MEMORY_FIELDS;
      if (!Array.isArray(value) || value.length !== known.length || value.some((f, i) => f !== known[i])) {
        fail('future-version', `its '${key}' are ${show(value)}, not the ones this version reads: upgrade mlx-trace to open it`);
      }
    }
  };
  const checkSpan = (s: unknown, i: number) => {
    const p = spanProblem(s, i);
    if (p) fail('invalid-field', p);
    const id = (s as Span).id;
    const other = ids.get(id);
    if (other !== undefined) fail('invalid-field', `span ${i}: id ${id} is used twice (also by span ${other})`);
    ids.set(id, i);
  };
  const checkMemory = (m: unknown, i: number) => {
    const p = memoryProblem(m, i);
    if (p) fail('invalid-field', p);
  };
  const checkSchema = (v: unknown) => {
    const p = schemaProblem(v);
    if (p) fail(p.code, p.detail);
    schemaChecked = true;
  };

  const stream = new JsonObjectStream(fd, chunkBytes);
  try {
    stream.read({
      streamKeys: STREAMED,
      onMember(key, value) {
        // The last of duplicate keys wins, as in JSON.parse. A 'spans' or 'memory' that is not an
        // array lands here too and is reported by the checks at the end.
        // defineProperty: a '__proto__' key must stay a plain field, not set the prototype.
        if (LAYOUT_KEYS.has(key)) {
          // Checked once the schema is known, so that a foreign file is called foreign first.
          if (schemaChecked) checkLayoutMember(key, value);
          else layoutMembers.push([key, value]);
          return;
        }
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        if (key === 'schema') {
          checkSchema(value);
          for (const [k, v] of layoutMembers) checkLayoutMember(k, v);
          layoutMembers.length = 0;
        }
        if (key === 'meta' && schemaChecked) {
          const p = metaProblem(value);
          if (p) fail('invalid-field', p);
        }
      },
      onArrayStart(key) {
        if (key === 'spans') {
          spans.length = 0;
          ids.clear();
          out.spans = spans;
          spansChecked = schemaChecked;
        } else {
          memory.length = 0;
          out.memory = memory;
          memoryChecked = schemaChecked;
        }
      },
      onElement(key, i, value) {
        // Until the schema and layout are known the file may not be a trace at all: check later,
        // so the error says "not an mlx-trace file" rather than "span 0 has no 'id'".
        const ready = schemaChecked && layoutMembers.length === 0 && (rowLayout || !Array.isArray(value));
        if (!ready) rowsPending = true;
        if (key === 'spans') {
          const s = ready ? fromRow(value, 'spans', i) : value;
          if (ready) checkSpan(s, i);
          spans.push(s as Span);
        } else {
          const m = ready ? fromRow(value, 'memory', i) : value;
          if (ready) checkMemory(m, i);
          memory.push(m as MemoryEvent);
        }
      },
      label(key, index) {
        if (key === 'spans' && index != null) return `span ${index}`;
        if (key === 'memory' && index != null) return `memory event ${index}`;
        return `'${key}'`;
      },
    });
  } catch (e) {
    if (e instanceof TraceFileError) throw e;
    if (e instanceof ScanError) {
      if (e.kind === 'truncated') fail('truncated', `truncated: ${e.detail} (byte ${e.offset} of ${size})`);
      if (e.offset === 0 && size >= 2) {
        const magic = peekMagic(fd);
        if (magic === 'gzip') fail('invalid-json', 'is gzip-compressed: decompress it first (gunzip)');
      }
      fail('invalid-json', e.detail.startsWith('invalid JSON') ? e.detail : `invalid JSON: ${e.detail} (byte ${e.offset})`);
    }
    // A value over V8's string limit, and read errors (EIO...), still get the file's name. Anything
    // else is a bug in this reader and is not dressed up as a file problem.
    if (e instanceof RangeError || (e as NodeJS.ErrnoException)?.code) {
      fail('unreadable', `cannot read: ${ioReason(e)}`);
    }
    throw e;
  }

  if (!Object.hasOwn(out, 'schema')) {
    fail('not-a-trace', "not an mlx-trace file: it has no 'schema' field");
  }
  if (!schemaChecked) checkSchema(out.schema);
  if (typeof out.name !== 'string') fail('invalid-field', out.name === undefined ? "the trace has no 'name'" : wrong('trace', 'name', out.name, 'a string'));
  const mp = metaProblem(out.meta);
  if (mp) fail('invalid-field', mp);
  if (out.spans === undefined) fail('invalid-field', "the trace has no 'spans'");
  if (out.spans !== spans) fail('invalid-field', wrong('trace', 'spans', out.spans, 'an array'));
  if (out.memory === undefined) fail('invalid-field', "the trace has no 'memory'");
  if (out.memory !== memory) fail('invalid-field', wrong('trace', 'memory', out.memory, 'an array'));
  if (out.dropped === undefined) fail('invalid-field', "the trace has no 'dropped'");
  if (!isCount(out.dropped)) fail('invalid-field', wrong('trace', 'dropped', out.dropped, 'a count'));
  // Elements read before the schema (or the layout) was known are decoded and checked now.
  if (!spansChecked || rowsPending) {
    ids.clear();
    for (let i = 0; i < spans.length; i++) {
      const s = Array.isArray(spans[i]) ? (fromRow(spans[i], 'spans', i) as Span) : spans[i];
      spans[i] = s;
      checkSpan(s, i);
    }
  }
  if (!memoryChecked || rowsPending) {
    for (let i = 0; i < memory.length; i++) {
      const m = Array.isArray(memory[i]) ? (fromRow(memory[i], 'memory', i) as MemoryEvent) : memory[i];
      memory[i] = m;
      checkMemory(m, i);
    }
  }
  return out as unknown as Trace;
}

function peekMagic(fd: number): 'gzip' | null {
  const b = Buffer.alloc(2);
  try {
    readSync(fd, b, 0, 2, 0);
  } catch {
    return null;
  }
  return b[0] === 0x1f && b[1] === 0x8b ? 'gzip' : null;
}
