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
 * exportChromeTrace streams: events are serialized one by one into CHUNK_BYTES chunks written with
 * backpressure, so memory stays flat for millions of events. It reads the trace model only.
 */
import type { Span, Trace } from '../../core/model/trace';
import { exportableTrace } from '../../core/model/checks';
import { spanArgs } from '../../instrumentations/mlx/attributes';
import { counterSeries, layoutTracks, processId, timeShift } from '../shared/track-layout';
import { type ExportTarget, isExportTarget, openSink } from '../shared/sink';
import { utf8, JsonBytes } from '../../core/io/json-bytes';
import { ChromeArgsWriter } from './args';
import { serializeEvent } from './json';
import { type ChromeCounter, chromeCounter, laneTids, metadataEvents, otherData } from './metadata';
import { CHROME_PID, CHROME_TRACE_EXT, type ChromeExportResult, type ChromeTraceEvent, type ChromeTraceOptions, type ChromeTraceStats } from './types';

export { CHROME_PID, CHROME_TRACE_EXT, serializeEvent };
export type { ChromeExportResult, ChromeTraceEvent, ChromeTraceOptions, ChromeTraceStats };

/** Every slice and flow shares one category: DevTools binds a flow to a slice by (ts, pid, tid, cat). */
const CAT = 'mlx';
const FLOW_NAME = 'built';
const CHUNK_BYTES = 128 * 1024;

/** The constant pieces of the events, encoded once. Keys in the same order as toChromeTraceEvents' objects. */
const B = {
  sep: utf8(',\n'),
  name: utf8('{"name":'),
  sliceMid: utf8(`,"ph":"X","cat":"${CAT}","id":`),
  dur: utf8(',"dur":'),
  ts: utf8(',"ts":'),
  args: utf8(',"args":'),
  close: utf8('}'),
  close2: utf8('}}'),
  flowStart: utf8(`{"name":"${FLOW_NAME}","ph":"s","cat":"${CAT}","id":`),
  flowEnd: utf8(`{"name":"${FLOW_NAME}","ph":"f","bp":"e","cat":"${CAT}","id":`),
  counter: utf8('{"name":"memory","ph":"C","ts":'),
  counterPid: utf8(`,"pid":${CHROME_PID.cpu},"args":{"live_bytes":`),
};

const newStats = (): ChromeTraceStats => ({ events: 0, spans: 0, flows: 0, overflowed: 0, skipped: 0, shift: 0 });

/**
 * Slice args describe what ran (shapes, dtype, cost, layer), not which occurrence: speedscope keys a frame by
 * name + args, so a span id or pass number there would split one op into a frame per span. The span id is the
 * slice's `id` instead (viewers ignore it on 'X' events), the parent is the enclosing slice and the building layer
 * is the flow arrow's source; pass and warm-up stay in the Perfetto export and the trace.
 */
const SLICE_ARGS = { instance: false } as const;

/**
 * Receives the events in output order. Two implementations: objects for toChromeTraceEvents, JSON text
 * straight from the spans for exportChromeTrace (no per-event objects: that is what keeps it fast).
 */
interface ChromeEmitter {
  meta(ev: ChromeTraceEvent): void;
  /** Times are ns since the written origin (see timeShift). */
  slice(s: Span, ts: number, track: ChromeTrack): void;
  flowStart(flowId: number, ts: number, track: ChromeTrack): void;
  flowEnd(flowId: number, ts: number, track: ChromeTrack): void;
  counter(ts: number, live: number): void;
  /** Sample k of a counter series. */
  sample(series: ChromeCounter, k: number, ts: number): void;
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
// One pass in output order; the batching bookkeeping makes it a little long, the decisions stay in one place.
function* walkChrome(trace: Trace, options: ChromeTraceOptions, stats: ChromeTraceStats, out: ChromeEmitter): Generator<void, void, undefined> {
  const layout = layoutTracks(trace);
  const counters = options.counters === false ? [] : counterSeries(trace).map(chromeCounter);
  stats.overflowed = layout.overflowed;
  stats.skipped = layout.skipped;
  const tids = laneTids(layout);
  const spans = trace.spans;
  const withMemory = options.memory !== false;
  const shift = timeShift(trace, layout, withMemory, counters.map((c) => c.series));
  stats.shift = shift;
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
    const ts = s.start + shift;
    out.slice(s, ts, lane);
    pending++;
    stats.spans++;
    if (wantFlows) {
      // Flow starts right after their layer's slice, at its ts: viewers bind them to it, not to a child.
      for (let f = builtStart[i]; f < builtStart[i + 1]; f++) {
        out.flowStart(spans[builtBy[f]].id, ts, lane);
        pending++;
      }
      // Flow end right after the primitive's slice; bp 'e' binds it to the enclosing slice, the primitive.
      if (sourceOf[i] >= 0) {
        out.flowEnd(s.id, ts, lane);
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

  if (withMemory) {
    const mem = trace.memory;
    for (let k = 0; k < mem.length; k++) {
      const m = mem[k];
      if (!Number.isFinite(m.t) || !Number.isFinite(m.live)) continue;
      // Several allocations in the same ns: only the last live value is visible anyway.
      if (k + 1 < mem.length && mem[k + 1].t === m.t) continue;
      out.counter(m.t + shift, m.live);
      if (++pending >= BATCH) {
        stats.events += pending;
        pending = 0;
        yield;
      }
    }
  }
  for (const c of counters) {
    for (let k = 0; k < c.series.t.length; k++) {
      out.sample(c, k, c.series.t[k] + shift);
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
    slice: (s, ts, { pid, tid }) =>
      batch.push({ name: String(s.name), ph: 'X', cat: CAT, id: s.id, ts: ts / 1000, dur: (s.end - s.start) / 1000, pid, tid, args: spanArgs(s, SLICE_ARGS) }),
    flowStart: (id, ts, { pid, tid }) => batch.push({ name: FLOW_NAME, ph: 's', cat: CAT, id, ts: ts / 1000, pid, tid }),
    flowEnd: (id, ts, { pid, tid }) => batch.push({ name: FLOW_NAME, ph: 'f', bp: 'e', cat: CAT, id, ts: ts / 1000, pid, tid }),
    counter: (ts, live) => batch.push({ name: 'memory', ph: 'C', ts: ts / 1000, pid: CHROME_PID.cpu, args: { live_bytes: live } }),
    sample: (c, k, ts) => batch.push({ name: c.series.name, ph: 'C', ts: ts / 1000, pid: CHROME_PID.cpu, args: { [c.key]: c.series.v[k] } }),
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
  const args = new ChromeArgsWriter(SLICE_ARGS.instance);
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
    slice: (s, ts, lane) => {
      sep();
      j.bytes(B.name);
      j.string(String(s.name));
      j.bytes(B.sliceMid);
      j.number(s.id);
      j.bytes(B.ts);
      j.micros(ts);
      j.bytes(B.dur);
      j.micros(s.end - s.start);
      j.bytes(lane.pidTid);
      j.bytes(B.args);
      args.write(j, s);
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
    sample: (c, k, ts) => {
      sep();
      j.bytes(c.head);
      j.micros(ts);
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

