/**
 * Perfetto protobuf exporter: a .perfetto-trace file that ui.perfetto.dev and trace_processor open
 * directly, smaller and faster to load than the Chrome JSON.
 *
 * Layout mirrors the Chrome exporter (same track-layout): one process track per device (pid 1 = cpu,
 * 2 = gpu), a thread track per OS thread, named child tracks for overflow lanes, a 'live memory'
 * counter track, and a counter track (double values, unit_name from the trace) per trace.counters entry. Each span is a SLICE_BEGIN / SLICE_END pair on its track (balanced and properly nested),
 * with its shapes, dtype and costs as debug annotations; a layer's BEGIN carries flow ids that end on the
 * BEGIN of each primitive it built. Event names, categories, annotation names and repeated string values
 * are interned on a single packet sequence.
 *
 * The schema is proto/perfetto_trace.proto (a subset of Perfetto's protos, same field numbers), loaded
 * with protobufjs at first use. Packets are encoded in batches and streamed with backpressure.
 */
import protobuf from 'protobufjs';
import type { Trace } from '../core/model/trace';
import { exportableTrace } from '../core/model/checks';
import { type ExportTarget, isExportTarget, openSink } from './shared/sink';
import { counterSeries, layoutTracks, processId, processName, timeShift, trackProcesses, type LaidTrack, type TrackLayout } from './shared/track-layout';
import { AnnotationWriter, Interner } from './perfetto/annotations';
import {
  BATCH_PACKETS, CHILD_ORDERING_EXPLICIT, fixed64, int64, type Packet, perfettoSchema, SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE, SEQUENCE_ID,
  PROCESS_ORDERING_EXPLICIT, THREAD_ORDERING_EXPLICIT, TYPE_COUNTER, TYPE_SLICE_BEGIN, TYPE_SLICE_END, uint64, UNIT_SIZE_BYTES,
} from './perfetto/schema';

export { perfettoSchema, TYPE_COUNTER, TYPE_SLICE_BEGIN, TYPE_SLICE_END };
export type { PerfettoSchema } from './perfetto/schema';

export interface PerfettoOptions {
  /** Flow arrows from layers to the primitives they built. @default true */
  flows?: boolean;
  /** The live-memory counter track. @default true */
  memory?: boolean;
  /** A counter track per trace.counters entry (CPU frequency, temperature...). @default true */
  counters?: boolean;
}

export interface PerfettoExportResult {
  /** Trace packets written (descriptors + events). */
  packets: number;
  /** Track events written (slice begins and ends, counter values). */
  events: number;
  bytes: number;
  spans: number;
  flows: number;
  overflowed: number;
  skipped: number;
}

/** Process ids, as in the Chrome export. */
export const PERFETTO_PID = { cpu: 1, gpu: 2 } as const;

interface Stats {
  packets: number;
  events: number;
  spans: number;
  flows: number;
  overflowed: number;
  skipped: number;
}

/**
 * The trace as encoded bytes, in batches: each chunk is a run of `Trace.packet` fields (tag 1, length,
 * TracePacket), so the concatenation of all chunks is one Trace message.
 */
// Long by design: one generator keeps the writer, the interner and the open slice stacks of every lane as
// locals of a single pass; its parts (descriptors, slices, counters) share those closures.
export function* perfettoChunks(
  trace: Trace,
  options: PerfettoOptions = {},
  stats?: Stats,
  pool?: { acquire(size: number): Uint8Array },
): Generator<Uint8Array, void, undefined> {
  trace = exportableTrace(trace, 'exportPerfetto');
  const st = stats ?? { packets: 0, events: 0, spans: 0, flows: 0, overflowed: 0, skipped: 0 };
  const { TracePacket, InternedData, tags: T } = perfettoSchema();
  const layout = layoutTracks(trace);
  st.overflowed = layout.overflowed;
  st.skipped = layout.skipped;
  const spans = trace.spans;
  const interner = new Interner();

  const w = protobuf.Writer.create();
  let inBatch = 0;
  let first = true;
  const put = (p: Packet) => {
    if (first) {
      // The first packet resets the sequence's interning state; every later one depends on it.
      p.sequence_flags = SEQ_INCREMENTAL_STATE_CLEARED;
      first = false;
    }
    const interned = interner.take();
    if (interned) p.interned_data = interned;
    w.uint32(10).fork(); // Trace.packet = 1, length-delimited
    TracePacket.encode(p, w).ldelim();
    st.packets++;
    inBatch++;
  };
  const flush = (): Uint8Array => {
    // Copied out into a buffer from the pool; rewinding keeps the writer's grown buffer for the next batch.
    // Pooled buffers are whole ArrayBuffers of at least 256 KiB, so they fit most batches and come back.
    const out = (pool?.acquire(Math.max(w.pos, 256 * 1024)) ?? new Uint8Array(w.pos)).subarray(0, w.pos);
    w.finishInto(out);
    w.pos = 0;
    inBatch = 0;
    return out;
  };

  const counters = options.counters === false ? [] : counterSeries(trace);
  const withMemory = options.memory !== false && trace.memory.length > 0;
  const shift = timeShift(trace, layout, withMemory, counters);
  const ts = (t: number) => Math.round(t + shift);

  const uuids = trackUuids(layout.tracks);
  for (const track_descriptor of laneDescriptors(trace, layout, uuids, withMemory || counters.length > 0)) {
    put({ trusted_packet_sequence_id: SEQUENCE_ID, track_descriptor });
  }
  const memoryUuid = uuids.length + 100;
  if (withMemory) {
    put({
      trusted_packet_sequence_id: SEQUENCE_ID,
      track_descriptor: { uuid: memoryUuid, parent_uuid: processUuid(PERFETTO_PID.cpu), name: 'live memory', counter: { unit: UNIT_SIZE_BYTES } },
    });
  }
  const counterUuid = (k: number) => memoryUuid + 1 + k;
  counters.forEach((c, k) => {
    put({
      trusted_packet_sequence_id: SEQUENCE_ID,
      track_descriptor: { uuid: counterUuid(k), parent_uuid: processUuid(PERFETTO_PID.cpu), name: c.name, counter: c.unit ? { unit_name: c.unit } : {} },
    });
  });
  yield flush();

  // Event packets are written field by field (tags from the .proto): no per-event objects on the hot path.
  // Interned strings first used by an event go in the same packet, after the event (field order is free).
  const open = (t: number) => {
    w.uint32(T.packet).fork();
    uint64(w.uint32(T.timestamp), t);
    w.uint32(T.sequenceId).uint32(SEQUENCE_ID);
    w.uint32(T.sequenceFlags).uint32(SEQ_NEEDS_INCREMENTAL_STATE);
    w.uint32(T.trackEvent).fork();
  };
  const close = () => {
    w.ldelim();
    const interned = interner.take();
    if (interned) InternedData.encode(interned, w.uint32(T.internedData).fork()).ldelim();
    w.ldelim();
    st.packets++;
    st.events++;
    inBatch++;
  };
  const ann = new AnnotationWriter(T, interner);

  // Slices: BEGIN in nesting order; a lane's END is written when the next span on that lane starts after
  // it, or when the thread's group is done, so every track's begins and ends balance and nest.
  const wantFlows = options.flows !== false;
  const { order, trackOf, builtStart, builtBy, sourceOf } = layout;
  const stacks: number[][] = layout.tracks.map(() => []);
  const end = (i: number) => {
    open(ts(spans[i].end));
    w.uint32(T.type).int32(TYPE_SLICE_END);
    uint64(w.uint32(T.trackUuid), uuids[trackOf[i]]);
    close();
  };
  let groupLanes: number[] = [];
  let prev: LaidTrack | null = null;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const s = spans[i];
    const lane = layout.tracks[trackOf[i]];
    // A new (device, thread) group: close everything still open on the previous group's lanes.
    if (prev !== null && !sameGroup(prev, lane)) {
      for (const l of groupLanes) while (stacks[l].length > 0) end(stacks[l].pop()!);
      groupLanes = [];
    }
    prev = lane;
    const stack = stacks[lane.index];
    if (stack.length === 0) groupLanes.push(lane.index);
    while (stack.length > 0 && spans[stack[stack.length - 1]].end <= s.start) end(stack.pop()!);

    open(ts(s.start));
    w.uint32(T.type).int32(TYPE_SLICE_BEGIN);
    uint64(w.uint32(T.trackUuid), uuids[lane.index]);
    uint64(w.uint32(T.nameIid), interner.name(String(s.name)));
    uint64(w.uint32(T.categoryIids), interner.category(String(s.kind)));
    ann.span(w, s);
    if (wantFlows) {
      for (let f = builtStart[i]; f < builtStart[i + 1]; f++) fixed64(w.uint32(T.flowIds), spans[builtBy[f]].id);
      if (sourceOf[i] >= 0) {
        fixed64(w.uint32(T.terminatingFlowIds), s.id);
        st.flows++;
      }
    }
    close();
    st.spans++;
    stack.push(i);
    if (inBatch >= BATCH_PACKETS) yield flush();
  }
  for (const stack of stacks) while (stack.length > 0) end(stack.pop()!);

  if (withMemory) {
    const mem = trace.memory;
    for (let k = 0; k < mem.length; k++) {
      const m = mem[k];
      if (!Number.isFinite(m.t) || !Number.isFinite(m.live)) continue;
      if (k + 1 < mem.length && mem[k + 1].t === m.t) continue; // same ns: the last value wins
      open(ts(m.t));
      w.uint32(T.type).int32(TYPE_COUNTER);
      uint64(w.uint32(T.trackUuid), memoryUuid);
      int64(w.uint32(T.counterValue), Math.round(m.live));
      close();
      if (inBatch >= BATCH_PACKETS) yield flush();
    }
  }
  for (let k = 0; k < counters.length; k++) {
    const c = counters[k];
    for (let i = 0; i < c.t.length; i++) {
      open(ts(c.t[i]));
      w.uint32(T.type).int32(TYPE_COUNTER);
      uint64(w.uint32(T.trackUuid), counterUuid(k));
      // Sensor values are fractional (mean MHz, °C): the double field keeps them.
      w.uint32(T.doubleCounterValue).double(c.v[i]);
      close();
      if (inBatch >= BATCH_PACKETS) yield flush();
    }
  }
  if (inBatch > 0) yield flush();
}

/** Writes the trace as a .perfetto-trace to a path or a Writable (left open). */
export async function exportPerfetto(trace: Trace, target: ExportTarget, options: PerfettoOptions = {}): Promise<PerfettoExportResult> {
  trace = exportableTrace(trace, 'exportPerfetto');
  if (!isExportTarget(target)) throw new TypeError('exportPerfetto: the target must be a file path or a writable stream');
  const stats: Stats = { packets: 0, events: 0, spans: 0, flows: 0, overflowed: 0, skipped: 0 };
  const sink = openSink(target, 'the Perfetto trace to');
  const chunks = perfettoChunks(trace, options, stats, sink);
  try {
    // Each chunk is the head of a pooled buffer (its own ArrayBuffer): the sink takes the buffer back once written.
    for (const chunk of chunks) await sink.writePooled(new Uint8Array(chunk.buffer), chunk.length);
    await sink.close();
  } catch (e) {
    chunks.return();
    await sink.abort().catch(() => {});
    throw e;
  }
  return { ...stats, bytes: sink.bytes };
}

/** The whole .perfetto-trace in memory (small traces, tests). */
export function toPerfetto(trace: Trace, options: PerfettoOptions = {}): Uint8Array {
  return Buffer.concat([...perfettoChunks(trace, options)]);
}

function sameGroup(a: LaidTrack, b: LaidTrack): boolean {
  return a.device === b.device && a.thread === b.thread && a.rank === b.rank;
}

/** A process track's uuid: 1 and 2 as always for one process; rank processes above every lane's uuid. */
function processUuid(pid: number): number {
  return pid <= 2 ? pid : 0x1000000 + pid;
}

/** Lane track uuids count from 16 (1 and 2 are the process tracks). */
function trackUuids(tracks: LaidTrack[]): number[] {
  return tracks.map((t) => 16 + t.index);
}

/** The uuid of the track holding a thread's overflow lanes: above every lane, process and counter uuid. */
const laneGroupUuid = (group: number): number => 0x2000000 + group;

/**
 * Track descriptors of the processes and lanes. Process and thread tracks ignore child_ordering, so the root
 * descriptor (uuid 0) orders them explicitly: processes by pid, threads by sortIndex (the JS thread first). A
 * thread's overflow lanes (and the lanes of a thread without its own thread track) nest under one plain track
 * per thread, whose child_ordering EXPLICIT keeps them in lane order.
 */
function laneDescriptors(trace: Trace, layout: TrackLayout, uuids: number[], cpuCounters: boolean): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [{ uuid: 0, process_ordering: PROCESS_ORDERING_EXPLICIT, thread_ordering: THREAD_ORDERING_EXPLICIT }];
  const processes = trackProcesses(layout.tracks);
  if (cpuCounters && !processes.some((p) => p.pid === PERFETTO_PID.cpu)) processes.unshift({ rank: null, device: 'cpu', pid: PERFETTO_PID.cpu });
  const merged = processes.some((p) => p.rank !== null);
  for (const { rank, device, pid } of processes) {
    const name = merged && rank === null ? `${trace.name || 'mlx'} (all ranks)` : processName(trace.name, rank, device);
    out.push({ uuid: processUuid(pid), process: { pid, process_name: name }, sibling_order_rank: pid });
  }
  const threadTracks = new Set<number>();
  for (let g = 0; g < layout.tracks.length; ) {
    // The lanes of one (rank, device, thread): consecutive in layout.tracks.
    let e = g + 1;
    while (e < layout.tracks.length && sameGroup(layout.tracks[g], layout.tracks[e])) e++;
    const first = layout.tracks[g];
    const pid = processId(first.rank, first.device);
    let k = g;
    // One thread track per tid in the whole trace: Perfetto reads a second one as tid reuse.
    if (first.thread !== 0 && !threadTracks.has(first.thread)) {
      threadTracks.add(first.thread);
      out.push({ uuid: uuids[g], thread: { pid, tid: first.thread, thread_name: first.name }, sibling_order_rank: first.sortIndex });
      k++;
    }
    if (e - k === 1 && k === g) out.push({ uuid: uuids[g], parent_uuid: processUuid(pid), name: first.name });
    else if (e > k) {
      const parent = laneGroupUuid(g);
      const name = k === g ? first.name : `${first.name} (overlaps)`;
      out.push({ uuid: parent, parent_uuid: processUuid(pid), name, child_ordering: CHILD_ORDERING_EXPLICIT });
      for (; k < e; k++) out.push({ uuid: uuids[k], parent_uuid: parent, name: layout.tracks[k].name, sibling_order_rank: layout.tracks[k].lane });
    }
    g = e;
  }
  return out;
}

