/**
 * What a saved trace may hold: the checks saveTrace and loadTrace share, whatever the file layout
 * (JSON rows, objects, or binary), and the one error they throw. Saving refuses exactly what
 * loading would refuse, so a saved file always loads.
 */
import { TRACE_SCHEMA, type Trace } from './trace';
import { CORE_META_KEYS } from './meta';

export type TraceFileErrorCode =
  | 'not-found'
  | 'unreadable'
  | 'unwritable'
  | 'empty'
  | 'truncated'
  | 'invalid-json'
  | 'not-a-trace'
  | 'future-version'
  | 'invalid-field'
  /** A binary (.mlxtrace) file whose bytes do not add up: a checksum or a length is wrong. */
  | 'corrupt';

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

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isCount = (v: unknown): v is number => isNum(v) && v >= 0 && Number.isInteger(v);

export function show(v: unknown): string {
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
export type Loc = string | (() => string);
const at = (w: Loc): string => (typeof w === 'string' ? w : w());

/**
 * How deep objects and arrays may nest in a free-form value (meta, a trace's other keys, a span's,
 * tensor's or memory event's other keys), the value itself being level 1. Loading refuses deeper
 * values and saving refuses them too, so a file that loads also saves, and the writers' JSON.stringify
 * never runs out of stack.
 */
export const MAX_NESTING = 1000;

/** Whether `v` nests objects and arrays deeper than MAX_NESTING levels; found without recursion. */
export function tooDeep(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const values: unknown[] = [v];
  const depths: number[] = [1];
  while (values.length > 0) {
    const x = values.pop() as object;
    const d = depths.pop()!;
    if (d > MAX_NESTING) return true;
    const inner = Array.isArray(x) ? x : Object.values(x);
    for (const y of inner) {
      if (typeof y === 'object' && y !== null) {
        values.push(y);
        depths.push(d + 1);
      }
    }
  }
  return false;
}

/** The problem with a free-form value at `where` nested too deeply, or null. */
export function nestingProblem(v: unknown, where: string): string | null {
  return tooDeep(v) ? `${where} is nested deeper than ${MAX_NESTING} levels` : null;
}

/** The first of `o`'s keys outside `known` whose value nests too deeply, as a problem, or null. */
export function extrasNestingProblem(o: Obj, known: ReadonlySet<string>, where: Loc): string | null {
  for (const k in o) {
    if (known.has(k)) continue;
    const v = o[k];
    if (typeof v === 'object' && v !== null && tooDeep(v)) return `${at(where)}: '${k}' is nested deeper than ${MAX_NESTING} levels`;
  }
  return null;
}

const missing = (where: Loc, key: string) => `${at(where)} has no '${key}'`;
export const wrong = (where: Loc, key: string, v: unknown, expected: string) => `${at(where)}: '${key}' is ${show(v)}, expected ${expected}`;

function checkField(o: Obj, where: Loc, key: string, ok: (v: unknown) => boolean, expected: string): string | null {
  const v = o[key];
  if (v === undefined) return missing(where, key);
  return ok(v) ? null : wrong(where, key, v, expected);
}

const KINDS = new Set(['eval', 'layer', 'primitive', 'sync', 'user']);
const DEVICES = new Set(['cpu', 'gpu']);

export function tensorProblem(t: unknown, where: Loc): string | null {
  if (!isObj(t)) return `${at(where)} is ${show(t)}, expected {shape, dtype, bytes}`;
  const shape = t.shape;
  if (shape === undefined) return missing(where, 'shape');
  if (!Array.isArray(shape)) return wrong(where, 'shape', shape, 'an array');
  for (let i = 0; i < shape.length; i++) if (!isCount(shape[i])) return wrong(where, 'shape', shape, 'an array of sizes');
  if (typeof t.dtype !== 'string') return t.dtype === undefined ? missing(where, 'dtype') : wrong(where, 'dtype', t.dtype, 'a string');
  return checkField(t, where, 'bytes', isCount, 'a byte count') ?? extrasNestingProblem(t, TENSOR_KEYS, where);
}

const TENSOR_KEYS: ReadonlySet<string> = new Set(['shape', 'dtype', 'bytes']);

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
  const deep = nestingProblem(meta, "'meta'");
  if (deep) return deep;
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
    checkField(origin, 'meta.origin', 'epochNs', isEpochNs, 'a decimal string') ??
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
    if (CORE_META_KEYS.has(k)) continue;
    const bad = nonFinitePath(meta[k], `meta.${k}`, 0);
    if (bad) return `${bad} is not a finite number`;
  }
  return null;
}

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
export function schemaProblem(schema: unknown): { code: TraceFileErrorCode; detail: string } | null {
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
// Input of exporters and analyses: the one test of "is this a Trace" at every public entry.

/**
 * Why `trace` cannot be exported or analysed, in one line, or null. Only the shape readers rely on is
 * checked (an object, this schema when it names one, a spans array, memory an array when present);
 * span fields are the loader's business.
 */
export function traceProblem(trace: unknown): string | null {
  if (trace === null || typeof trace !== 'object' || Array.isArray(trace)) {
    return `expected a Trace object, got ${trace === null ? 'null' : Array.isArray(trace) ? 'an array' : typeof trace}`;
  }
  const t = trace as Partial<Trace>;
  if (t.schema !== undefined && t.schema !== TRACE_SCHEMA) return `not an ${TRACE_SCHEMA} trace: its schema is ${show(t.schema)}`;
  if (!Array.isArray(t.spans)) return `not an ${TRACE_SCHEMA} trace: it has no spans array`;
  if (t.memory != null && !Array.isArray(t.memory)) return `not an ${TRACE_SCHEMA} trace: its memory is not an array`;
  return null;
}

/** traceProblem as a TypeError whose message is '<who>: <problem>'. */
export function assertTrace(trace: unknown, who: string): asserts trace is Trace {
  const p = traceProblem(trace);
  if (p) throw new TypeError(`${who}: ${p}`);
}

/**
 * assertTrace, then the trace to read: the trace itself, or a shallow copy with `memory: []` when it
 * has no memory events, so exporters never change the caller's object.
 */
export function exportableTrace(trace: unknown, who: string): Trace {
  assertTrace(trace, who);
  return trace.memory == null ? { ...trace, memory: [] } : trace;
}

/** A wall-clock origin as traces store it: nanoseconds since the Unix epoch as a decimal string (negative before 1970). */
export const isEpochNs = (v: unknown): v is string => typeof v === 'string' && /^-?\d+$/.test(v);

/** With `arrays` false, spans and memory are not looked at (a taken trace's unread columns). */
export function headerProblem(trace: Trace, arrays = true): string | null {
  if (!isObj(trace)) return `the trace is ${show(trace)}, expected an object`;
  const s = schemaProblem(trace.schema);
  if (s) return s.detail.replace(/^not an mlx-trace file: /, '');
  if (typeof trace.name !== 'string') return wrong('trace', 'name', trace.name, 'a string');
  if (!isCount(trace.dropped)) return wrong('trace', 'dropped', trace.dropped, 'a count');
  if (arrays && !Array.isArray(trace.spans)) return wrong('trace', 'spans', trace.spans, 'an array');
  if (arrays && !Array.isArray(trace.memory)) return wrong('trace', 'memory', trace.memory, 'an array');
  return metaProblem(trace.meta) ?? extrasNestingProblem(trace as unknown as Obj, TRACE_ARRAYS, 'trace');
}

/** A trace's two big arrays, left out of the nesting check of its other keys (a taken trace's are made on first read). */
const TRACE_ARRAYS: ReadonlySet<string> = new Set(['spans', 'memory']);


/** What is wrong with a loaded trace's name, meta or dropped (its schema is checked first, apart). */
export function traceHeaderProblem(o: Obj): string | null {
  if (typeof o.name !== 'string') return o.name === undefined ? "the trace has no 'name'" : wrong('trace', 'name', o.name, 'a string');
  const mp = metaProblem(o.meta);
  if (mp) return mp;
  if (o.dropped === undefined) return "the trace has no 'dropped'";
  if (!isCount(o.dropped)) return wrong('trace', 'dropped', o.dropped, 'a count');
  return extrasNestingProblem(o, TRACE_ARRAYS, 'trace');
}
