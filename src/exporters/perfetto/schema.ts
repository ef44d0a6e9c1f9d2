/**
 * The Perfetto schema (proto/perfetto_trace.proto, a subset of Perfetto's protos with the same field numbers),
 * loaded with protobufjs at first use, the wire tags of the fields written by hand, and the varint helpers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** TrackEvent.Type values (track_event.proto). */
export const TYPE_SLICE_BEGIN = 1;
export const TYPE_SLICE_END = 2;
export const TYPE_COUNTER = 4;
/** TracePacket.SequenceFlags (trace_packet.proto). */
export const SEQ_INCREMENTAL_STATE_CLEARED = 1;
export const SEQ_NEEDS_INCREMENTAL_STATE = 2;
/** TrackDescriptor.ChildTracksOrdering.EXPLICIT, ProcessOrdering / ThreadOrdering EXPLICIT (track_descriptor.proto). */
export const CHILD_ORDERING_EXPLICIT = 3;
export const PROCESS_ORDERING_EXPLICIT = 1;
export const THREAD_ORDERING_EXPLICIT = 1;
/** CounterDescriptor.Unit.UNIT_SIZE_BYTES (counter_descriptor.proto). */
export const UNIT_SIZE_BYTES = 3;

export const SEQUENCE_ID = 1;
/** Packets per encoded batch handed to the stream. */
export const BATCH_PACKETS = 2048;

export interface PerfettoSchema {
  root: protobuf.Root;
  Trace: protobuf.Type;
  TracePacket: protobuf.Type;
  InternedData: protobuf.Type;
  /** Wire tags of the hot-path fields, read from the .proto so it stays the one source of field numbers. */
  tags: ReturnType<typeof hotTags>;
}

let schema: PerfettoSchema | null = null;

/** The Perfetto schema from the package's proto/ folder (found from src/ under vitest and from dist/). */
export function perfettoSchema(): PerfettoSchema {
  if (schema) return schema;
  const path = findProto('perfetto_trace.proto');
  const root = protobuf.parse(readFileSync(path, 'utf8'), { keepCase: true }).root;
  schema = {
    root,
    Trace: root.lookupType('perfetto.protos.Trace'),
    TracePacket: root.lookupType('perfetto.protos.TracePacket'),
    InternedData: root.lookupType('perfetto.protos.InternedData'),
    tags: hotTags(root),
  };
  return schema;
}

/** Wire types: varint, 64-bit (fixed64, double), length-delimited. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;

/** tag = field number << 3 | wire type, for the fields written by hand on every event. */
function hotTags(root: protobuf.Root) {
  const f = (type: string, field: string, wire: number) => (root.lookupType(`perfetto.protos.${type}`).fields[field].id << 3) | wire;
  return {
    packet: f('Trace', 'packet', LEN),
    timestamp: f('TracePacket', 'timestamp', VARINT),
    sequenceId: f('TracePacket', 'trusted_packet_sequence_id', VARINT),
    sequenceFlags: f('TracePacket', 'sequence_flags', VARINT),
    internedData: f('TracePacket', 'interned_data', LEN),
    trackEvent: f('TracePacket', 'track_event', LEN),
    type: f('TrackEvent', 'type', VARINT),
    trackUuid: f('TrackEvent', 'track_uuid', VARINT),
    nameIid: f('TrackEvent', 'name_iid', VARINT),
    categoryIids: f('TrackEvent', 'category_iids', VARINT),
    counterValue: f('TrackEvent', 'counter_value', VARINT),
    doubleCounterValue: f('TrackEvent', 'double_counter_value', I64),
    flowIds: f('TrackEvent', 'flow_ids', I64),
    terminatingFlowIds: f('TrackEvent', 'terminating_flow_ids', I64),
    debugAnnotations: f('TrackEvent', 'debug_annotations', LEN),
    annNameIid: f('DebugAnnotation', 'name_iid', VARINT),
    annBool: f('DebugAnnotation', 'bool_value', VARINT),
    annInt: f('DebugAnnotation', 'int_value', VARINT),
    annDouble: f('DebugAnnotation', 'double_value', I64),
    annString: f('DebugAnnotation', 'string_value', LEN),
    annStringIid: f('DebugAnnotation', 'string_value_iid', VARINT),
  };
}

function findProto(file: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 6; up++) {
    const p = join(dir, 'proto', file);
    if (existsSync(p)) return p;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`exportPerfetto: cannot find proto/${file} in the mlx-trace package (is the package installed completely?)`);
}

/** Plain objects in the shape of the .proto (snake_case keys), as protobufjs encodes them. */
export interface Packet {
  timestamp?: number;
  trusted_packet_sequence_id: number;
  sequence_flags?: number;
  interned_data?: Interned;
  track_event?: Record<string, unknown>;
  track_descriptor?: Record<string, unknown>;
}
export interface Interned {
  event_categories?: { iid: number; name: string }[];
  event_names?: { iid: number; name: string }[];
  debug_annotation_names?: { iid: number; name: string }[];
  debug_annotation_string_values?: { iid: number; str: Uint8Array }[];
}

/** uint64 varint without protobufjs' LongBits allocation for values that fit 32 bits (same bytes on the wire). */
export function uint64(w: protobuf.Writer, v: number): void {
  if (v >= 0 && v <= 0xffffffff) w.uint32(v);
  else w.uint64(v);
}

/** int64 varint: non-negative values below 2^32 encode exactly as uint32. */
export function int64(w: protobuf.Writer, v: number): void {
  if (v >= 0 && v <= 0xffffffff) w.uint32(v);
  else w.int64(v);
}

/** fixed64: little-endian, so below 2^32 it is the 32-bit value then four zero bytes. */
export function fixed64(w: protobuf.Writer, v: number): void {
  if (v >= 0 && v <= 0xffffffff) w.fixed32(v).fixed32(0);
  else w.fixed64(v);
}
