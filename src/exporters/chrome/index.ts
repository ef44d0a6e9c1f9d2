/**
 * Chrome Trace Event Format exporter (JSON), for Perfetto UI, chrome://tracing, DevTools and speedscope.
 *
 * - Spans are complete events (ph 'X') with ts/dur in µs as decimals, so ns precision survives.
 * - One process per device (pid 1 = cpu, 2 = gpu) and one thread per OS thread, named by metadata events.
 *   Primitives go to their device's process; eval/layer/sync/user spans (the JS thread) to the cpu process.
 *   A trace merged from several ranks (mlx-trace merge) has a process per (rank, device): 11, 12, 21, ...
 * - Slices nest properly on every thread; a span that partially overlaps another is put on an overflow
 *   thread 'worker 17 (overlap 1)' instead (see track-layout.ts).
 * - Memory is a counter (ph 'C', live bytes); flow events (ph 's' / 'f', bp 'e') link each layer to the
 *   primitives it built, which run later on another thread.
 * - Each sampled counter track of the trace (trace.counters: CPU frequency, temperature...) is a counter of
 *   its own on the cpu process, its series named by the unit: {"name":"cpu frequency","args":{"MHz":2400}}.
 *
 * exportChromeTrace streams: events are serialized one by one into ~64 KiB chunks written with
 * backpressure, so memory stays flat for millions of events. It reads the trace model only.
 */
import type { Span, TensorInfo, Trace } from '../../core/model/trace';
import { exportableTrace } from '../../core/model/checks';
import {
  type CounterSeries, counterSeries, type LaidTrack, layoutTracks, processId, processName, tensorLabel, TensorListCache, trackProcesses, type TrackLayout,
} from '../shared/track-layout';
import { type ExportTarget, isExportTarget, openSink } from '../shared/sink';
import { utf8, JsonBytes } from '../../core/io/json-bytes';

/** One Trace Event Format record, as written. */
export interface ChromeTraceEvent {
  name: string;
  ph: 'X' | 'C' | 'M' | 's' | 'f';
  /** Microseconds since the trace origin (decimals keep ns). */
  ts?: number;
  /** Microseconds, ph 'X' only. */
  dur?: number;
  pid: number;
  tid?: number;
  cat?: string;
  /** Flow id, ph 's' / 'f'. */
  id?: number;
  /** 'e': the flow end binds to the slice enclosing it. */
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface ChromeTraceOptions {
  /** Emit flow arrows from layers to the primitives they built. @default true */
  flows?: boolean;
  /** Emit the live-memory counter. @default true */
  memory?: boolean;
  /** Emit the trace's counter tracks (trace.counters). @default true */
  counters?: boolean;
}

export interface ChromeExportResult {
  /** Trace events written (metadata, slices, counters, flows). */
  events: number;
  /** JSON bytes written (before compression for '.gz'). */
  bytes: number;
  /** Spans written as slices. */
  spans: number;
  /** Layer-to-primitive flows written. */
  flows: number;
  /** Spans moved to an overflow thread because they partially overlapped another span. */
  overflowed: number;
  /** Spans left out because their times were not valid numbers or end < start. */
  skipped: number;
}

/** Process ids: one per device. */
export const CHROME_PID = { cpu: 1, gpu: 2 } as const;
/** Every slice and flow shares one category: DevTools binds a flow to a slice by (ts, pid, tid, cat). */
const CAT = 'mlx';
const FLOW_NAME = 'built';
const CHUNK_BYTES = 128 * 1024;

/** The constant pieces of the events, encoded once. Keys in the same order as toChromeTraceEvents' objects. */
const B = {
  sep: utf8(',\n'),
  name: utf8('{"name":'),
  sliceMid: utf8(`,"ph":"X","cat":"${CAT}","ts":`),
  dur: utf8(',"dur":'),
  ts: utf8(',"ts":'),
  args: utf8(',"args":'),
  close: utf8('}'),
  close2: utf8('}}'),
  flowStart: utf8(`{"name":"${FLOW_NAME}","ph":"s","cat":"${CAT}","id":`),
  flowEnd: utf8(`{"name":"${FLOW_NAME}","ph":"f","bp":"e","cat":"${CAT}","id":`),
  counter: utf8('{"name":"memory","ph":"C","ts":'),
  counterPid: utf8(`,"pid":${CHROME_PID.cpu},"args":{"live_bytes":`),
  argId: utf8('{"id":'),
  argParent: utf8(',"parent":'),
  argInputs: utf8(',"inputs":['),
  argOutputs: utf8(',"outputs":['),
  argFlops: utf8(',"flops":'),
  argBytes: utf8(',"bytes":'),
  argIntensity: utf8(',"intensity":'),
  argLayerId: utf8(',"layerId":'),
  argPass: utf8(',"pass":'),
  argWarmup: utf8(',"warmup":'),
};

/** Stats filled while events are generated (read them after the iterator is done). */
export interface ChromeTraceStats {
  events: number;
  spans: number;
  flows: number;
  overflowed: number;
  skipped: number;
}

const newStats = (): ChromeTraceStats => ({ events: 0, spans: 0, flows: 0, overflowed: 0, skipped: 0 });

/**
 * Receives the events in output order. Two implementations: objects for toChromeTraceEvents, JSON text
 * straight from the spans for exportChromeTrace (no per-event objects: that is what keeps it fast).
 */
interface ChromeEmitter {
  meta(ev: ChromeTraceEvent): void;
  slice(s: Span, track: ChromeTrack): void;
  flowStart(flowId: number, ts: number, track: ChromeTrack): void;
  flowEnd(flowId: number, ts: number, track: ChromeTrack): void;
  counter(ts: number, live: number): void;
  /** Sample k of a counter series. */
  sample(series: ChromeCounter, k: number): void;
}

/** A counter series as written: the series, its series key (the unit), and its constant JSON pieces encoded once. */
interface ChromeCounter {
  series: CounterSeries;
  key: string;
  head: Uint8Array;
  mid: Uint8Array;
}

/** A lane as written: its pid/tid, and `,"pid":1,"tid":4243` encoded once for the byte writer. */
interface ChromeTrack {
  pid: number;
  tid: number;
  pidTid: Uint8Array;
}

/** Events emitted between two yields of walkChrome: small enough to keep buffers short. */
const BATCH = 512;

/**
 * The one walk over the trace that decides what is written and in which order: metadata, then each
 * thread's slices parent-before-child with flow events next to the slices they bind to, then the counter.
 * Yields every BATCH events so the caller can drain its buffer.
 */
function* walkChrome(trace: Trace, options: ChromeTraceOptions, stats: ChromeTraceStats, out: ChromeEmitter): Generator<void, void, undefined> {
  const layout = layoutTracks(trace);
  const counters = options.counters === false ? [] : counterSeries(trace).map(chromeCounter);
  stats.overflowed = layout.overflowed;
  stats.skipped = layout.skipped;
  const tids = laneTids(layout);
  const spans = trace.spans;
  const lanes: ChromeTrack[] = layout.tracks.map((t) => {
    const pid = processId(t.rank, t.device);
    const tid = tids[t.index];
    return { pid, tid, pidTid: utf8(`,"pid":${pid},"tid":${tid}`) };
  });

  for (const ev of metadataEvents(trace, layout, tids, counters.length > 0)) {
    out.meta(ev);
    stats.events++;
  }
  yield;

  const wantFlows = options.flows !== false;
  const { order, trackOf, builtStart, builtBy, sourceOf } = layout;
  let pending = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const s = spans[i];
    const lane = lanes[trackOf[i]];
    out.slice(s, lane);
    pending++;
    stats.spans++;
    if (wantFlows) {
      // Flow starts right after their layer's slice, at its ts: viewers bind them to it, not to a child.
      for (let f = builtStart[i]; f < builtStart[i + 1]; f++) {
        out.flowStart(spans[builtBy[f]].id, s.start, lane);
        pending++;
      }
      // Flow end right after the primitive's slice; bp 'e' binds it to the enclosing slice, the primitive.
      if (sourceOf[i] >= 0) {
        out.flowEnd(s.id, s.start, lane);
        pending++;
        stats.flows++;
      }
    }
    if (pending >= BATCH) {
      stats.events += pending;
      pending = 0;
      yield;
    }
  }

  if (options.memory !== false) {
    const mem = trace.memory;
    for (let k = 0; k < mem.length; k++) {
      const m = mem[k];
      if (!Number.isFinite(m.t) || !Number.isFinite(m.live)) continue;
      // Several allocations in the same ns: only the last live value is visible anyway.
      if (k + 1 < mem.length && mem[k + 1].t === m.t) continue;
      out.counter(m.t, m.live);
      if (++pending >= BATCH) {
        stats.events += pending;
        pending = 0;
        yield;
      }
    }
  }
  for (const c of counters) {
    for (let k = 0; k < c.series.t.length; k++) {
      out.sample(c, k);
      if (++pending >= BATCH) {
        stats.events += pending;
        pending = 0;
        yield;
      }
    }
  }
  stats.events += pending;
}

/**
 * The trace as Trace Event Format events, lazily, in the order exportChromeTrace writes them
 * (metadata, then each thread's slices parent-before-child with their flow events, then the memory counter,
 * then each counter track).
 */
export function* toChromeTraceEvents(
  trace: Trace,
  options: ChromeTraceOptions = {},
  stats: ChromeTraceStats = newStats(),
): Generator<ChromeTraceEvent, void, undefined> {
  trace = exportableTrace(trace, 'toChromeTraceEvents');
  let batch: ChromeTraceEvent[] = [];
  const out: ChromeEmitter = {
    meta: (ev) => batch.push(ev),
    slice: (s, { pid, tid }) =>
      batch.push({ name: String(s.name), ph: 'X', cat: CAT, ts: s.start / 1000, dur: (s.end - s.start) / 1000, pid, tid, args: spanArgs(s) }),
    flowStart: (id, ts, { pid, tid }) => batch.push({ name: FLOW_NAME, ph: 's', cat: CAT, id, ts: ts / 1000, pid, tid }),
    flowEnd: (id, ts, { pid, tid }) => batch.push({ name: FLOW_NAME, ph: 'f', bp: 'e', cat: CAT, id, ts: ts / 1000, pid, tid }),
    counter: (ts, live) => batch.push({ name: 'memory', ph: 'C', ts: ts / 1000, pid: CHROME_PID.cpu, args: { live_bytes: live } }),
    sample: (c, k) => batch.push({ name: c.series.name, ph: 'C', ts: c.series.t[k] / 1000, pid: CHROME_PID.cpu, args: { [c.key]: c.series.v[k] } }),
  };
  for (const _ of walkChrome(trace, options, stats, out)) {
    const ready = batch;
    batch = [];
    yield* ready;
  }
  yield* batch;
}

/**
 * Writes the trace as Chrome trace JSON to a file path ('.gz' gzips it) or a Writable (left open).
 * Resolves when everything is flushed; rejects with one clear Error for a bad trace or an unwritable target.
 */
export async function exportChromeTrace(
  trace: Trace,
  target: ExportTarget,
  options: ChromeTraceOptions = {},
): Promise<ChromeExportResult> {
  trace = exportableTrace(trace, 'exportChromeTrace');
  if (!isExportTarget(target)) {
    throw new TypeError('exportChromeTrace: the target must be a file path or a writable stream');
  }
  const stats = newStats();
  const sink = openSink(target, 'the Chrome trace to');
  const j = new JsonBytes();
  const labels = new TensorListCache<Uint8Array>();
  // Each event is prefixed by its separator, so the text is valid JSON whatever the event count.
  j.raw('{"traceEvents":[\n');
  let first = true;
  const sep = () => {
    if (first) first = false;
    else j.bytes(B.sep);
  };
  const out: ChromeEmitter = {
    meta: (ev) => {
      sep();
      j.bytes(utf8(serializeEvent(ev)));
    },
    slice: (s, lane) => {
      sep();
      j.bytes(B.name);
      j.string(String(s.name));
      j.bytes(B.sliceMid);
      j.micros(s.start);
      j.bytes(B.dur);
      j.micros(s.end - s.start);
      j.bytes(lane.pidTid);
      j.bytes(B.args);
      writeSpanArgs(j, s, labels);
      j.bytes(B.close);
    },
    flowStart: (id, ts, lane) => {
      sep();
      j.bytes(B.flowStart);
      j.number(id);
      j.bytes(B.ts);
      j.micros(ts);
      j.bytes(lane.pidTid);
      j.bytes(B.close);
    },
    flowEnd: (id, ts, lane) => {
      sep();
      j.bytes(B.flowEnd);
      j.number(id);
      j.bytes(B.ts);
      j.micros(ts);
      j.bytes(lane.pidTid);
      j.bytes(B.close);
    },
    counter: (ts, live) => {
      sep();
      j.bytes(B.counter);
      j.micros(ts);
      j.bytes(B.counterPid);
      j.number(live);
      j.bytes(B.close2);
    },
    sample: (c, k) => {
      sep();
      j.bytes(c.head);
      j.micros(c.series.t[k]);
      j.bytes(c.mid);
      j.number(c.series.v[k]);
      j.bytes(B.close2);
    },
  };
  try {
    for (const _ of walkChrome(trace, options, stats, out)) {
      if (j.length >= CHUNK_BYTES) await j.flushTo(sink);
    }
    j.bytes(utf8('\n],\n"displayTimeUnit":"ns",\n"otherData":' + JSON.stringify(otherData(trace, stats)) + '}\n'));
    await j.flushTo(sink);
    await sink.close();
  } catch (e) {
    // Let the sink settle; the one-line error is what the caller sees.
    await sink.abort().catch(() => {});
    throw e;
  }
  return { events: stats.events, bytes: sink.bytes, spans: stats.spans, flows: stats.flows, overflowed: stats.overflowed, skipped: stats.skipped };
}

/** tid per lane: the OS thread id for lane 0, fresh ids above every real one for overflow lanes. */
function laneTids(layout: TrackLayout): Int32Array {
  let next = 0;
  for (const t of layout.tracks) next = Math.max(next, t.thread);
  next++;
  const tids = new Int32Array(layout.tracks.length);
  for (const t of layout.tracks) tids[t.index] = t.lane === 0 ? t.thread : next++;
  return tids;
}

/** A series' key is its unit ('MHz', '°C'), or 'value' when it has none: viewers label the series by it. */
function chromeCounter(series: CounterSeries): ChromeCounter {
  const key = series.unit || 'value';
  return {
    series,
    key,
    head: utf8(`{"name":${JSON.stringify(series.name)},"ph":"C","ts":`),
    mid: utf8(`,"pid":${CHROME_PID.cpu},"args":{${JSON.stringify(key)}:`),
  };
}

function metadataEvents(trace: Trace, layout: TrackLayout, tids: Int32Array, hasCounters: boolean): ChromeTraceEvent[] {
  const out: ChromeTraceEvent[] = [];
  const processes = trackProcesses(layout.tracks);
  // The memory counter and the counter tracks live in the cpu process (pid 1), so name it even when no span ran there.
  if ((trace.memory.length > 0 || hasCounters) && !processes.some((p) => p.pid === CHROME_PID.cpu)) processes.unshift({ rank: null, device: 'cpu', pid: CHROME_PID.cpu });
  const merged = processes.some((p) => p.rank !== null);
  for (const { rank, device, pid } of processes) {
    // In a merged trace pid 1 holds only the job-wide memory counter.
    const name = merged && rank === null ? `${trace.name || 'mlx'} (all ranks)` : processName(trace.name, rank, device);
    out.push({ name: 'process_name', ph: 'M', pid, args: { name } });
    out.push({ name: 'process_sort_index', ph: 'M', pid, args: { sort_index: pid } });
  }
  for (const t of layout.tracks) out.push(...threadMetadata(t, tids[t.index]));
  return out;
}

function threadMetadata(t: LaidTrack, tid: number): ChromeTraceEvent[] {
  const pid = processId(t.rank, t.device);
  return [
    { name: 'thread_name', ph: 'M', pid, tid, args: { name: t.name } },
    { name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: t.sortIndex } },
  ];
}

/** What a viewer shows when the slice is selected: shapes, dtype, cost and the layer that built it. */
export function spanArgs(s: Span): Record<string, unknown> {
  const args: Record<string, unknown> = { id: s.id, kind: String(s.kind) };
  if (s.parentId != null) args.parent = s.parentId;
  const inputs = tensors(s.inputs);
  const outputs = tensors(s.outputs);
  if (inputs.length > 0) args.inputs = inputs.map(tensorLabel);
  if (outputs.length > 0) args.outputs = outputs.map(tensorLabel);
  const dtype = (outputs[0] ?? inputs[0])?.dtype;
  if (dtype) args.dtype = String(dtype);
  if (s.flops != null) args.flops = s.flops;
  if (s.bytes != null) args.bytes = s.bytes;
  if (s.flops != null && s.bytes) args.intensity = s.flops / s.bytes;
  if (s.layer != null) args.layer = String(s.layer);
  if (s.layerId != null) args.layerId = s.layerId;
  if (s.pass != null) args.pass = s.pass;
  if (s.warmup != null) args.warmup = s.warmup;
  if (s.attrs) for (const k in s.attrs) if (!hasOwnArg(s, k)) args[k] = s.attrs[k];
  return args;
}

/** spanArgs(s) as JSON bytes, written directly (same keys, same order, same text as JSON.stringify). */
function writeSpanArgs(j: JsonBytes, s: Span, labels: TensorListCache<Uint8Array>): void {
  j.bytes(B.argId);
  j.number(s.id);
  j.bytes(kindBytes(s.kind));
  if (s.parentId != null) {
    j.bytes(B.argParent);
    j.number(s.parentId);
  }
  const inputs = tensors(s.inputs);
  const outputs = tensors(s.outputs);
  if (inputs.length > 0) {
    j.bytes(B.argInputs);
    j.bytes(labels.get(inputs, labelListBytes));
  }
  if (outputs.length > 0) {
    j.bytes(B.argOutputs);
    j.bytes(labels.get(outputs, labelListBytes));
  }
  const dtype = (outputs[0] ?? inputs[0])?.dtype;
  if (dtype) {
    j.bytes(keyedString(dtypePieces, ',"dtype":', dtype));
  }
  if (s.flops != null) {
    j.bytes(B.argFlops);
    j.number(s.flops);
  }
  if (s.bytes != null) {
    j.bytes(B.argBytes);
    j.number(s.bytes);
  }
  if (s.flops != null && s.bytes) {
    j.bytes(B.argIntensity);
    j.number(s.flops / s.bytes);
  }
  if (s.layer != null) {
    j.bytes(keyedString(layerPieces, ',"layer":', s.layer));
  }
  if (s.layerId != null) {
    j.bytes(B.argLayerId);
    j.number(s.layerId);
  }
  if (s.pass != null) {
    j.bytes(B.argPass);
    j.number(s.pass);
  }
  if (s.warmup != null) {
    j.bytes(B.argWarmup);
    j.raw(s.warmup ? 'true' : 'false');
  }
  if (s.attrs) {
    for (const k in s.attrs) {
      if (hasOwnArg(s, k)) continue;
      j.raw(',');
      j.string(k);
      j.raw(':');
      j.bytes(utf8(jsonValue(s.attrs[k])));
    }
  }
  j.bytes(B.close);
}

// `,"dtype":"float32"` and `,"layer":"layers.0.mlp"`: a few distinct values each, encoded once per value.
const dtypePieces = new Map<unknown, Uint8Array>();
const layerPieces = new Map<unknown, Uint8Array>();
function keyedString(cache: Map<unknown, Uint8Array>, prefix: string, value: unknown): Uint8Array {
  let b = cache.get(value);
  if (b === undefined) {
    b = utf8(prefix + JSON.stringify(String(value)));
    if (cache.size >= 10_000) cache.clear();
    cache.set(value, b);
  }
  return b;
}

const kindCache = new Map<unknown, Uint8Array>();
/** `,"kind":"primitive"`, encoded once per kind. */
function kindBytes(kind: unknown): Uint8Array {
  let b = kindCache.get(kind);
  if (b === undefined) {
    b = utf8(',"kind":' + JSON.stringify(String(kind)));
    if (kindCache.size < 100) kindCache.set(kind, b);
  }
  return b;
}

/** Whether spanArgs writes key k itself (attrs never override those, and fill in the others). */
export function hasOwnArg(s: Span, k: string): boolean {
  switch (k) {
    case 'id':
    case 'kind':
      return true;
    case 'parent':
      return s.parentId != null;
    case 'inputs':
      return tensors(s.inputs).length > 0;
    case 'outputs':
      return tensors(s.outputs).length > 0;
    case 'dtype':
      return !!(tensors(s.outputs)[0] ?? tensors(s.inputs)[0])?.dtype;
    case 'flops':
      return s.flops != null;
    case 'bytes':
      return s.bytes != null;
    case 'intensity':
      return s.flops != null && !!s.bytes;
    case 'layer':
      return s.layer != null;
    case 'layerId':
      return s.layerId != null;
    case 'pass':
      return s.pass != null;
    case 'warmup':
      return s.warmup != null;
    default:
      return false;
  }
}

/** '"float32[8,64]","float32[64,64]"]': the label list after its opening bracket (part of the key bytes). */
function labelListBytes(ts: readonly TensorInfo[]): Uint8Array {
  return utf8(JSON.stringify(ts.map(tensorLabel)).slice(1));
}

const NO_TENSORS: TensorInfo[] = [];
/** A span's inputs/outputs, tolerating a hand-made trace that left them out. */
function tensors(x: TensorInfo[] | undefined): TensorInfo[] {
  return Array.isArray(x) ? x : NO_TENSORS;
}


function otherData(trace: Trace, stats: ChromeTraceStats): Record<string, string | number> {
  const m = trace.meta;
  return {
    name: trace.name,
    schema: trace.schema,
    timing: m?.timing,
    createdAt: m?.createdAt,
    originEpochNs: m?.origin?.epochNs,
    host: m?.host ? `${m.host.hostname} ${m.host.platform}/${m.host.arch} ${m.host.cpuModel}` : '',
    mlx: m?.versions?.mlx,
    node: m?.versions?.node,
    mlxTrace: m?.versions?.mlxTrace,
    dropped: trace.dropped ?? 0,
    overflowedSpans: stats.overflowed,
    skippedSpans: stats.skipped,
  };
}

/**
 * JSON of one event, as JSON.stringify would write it (keys in insertion order, non-finite numbers as null),
 * but about 4x faster on these flat records: the exporter's hot path.
 */
export function serializeEvent(e: ChromeTraceEvent): string {
  let s = '{"name":' + jsonString(e.name) + ',"ph":"' + e.ph + '"';
  if (e.bp !== undefined) s += ',"bp":"' + e.bp + '"';
  if (e.cat !== undefined) s += ',"cat":' + jsonString(e.cat);
  if (e.id !== undefined) s += ',"id":' + jsonNumber(e.id);
  if (e.ts !== undefined) s += ',"ts":' + jsonNumber(e.ts);
  if (e.dur !== undefined) s += ',"dur":' + jsonNumber(e.dur);
  s += ',"pid":' + jsonNumber(e.pid);
  if (e.tid !== undefined) s += ',"tid":' + jsonNumber(e.tid);
  if (e.args !== undefined) s += ',"args":' + jsonValue(e.args);
  return s + '}';
}

function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : 'null';
}

// Span names, op names, dtypes and shape labels repeat endlessly: escape each distinct string once.
const stringCache = new Map<string, string>();
function jsonString(x: string): string {
  let q = stringCache.get(x);
  if (q === undefined) {
    q = JSON.stringify(x);
    if (stringCache.size > 100_000) stringCache.clear();
    stringCache.set(x, q);
  }
  return q;
}

function jsonValue(v: unknown): string {
  switch (typeof v) {
    case 'number':
      return jsonNumber(v);
    case 'string':
      return jsonString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + (v[i] === undefined ? 'null' : jsonValue(v[i]));
        return s + ']';
      }
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(v) ?? 'null';
      let s = '{';
      let first = true;
      for (const k in v as Record<string, unknown>) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        s += (first ? '' : ',') + jsonString(k) + ':' + jsonValue(x);
        first = false;
      }
      return s + '}';
    }
    case 'bigint':
      // JSON.stringify throws on bigint; a trace file should not: write it as a number.
      return String(v);
    default:
      return 'null';
  }
}
