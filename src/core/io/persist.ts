/**
 * Saved traces: saveTrace writes a Trace span by span, as JSON or in the binary layout, and loadTrace
 * reads either back and validates it, failing with one TraceFileError line that names the file and
 * what is wrong. The checks both share are in trace-checks.ts.
 *
 * JSON layout (rows as documented in rows.ts):
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
 * Binary layout (.mlxtrace, binary/layout.ts): the same header as JSON, then blocks of typed
 * columns; several times faster to save and load, and smaller. loadTrace tells it by its first
 * bytes, whatever the file's name.
 *
 * Size limits: nothing is ever one string of the whole file, so there is no 512 MB ceiling; the
 * limit is the heap needed for the loaded objects (a few hundred bytes per span; tensors are shared),
 * and any single span, memory event or 'meta' must stay under V8's string limit (~512 MB).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { MemoryEvent, Span, Trace } from '../model/trace';
import { JsonObjectStream, ScanError } from './json-stream';
import { MEMORY_FIELDS, MEMORY_KEYS, RowEncoder, SPAN_FIELDS, SPAN_KEYS } from './rows';
import { Problem, RowDecoder } from './row-decoder';
import { JsonBytes } from './json-bytes';
import { AtomicFile, ioReason } from './atomic-file';
import { PipeTimeout, isSpecialFile, spoolToTempFile } from './pipe-input';
import { binaryByteOrderProblem, isBinaryTrace, readBinaryTrace, writeBinaryFromSource, writeBinaryTrace } from './binary';
import { untouchedColumns } from '../record/taken-trace';
import {
  extrasNestingProblem,
  TraceFileError,
  headerProblem,
  memoryProblem,
  metaProblem,
  schemaProblem,
  show,
  spanProblem,
  traceHeaderProblem,
  wrong,
  type Obj,
  type TraceFileErrorCode,
} from '../model/checks';
import { IdCheck, SaveChecks } from '../model/span-checks';

export { TraceFileError, memoryProblem, metaProblem, spanProblem };
export type { TraceFileErrorCode };

// ---------------------------------------------------------------------------------------------
// Saving

export interface SaveOptions {
  /**
   * Check every span before writing it, so a saved file always loads.
   * @default true
   */
  validate?: boolean;
  /**
   * The file layout: 'json' (readable by any JSON tool) or 'binary' (the .mlxtrace layout: several
   * times faster to save and load, and smaller; for big traces).
   * @default 'binary' when `path` ends in .mlxtrace, else 'json'
   */
  format?: 'json' | 'binary';
}

/** Top-level keys of the file that are about the layout, not part of the Trace. */
const LAYOUT_KEYS = new Set(['layout', 'spanFields', 'memoryFields']);

/**
 * JSON of the trace's top-level keys but spans and memory, without the closing brace: schema,
 * name, then `layout` (members the file layout adds), meta, dropped and any other key.
 */
function headJson(trace: Trace, layout: string, notSaved: (detail: string) => TraceFileError): string {
  let head = '{"schema":' + JSON.stringify(trace.schema) + ',"name":' + JSON.stringify(trace.name) + layout;
  head += ',"meta":' + JSON.stringify(trace.meta) + ',"dropped":' + trace.dropped;
  for (const k in trace) {
    if (k === 'schema' || k === 'name' || k === 'meta' || k === 'dropped' || k === 'spans' || k === 'memory') continue;
    // Refused in both layouts, so that a binary file always converts to JSON.
    if (LAYOUT_KEYS.has(k)) throw notSaved(`trace: '${k}' is a name the file layout uses; rename that field`);
    const j = JSON.stringify((trace as unknown as Obj)[k]);
    if (j !== undefined) head += ',' + JSON.stringify(k) + ':' + j;
  }
  return head;
}

/** The members of the JSON file that say how its rows are laid out. */
const ROWS_LAYOUT = ',"layout":"rows","spanFields":' + JSON.stringify(SPAN_FIELDS) + ',"memoryFields":' + JSON.stringify(MEMORY_FIELDS);

/** The JSON row layout through `w`, after `head` (headJson with ROWS_LAYOUT). */
function writeJsonTrace(w: JsonBytes, head: string, trace: Trace, checks: SaveChecks | null): void {
  const rows = new RowEncoder(w);
  w.text(head + ',"spans":[');
  const spans = trace.spans;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (checks) checks.span(s, i);
    rows.span(s);
  }
  w.text('\n],"memory":[');
  const mem = trace.memory;
  for (let i = 0; i < mem.length; i++) {
    const m = mem[i];
    if (checks) checks.memory(m, i);
    rows.memory(m);
  }
  w.text('\n]}\n');
}

/**
 * Writes the trace to `path`, streaming span by span through a 1 MB buffer, through AtomicFile (a
 * temporary file renamed over `path` once complete and synced: a crash or a full disk never leaves
 * half a trace under the real name, nor costs the previous file). JSON, or
 * the binary layout for a path ending in .mlxtrace (or `format: 'binary'`).
 * Synchronous: `saveTrace(trace, 'trace.json')` needs no await. Throws TraceFileError.
 */
export function saveTrace(trace: Trace, path: string, opts: SaveOptions = {}): void {
  const validate = opts.validate ?? true;
  const notSaved = (detail: string) => new TraceFileError(path, 'invalid-field', `not saved: ${detail}`);
  const format = opts.format ?? (/\.mlxtrace$/i.test(path) ? 'binary' : 'json');
  if (format !== 'json' && format !== 'binary') throw notSaved(`format ${show(format)} is not 'json' or 'binary'`);
  // A taken trace whose arrays were never read is written from the recorder's columns (taken-trace.ts).
  const source = format === 'binary' && trace !== null && typeof trace === 'object' ? untouchedColumns(trace) : null;
  const hp = headerProblem(trace, source === null);
  if (hp) throw notSaved(hp);
  if (format === 'binary') {
    const order = binaryByteOrderProblem();
    if (order) throw new TraceFileError(path, 'unwritable', `cannot write: ${order}`);
  }

  let file: AtomicFile;
  try {
    file = new AtomicFile(path);
  } catch (e) {
    throw new TraceFileError(path, 'unwritable', `cannot write: ${ioReason(e)}`);
  }
  try {
    const w = new JsonBytes(1 << 20, (b) => file.write(b));
    const checks = validate && !source ? new SaveChecks(path, trace.spans) : null;
    if (source) writeBinaryFromSource(w, headJson(trace, '', notSaved) + '}', source);
    else if (format === 'binary') writeBinaryTrace(w, headJson(trace, '', notSaved) + '}', trace, checks);
    else writeJsonTrace(w, headJson(trace, ROWS_LAYOUT, notSaved), trace, checks);
    w.flush();
    file.commit();
  } catch (e) {
    file.abandon();
    if (e instanceof TraceFileError) throw e;
    // A system error is the file's fault; anything else (a BigInt in meta...) is the trace's.
    if ((e as NodeJS.ErrnoException)?.code) throw new TraceFileError(path, 'unwritable', `cannot write: ${ioReason(e)}`);
    throw notSaved(e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

const STREAMED = new Set(['spans', 'memory']);

export interface LoadOptions {
  /** JSON read size in bytes (default 4 MB, less for small files). Tests use tiny chunks to cross every boundary. */
  chunkBytes?: number;
  /**
   * For a pipe or /dev/stdin: how long it may stay silent, in ms, before the load fails (a FIFO that
   * no program writes to). @default 30000
   */
  pipeWaitMs?: number;
}

/**
 * Reads a trace saved by saveTrace (JSON or binary, told apart by the first bytes; or plain JSON
 * of the Trace shape), checking every field. Throws TraceFileError with one line naming the file
 * and the problem: missing file, empty, truncated, invalid JSON, corrupt (binary), not a trace, a
 * newer schema or layout, or a missing/wrong field ("trace.json: span 17 has no 'end'").
 */
export function loadTrace(path: string, opts: LoadOptions = {}): Trace {
  if (typeof path === 'string' && isSpecialFile(path)) {
    // A pipe or a device: read to its end (or a timeout) into a temporary file, then loaded as any file.
    let spooled: { file: string; remove: () => void };
    try {
      spooled = spoolToTempFile(path, opts.pipeWaitMs);
    } catch (e) {
      throw new TraceFileError(path, 'unreadable', `cannot read: ${e instanceof PipeTimeout ? e.message : ioReason(e)}`);
    }
    try {
      return loadFile(path, spooled.file, opts);
    } finally {
      spooled.remove();
    }
  }
  return loadFile(path, path, opts);
}

/** loadTrace of the file at `real`, whose errors name `path`. */
function loadFile(path: string, real: string, opts: LoadOptions): Trace {
  let fd: number;
  try {
    fd = openSync(real, 'r');
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
    if (isBinaryTrace(firstBytes(fd, 8))) {
      try {
        return readBinaryTrace(path, fd, size);
      } catch (e) {
        if (e instanceof TraceFileError) throw e;
        // Out of memory for the spans: still the file's name. Anything else is a bug in the reader.
        if (e instanceof RangeError) throw new TraceFileError(path, 'unreadable', `cannot read: ${ioReason(e)}`);
        throw e;
      }
    }
    return readTrace(path, fd, size, opts.chunkBytes ?? Math.min(size + 1, 4 << 20));
  } finally {
    closeSync(fd);
  }
}

function readTrace(path: string, fd: number, size: number, chunkBytes: number): Trace {
  const out: Obj = {};
  const spans: Span[] = [];
  const memory: MemoryEvent[] = [];
  let ids = new IdCheck();
  const idOf = (j: number) => spans[j].id;
  let schemaChecked = false;
  /** layout / spanFields / memoryFields seen before the schema, checked once it is. */
  const layoutMembers: [string, unknown][] = [];
  // Whether the streamed arrays were checked element by element (only once the schema is known).
  let spansChecked = true;
  let memoryChecked = true;
  const fail = (code: TraceFileErrorCode, detail: string): never => {
    throw new TraceFileError(path, code, detail);
  };
  // Row layout (rows.ts): rows are turned into objects in file order, once the layout is known.
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
  // Rows' other keys are checked for nesting as they are decoded (withRest); objects' here.
  const checkSpan = (s: unknown, i: number) => {
    const p = spanProblem(s, i) ?? (rowLayout ? null : extrasNestingProblem(s as Obj, SPAN_KEYS, `span ${i}`));
    if (p) fail('invalid-field', p);
    const dup = ids.problem((s as Span).id, i, idOf);
    if (dup) fail('invalid-field', dup);
  };
  const checkMemory = (m: unknown, i: number) => {
    const p = memoryProblem(m, i) ?? (rowLayout ? null : extrasNestingProblem(m as Obj, MEMORY_KEYS, `memory event ${i}`));
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
          ids = new IdCheck();
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
  const hp = traceHeaderProblem(out);
  if (hp) fail('invalid-field', hp);
  if (out.spans === undefined) fail('invalid-field', "the trace has no 'spans'");
  if (out.spans !== spans) fail('invalid-field', wrong('trace', 'spans', out.spans, 'an array'));
  if (out.memory === undefined) fail('invalid-field', "the trace has no 'memory'");
  if (out.memory !== memory) fail('invalid-field', wrong('trace', 'memory', out.memory, 'an array'));
  // Elements read before the schema (or the layout) was known are decoded and checked now.
  if (!spansChecked || rowsPending) {
    ids = new IdCheck();
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

/** The first `n` bytes of the file (fewer if it is shorter or cannot be read). */
function firstBytes(fd: number, n: number): Uint8Array {
  const b = Buffer.alloc(n);
  try {
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } catch {
    return b.subarray(0, 0);
  }
}

function peekMagic(fd: number): 'gzip' | null {
  const b = firstBytes(fd, 2);
  return b[0] === 0x1f && b[1] === 0x8b ? 'gzip' : null;
}
