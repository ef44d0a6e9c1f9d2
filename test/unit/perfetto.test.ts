import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportChromeTrace } from '../../src/exporters/chrome';
import { exportPerfetto, perfettoSchema, toPerfetto } from '../../src/exporters/perfetto';
import type { Trace } from '../../src/core/model/trace';
import { makeSyntheticTrace, SYNTH_JS_THREAD } from '../helpers/synthetic-trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';
import { sensorCounters } from '../helpers/counters-fixture';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-perfetto-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Decoded with protobufjs' toObject: 64-bit fields as numbers, enums as numbers, snake_case keys.
interface Ann { name_iid?: number; int_value?: number; double_value?: number; string_value_iid?: number; string_value?: string; bool_value?: boolean }
interface Ev {
  type?: number; track_uuid?: number; name_iid?: number; category_iids?: number[]; counter_value?: number; double_counter_value?: number;
  flow_ids?: number[]; terminating_flow_ids?: number[]; debug_annotations?: Ann[];
}
interface Pkt {
  timestamp?: number; trusted_packet_sequence_id?: number; sequence_flags?: number;
  track_event?: Ev;
  track_descriptor?: {
    uuid: number; parent_uuid?: number; name?: string;
    process?: { pid: number; process_name: string }; thread?: { pid: number; tid: number; thread_name: string };
    counter?: { unit?: number; unit_name?: string };
    child_ordering?: number; sibling_order_rank?: number; process_ordering?: number; thread_ordering?: number;
  };
  interned_data?: {
    event_names?: { iid: number; name: string }[]; event_categories?: { iid: number; name: string }[];
    debug_annotation_names?: { iid: number; name: string }[]; debug_annotation_string_values?: { iid: number; str: Uint8Array }[];
  };
}

function decode(bytes: Uint8Array): Pkt[] {
  const { Trace } = perfettoSchema();
  const msg = Trace.decode(bytes);
  return (Trace.toObject(msg, { longs: Number, enums: Number, bytes: Buffer as never, defaults: false, arrays: true }) as { packet: Pkt[] }).packet;
}

/** Resolves interned ids the way trace_processor does: per sequence, defined before use. */
function resolve(packets: Pkt[]) {
  const names = new Map<number, string>();
  const cats = new Map<number, string>();
  const keys = new Map<number, string>();
  const values = new Map<number, string>();
  const slices: { track: number; name: string; cat: string; start: number; end: number; args: Record<string, unknown>; flows: number[]; terminating: number[] }[] = [];
  const open = new Map<number, typeof slices>();
  const counters: { track: number; t: number; v: number }[] = [];
  packets.forEach((p, i) => {
    if (i === 0) expect(p.sequence_flags).toBe(1); // SEQ_INCREMENTAL_STATE_CLEARED
    expect(p.trusted_packet_sequence_id).toBe(1);
    const d = p.interned_data;
    for (const x of d?.event_names ?? []) names.set(x.iid, x.name);
    for (const x of d?.event_categories ?? []) cats.set(x.iid, x.name);
    for (const x of d?.debug_annotation_names ?? []) keys.set(x.iid, x.name);
    for (const x of d?.debug_annotation_string_values ?? []) values.set(x.iid, Buffer.from(x.str).toString('utf8'));
    const e = p.track_event;
    if (!e) return;
    expect(p.sequence_flags).toBe(2); // SEQ_NEEDS_INCREMENTAL_STATE
    expect(typeof p.timestamp).toBe('number');
    const stack = open.get(e.track_uuid!) ?? [];
    open.set(e.track_uuid!, stack);
    if (e.type === 1) {
      const args: Record<string, unknown> = {};
      for (const a of e.debug_annotations ?? []) {
        const k = keys.get(a.name_iid!);
        expect(k, `annotation name iid ${a.name_iid} defined before use`).toBeDefined();
        args[k!] = a.string_value_iid != null ? values.get(a.string_value_iid) : a.int_value ?? a.double_value ?? a.bool_value ?? a.string_value;
      }
      const name = names.get(e.name_iid!);
      expect(name, `name iid ${e.name_iid} defined before use`).toBeDefined();
      const s = { track: e.track_uuid!, name: name!, cat: cats.get(e.category_iids![0])!, start: p.timestamp!, end: -1, args, flows: e.flow_ids ?? [], terminating: e.terminating_flow_ids ?? [] };
      slices.push(s);
      stack.push(s);
    } else if (e.type === 2) {
      const s = stack.pop();
      expect(s, `SLICE_END without a BEGIN on track ${e.track_uuid}`).toBeDefined();
      s!.end = p.timestamp!;
    } else if (e.type === 4) {
      expect(e.counter_value == null || e.double_counter_value == null, 'one counter value field').toBe(true);
      counters.push({ track: e.track_uuid!, t: p.timestamp!, v: e.counter_value ?? e.double_counter_value! });
    } else {
      throw new Error(`unexpected track event type ${e.type}`);
    }
  });
  for (const [track, stack] of open) expect(stack.length, `unclosed slices on track ${track}`).toBe(0);
  return { slices, counters };
}

/** Slices on each track nest: sorted by start, each one ends inside the one open around it. */
function assertNested(slices: { track: number; start: number; end: number; name: string }[]): void {
  const byTrack = new Map<number, typeof slices>();
  for (const s of slices) byTrack.set(s.track, [...(byTrack.get(s.track) ?? []), s]);
  for (const [track, arr] of byTrack) {
    arr.sort((a, b) => a.start - b.start || b.end - a.end);
    const stack: typeof slices = [];
    for (const s of arr) {
      while (stack.length && stack[stack.length - 1].end <= s.start) stack.pop();
      const top = stack[stack.length - 1];
      if (top) expect(s.end, `track ${track}: ${s.name} partially overlaps ${top.name}`).toBeLessThanOrEqual(top.end);
      stack.push(s);
    }
  }
}

describe('exportPerfetto', () => {
  it('writes a Trace that decodes into named process/thread/counter tracks', async () => {
    const trace = makeSyntheticTrace({ primitives: 120, threads: 2, device: 'mixed', evals: 2 });
    const path = join(dir, 'tracks.perfetto-trace');
    const result = await exportPerfetto(trace, path);
    const packets = decode(readFileSync(path));
    expect(packets.length).toBe(result.packets);
    expect(statSync(path).size).toBe(result.bytes);

    const tracks = packets.filter((p) => p.track_descriptor).map((p) => p.track_descriptor!);
    const procs = tracks.filter((t) => t.process);
    expect(procs.map((t) => [t.process!.pid, t.process!.process_name])).toEqual([[1, 'synthetic (cpu)'], [2, 'synthetic (gpu)']]);
    const threads = tracks.filter((t) => t.thread);
    expect(threads.map((t) => [t.thread!.pid, t.thread!.tid, t.thread!.thread_name])).toEqual([
      [1, SYNTH_JS_THREAD, `main (JS) ${SYNTH_JS_THREAD}`],
      [1, SYNTH_JS_THREAD + 1, `worker ${SYNTH_JS_THREAD + 1}`],
      [1, SYNTH_JS_THREAD + 2, `worker ${SYNTH_JS_THREAD + 2}`],
    ]);
    // gpu work of thread 4244 is its own track under the gpu process (a second thread track for the same tid
    // would read as tid reuse in Perfetto).
    const gpu = tracks.find((t) => t.name === `gpu stream ${SYNTH_JS_THREAD + 2}`)!;
    expect(gpu.parent_uuid).toBe(procs[1].uuid);
    const mem = tracks.find((t) => t.counter)!;
    expect(mem.name).toBe('live memory');
    expect(mem.counter!.unit).toBe(3); // UNIT_SIZE_BYTES
    expect(new Set(tracks.map((t) => t.uuid)).size).toBe(tracks.length);
  });

  it('balances SLICE_BEGIN/END on every track, nests them, and keeps every span, name, time and arg', async () => {
    const trace = makeSyntheticTrace({ primitives: 300, threads: 3, device: 'mixed', evals: 3, overlaps: 2 });
    const bytes = toPerfetto(trace);
    const packets = decode(bytes);
    const { slices, counters } = resolve(packets);
    expect(slices.length).toBe(trace.spans.length);
    assertNested(slices);

    const byId = new Map(slices.map((s) => [s.args.id as number, s]));
    for (const s of trace.spans) {
      const x = byId.get(s.id)!;
      expect([x.name, x.cat, x.start, x.end]).toEqual([s.name, s.kind, s.start, s.end]);
      if (s.kind === 'primitive') {
        expect(x.args).toMatchObject({ parent: s.parentId, dtype: 'float32', layer: s.layer, layerId: s.layerId });
        expect(x.args.inputs).toBe(s.inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(', '));
        if (s.flops != null) expect(x.args).toMatchObject({ flops: s.flops, bytes: s.bytes, intensity: s.flops / s.bytes! });
        else expect(x.args).not.toHaveProperty('flops');
      }
    }
    // Both overlapping user spans left the JS thread track for an overflow track.
    const jsTrack = byId.get(trace.spans.find((s) => s.kind === 'eval')!.id)!.track;
    for (const s of trace.spans.filter((x) => x.name.startsWith('overlap '))) expect(byId.get(s.id)!.track).not.toBe(jsTrack);

    const distinct = new Map(trace.memory.map((m) => [m.t, m.live]));
    expect(counters.length).toBe(distinct.size);
    for (const c of counters) expect(c.v).toBe(distinct.get(c.t));
  });

  it('orders tracks explicitly: processes by pid, threads JS first, overflow lanes in lane order under their thread', () => {
    const trace = makeSyntheticTrace({ primitives: 300, threads: 3, device: 'mixed', evals: 3, overlaps: 3 });
    const tracks = decode(toPerfetto(trace)).filter((p) => p.track_descriptor).map((p) => p.track_descriptor!);
    const byUuid = new Map(tracks.map((t) => [Number(t.uuid), t]));
    const root = byUuid.get(0)!;
    expect([root.process_ordering, root.thread_ordering]).toEqual([1, 1]); // *_ORDERING_EXPLICIT
    const procs = tracks.filter((t) => t.process);
    expect(procs.map((t) => t.sibling_order_rank)).toEqual(procs.map((t) => t.process!.pid));
    const threads = tracks.filter((t) => t.thread);
    expect(threads[0].thread!.thread_name).toMatch(/^main \(JS\)/);
    expect(threads.map((t) => t.sibling_order_rank)).toEqual(threads.map((t) => t.sibling_order_rank).sort((a, b) => a! - b!));
    const ranked = tracks.filter((t) => t.sibling_order_rank != null && !t.thread && !t.process);
    const lanes = ranked.filter((t) => / \(overlap \d+\)$/.test(t.name!));
    expect(lanes.length).toBeGreaterThan(0);
    // Every ranked child's parent is a plain track (Perfetto ignores child_ordering on process and thread
    // tracks) that asks for EXPLICIT ordering.
    for (const t of ranked) {
      const parent = byUuid.get(Number(t.parent_uuid))!;
      expect(parent.process ?? parent.thread).toBeUndefined();
      expect(parent.child_ordering).toBe(3); // ChildTracksOrdering.EXPLICIT
    }
    for (const t of lanes) expect(t.sibling_order_rank).toBe(Number(/\(overlap (\d+)\)$/.exec(t.name!)![1]));
  });

  it('links layers to the primitives they built with flow ids', () => {
    const trace = makeSyntheticTrace({ primitives: 60, threads: 2 });
    const { slices } = resolve(decode(toPerfetto(trace)));
    const byId = new Map(slices.map((s) => [s.args.id as number, s]));
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    for (const p of prims) {
      expect(byId.get(p.layerId!)!.flows).toContain(p.id);
      expect(byId.get(p.id)!.terminating).toEqual([p.id]);
    }
    const allFlowIds = slices.flatMap((s) => s.flows);
    expect(allFlowIds.length).toBe(prims.length);
    const none = resolve(decode(toPerfetto(trace, { flows: false, memory: false })));
    expect(none.slices.every((s) => s.flows.length === 0 && s.terminating.length === 0)).toBe(true);
    expect(none.counters.length).toBe(0);
  });

  it('writes a counter track per trace counter, with its unit and every sample as a double', () => {
    const trace = makeSyntheticTrace({ primitives: 80, threads: 2, evals: 2 });
    const sensors = sensorCounters(trace);
    // Out of order and a repeated time (the last value wins); one sample before the trace origin.
    const odd = { name: 'fan', unit: 'rpm', samples: [[9000, 1200.5], [-500, 1100], [9000, 1250.25]] as [number, number][] };
    trace.counters = [...sensors, odd];
    const packets = decode(toPerfetto(trace));
    const tracks = packets.filter((p) => p.track_descriptor).map((p) => p.track_descriptor!);
    const { counters, slices } = resolve(packets);
    // Timestamps are unsigned: everything moved by the earliest time, so the offset is the -500 sample's.
    const base = -500;
    const first = trace.spans.reduce((a, s) => Math.min(a, s.start), Infinity);
    expect(Math.min(...slices.map((s) => s.start))).toBe(first - base);
    for (const c of [...sensors, { ...odd, samples: [[-500, 1100], [9000, 1250.25]] as [number, number][] }]) {
      const track = tracks.find((t) => t.name === c.name)!;
      expect(track, c.name).toBeDefined();
      expect(track.counter).toEqual({ unit_name: c.unit });
      expect(track.parent_uuid).toBe(1); // the cpu process
      expect(counters.filter((x) => x.track === track.uuid).map((x) => [x.t + base, x.v])).toEqual(c.samples);
    }
    // The memory track keeps its integer bytes.
    const mem = tracks.find((t) => t.name === 'live memory')!;
    expect(counters.filter((x) => x.track === mem.uuid).every((x) => Number.isInteger(x.v))).toBe(true);
    expect(new Set(tracks.map((t) => t.uuid)).size).toBe(tracks.length);

    const none = resolve(decode(toPerfetto(trace, { counters: false, memory: false })));
    expect(none.counters).toEqual([]);
  });

  it('labels shape lists that share prefixes apart, and keeps attrs the span does not set itself', () => {
    const trace = makeSyntheticTrace({ primitives: 12 });
    const lists = [
      [{ shape: [2, 3], dtype: 'float32', bytes: 24 }],
      [{ shape: [2], dtype: 'float32', bytes: 8 }, { shape: [3], dtype: 'float32', bytes: 12 }],
      [{ shape: [2, 3], dtype: 'float32', bytes: 24 }, { shape: [], dtype: 'float32', bytes: 4 }],
      [{ shape: [2, 3], dtype: 'int8', bytes: 6 }],
    ];
    const prims = trace.spans.filter((s) => s.kind === 'primitive').slice(0, lists.length);
    prims.forEach((s, k) => (s.inputs = lists[k]));
    prims[0].attrs = { id: 'ignored', custom: 'v', n: 2.5, pass: 4 };
    const { slices } = resolve(decode(toPerfetto(trace)));
    const byId = new Map(slices.map((s) => [s.args.id as number, s]));
    expect(prims.map((s) => byId.get(s.id)!.args.inputs)).toEqual(['float32[2,3]', 'float32[2], float32[3]', 'float32[2,3], float32[]', 'int8[2,3]']);
    expect(byId.get(prims[0].id)!.args).toMatchObject({ id: prims[0].id, custom: 'v', n: 2.5, pass: 4 });
  });

  it('interns names: each distinct string is written once', () => {
    const trace = makeSyntheticTrace({ primitives: 500 });
    const packets = decode(toPerfetto(trace));
    const names = packets.flatMap((p) => p.interned_data?.event_names ?? []);
    expect(new Set(names.map((n) => n.name)).size).toBe(names.length);
    expect(names.length).toBe(new Set(trace.spans.map((s) => s.name)).size);
    const values = packets.flatMap((p) => p.interned_data?.debug_annotation_string_values ?? []);
    expect(new Set(values.map((v) => Buffer.from(v.str).toString())).size).toBe(values.length);
  });

  it('is smaller than the Chrome JSON of the same trace', async () => {
    const trace = makeSyntheticTrace({ primitives: 5_000, threads: 2 });
    const p = await exportPerfetto(trace, join(dir, 'size.perfetto-trace'));
    const c = await exportChromeTrace(trace, join(dir, 'size.json'));
    expect(p.bytes).toBeLessThan(c.bytes / 2);
  });

  it('uses the field numbers of Perfetto’s published protos on the wire', () => {
    // Read the raw wire format with numbers typed in from protos/perfetto/trace/*.proto upstream, so a
    // typo in proto/perfetto_trace.proto cannot hide behind decoding with the same file.
    const bytes = toPerfetto(makeSyntheticTrace({ primitives: 4 }));
    const fields = (buf: Uint8Array) => {
      const r = protobuf.Reader.create(buf);
      const out: { field: number; wire: number; value: number | Uint8Array }[] = [];
      while (r.pos < r.len) {
        const tag = r.uint32();
        const field = tag >>> 3;
        const wire = tag & 7;
        if (wire === 0) out.push({ field, wire, value: Number(r.uint64()) });
        else if (wire === 2) out.push({ field, wire, value: r.bytes() });
        else if (wire === 1) out.push({ field, wire, value: Number(r.fixed64()) });
        else throw new Error(`unexpected wire type ${wire}`);
      }
      return out;
    };
    const top = fields(bytes);
    expect(top.every((f) => f.field === 1 && f.wire === 2)).toBe(true); // Trace.packet = 1
    const packets = top.map((f) => fields(f.value as Uint8Array));
    const num = (fs: ReturnType<typeof fields>, n: number) => fs.find((f) => f.field === n);
    expect(num(packets[0], 60)).toBeDefined(); // TracePacket.track_descriptor = 60
    expect(num(packets[0], 10)!.value).toBe(1); // trusted_packet_sequence_id = 10
    expect(num(packets[0], 13)!.value).toBe(1); // sequence_flags = 13, SEQ_INCREMENTAL_STATE_CLEARED
    const root = fields(num(packets[0], 60)!.value as Uint8Array);
    expect(num(root, 1)!.value).toBe(0); // the root track descriptor, uuid 0
    expect(num(root, 19)!.value).toBe(1); // process_ordering = 19, PROCESS_ORDERING_EXPLICIT
    expect(num(root, 20)!.value).toBe(1); // thread_ordering = 20, THREAD_ORDERING_EXPLICIT
    const proc = fields(num(packets[1], 60)!.value as Uint8Array);
    expect(num(proc, 1)).toBeDefined(); // TrackDescriptor.uuid = 1
    expect(num(proc, 12)!.value).toBe(1); // sibling_order_rank = 12: the pid
    const pd = fields(num(proc, 3)!.value as Uint8Array); // process = 3
    expect(num(pd, 1)!.value).toBe(1); // ProcessDescriptor.pid = 1
    expect(Buffer.from(num(pd, 6)!.value as Uint8Array).toString()).toBe('synthetic (cpu)'); // process_name = 6
    const thread = packets.map((p) => num(p, 60)).filter(Boolean).map((f) => fields(f!.value as Uint8Array)).find((d) => num(d, 4))!;
    const td = fields(num(thread, 4)!.value as Uint8Array); // TrackDescriptor.thread = 4
    expect(num(td, 2)!.value).toBe(SYNTH_JS_THREAD); // ThreadDescriptor.tid = 2
    expect(Buffer.from(num(td, 5)!.value as Uint8Array).toString()).toBe(`main (JS) ${SYNTH_JS_THREAD}`); // thread_name = 5

    const firstEvent = packets.find((p) => num(p, 11))!;
    expect(num(firstEvent, 8)).toBeDefined(); // TracePacket.timestamp = 8
    expect(num(firstEvent, 13)!.value).toBe(2); // SEQ_NEEDS_INCREMENTAL_STATE
    const interned = fields(num(firstEvent, 12)!.value as Uint8Array); // interned_data = 12
    const evName = fields(num(interned, 2)!.value as Uint8Array); // InternedData.event_names = 2
    expect(num(evName, 1)!.value).toBe(1); // EventName.iid = 1
    expect(Buffer.from(num(evName, 2)!.value as Uint8Array).toString()).toBe('step 0'); // EventName.name = 2
    expect(num(interned, 1)).toBeDefined(); // event_categories = 1
    expect(num(interned, 3)).toBeDefined(); // debug_annotation_names = 3
    const te = fields(num(firstEvent, 11)!.value as Uint8Array); // TracePacket.track_event = 11
    expect(num(te, 9)!.value).toBe(1); // TrackEvent.type = 9, TYPE_SLICE_BEGIN = 1
    expect(num(te, 10)!.value).toBe(1); // name_iid = 10
    expect(num(te, 11)).toBeDefined(); // track_uuid = 11
    expect(num(te, 3)).toBeDefined(); // category_iids = 3
    const ann = fields(num(te, 4)!.value as Uint8Array); // debug_annotations = 4
    expect(num(ann, 1)).toBeDefined(); // DebugAnnotation.name_iid = 1
    expect(num(ann, 4)).toBeDefined(); // int_value = 4

    const layerBegin = packets.map((p) => num(p, 11)).filter(Boolean).map((f) => fields(f!.value as Uint8Array)).find((e) => num(e, 47))!;
    expect(num(layerBegin, 47)!.wire).toBe(1); // flow_ids = 47, fixed64
    const primBegin = packets.map((p) => num(p, 11)).filter(Boolean).map((f) => fields(f!.value as Uint8Array)).find((e) => num(e, 48))!;
    expect(num(primBegin, 48)!.wire).toBe(1); // terminating_flow_ids = 48, fixed64
    const counter = packets.map((p) => num(p, 11)).filter(Boolean).map((f) => fields(f!.value as Uint8Array)).find((e) => num(e, 9)?.value === 4)!;
    expect(num(counter, 30)).toBeDefined(); // TYPE_COUNTER = 4 with counter_value = 30
    const end = packets.map((p) => num(p, 11)).filter(Boolean).map((f) => fields(f!.value as Uint8Array)).find((e) => num(e, 9)?.value === 2)!;
    expect(end.map((f) => f.field).sort((a, b) => a - b)).toEqual([9, 11]); // SLICE_END: type + track_uuid only
  });

  it('streams to a caller-owned Writable and leaves it open', async () => {
    const trace = makeSyntheticTrace({ primitives: 10_000, threads: 2 });
    const chunks: Buffer[] = [];
    const out = new Writable({
      highWaterMark: 8 * 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        setImmediate(cb);
      },
    });
    const result = await exportPerfetto(trace, out);
    expect(out.writableEnded).toBe(false);
    expect(chunks.length).toBeGreaterThan(3);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(result.bytes);
    expect(Buffer.compare(all, Buffer.from(toPerfetto(trace)))).toBe(0);
  });

  it('writes the same bytes to a file and to a .gz file as toPerfetto returns, over many chunks', async () => {
    const trace = makeSyntheticTrace({ primitives: 30_000, threads: 2 });
    const path = join(dir, 'pooled.perfetto-trace');
    await exportPerfetto(trace, path);
    await exportPerfetto(trace, path + '.gz');
    const expected = Buffer.from(toPerfetto(trace));
    expect(expected.length).toBeGreaterThan(4 * 64 * 1024);
    expect(Buffer.compare(readFileSync(path), expected)).toBe(0);
    expect(Buffer.compare(gunzipSync(readFileSync(path + '.gz')), expected)).toBe(0);
  });

  it('rejects bad input and unwritable targets with one clear line', async () => {
    await expect(exportPerfetto(undefined as unknown as Trace, join(dir, 'x'))).rejects.toThrow(/^exportPerfetto: expected a Trace object, got undefined$/);
    await expect(exportPerfetto(makeSyntheticTrace({ primitives: 2 }), '')).rejects.toThrow(/file path or a writable stream/);
    const err = await exportPerfetto(makeSyntheticTrace({ primitives: 2 }), join(dir, 'missing', 'x.perfetto-trace')).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^cannot write the Perfetto trace to .*x\.perfetto-trace: no such file or directory$/);
  });
});

describe('real trace', () => {
  it('exports a real MLX profile whose slices balance, nest and match the spans, smaller than its JSON', async () => {
    const trace = await recordRealOrMlp();
    const path = join(dir, 'real.perfetto-trace');
    const result = await exportPerfetto(trace, path);
    const { slices, counters } = resolve(decode(readFileSync(path)));
    expect(slices.length).toBe(result.spans);
    expect(result.spans + result.skipped).toBe(trace.spans.length);
    assertNested(slices);
    const byId = new Map(slices.map((s) => [s.args.id as number, s]));
    for (const s of trace.spans) {
      const x = byId.get(s.id);
      if (!x) continue;
      expect([x.name, x.cat, x.start, x.end]).toEqual([s.name, s.kind, Math.round(s.start), Math.round(s.end)]);
    }
    expect(slices.filter((s) => s.cat === 'primitive').length).toBeGreaterThan(0);
    expect(counters.length).toBe(new Set(trace.memory.map((m) => m.t)).size);
    const json = await exportChromeTrace(trace, join(dir, 'real.json'));
    expect(result.bytes).toBeLessThan(json.bytes);
  });
});
