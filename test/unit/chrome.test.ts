import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportChromeTrace, toChromeTraceEvents, type ChromeTraceEvent, type ChromeTraceOptions } from '../../src/exporters/chrome';
import { perfettoSchema, toPerfetto, TYPE_SLICE_BEGIN } from '../../src/exporters/perfetto';
import type { Span, Trace } from '../../src/core/model/trace';
import { makeSyntheticTrace, SYNTH_JS_THREAD, syntheticTrace } from '../helpers/synthetic-trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';
import { sensorCounters } from '../helpers/counters-fixture';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-chrome-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface ChromeFile {
  traceEvents: ChromeTraceEvent[];
  displayTimeUnit?: string;
  otherData?: Record<string, unknown>;
}

async function exportAndRead(trace: Trace, name: string, options?: ChromeTraceOptions): Promise<{ file: ChromeFile; text: string; result: Awaited<ReturnType<typeof exportChromeTrace>> }> {
  const path = join(dir, name);
  const result = await exportChromeTrace(trace, path, options);
  const text = readFileSync(path, 'utf8');
  return { file: JSON.parse(text) as ChromeFile, text, result };
}

/** µs decimal -> integer ns, exactly (ts/dur are written with at most 3 decimals for integer ns). */
const ns = (us: number) => Math.round(us * 1000);

/**
 * The Trace Event Format's rules for the phases we write (JSON Object Format, "Trace Event Format" doc):
 * every event has name, ph, pid; X has ts, dur >= 0, tid; C has ts and numeric args; M names a process or
 * thread with args.name / args.sort_index; s/f have id, ts, tid, cat and pair up by (cat, name, id).
 */
function assertWellFormed(events: ChromeTraceEvent[]): void {
  const flows = new Map<string, { s?: ChromeTraceEvent; f?: ChromeTraceEvent }>();
  for (const e of events) {
    const where = JSON.stringify(e);
    expect(typeof e.name, where).toBe('string');
    expect(Number.isInteger(e.pid), where).toBe(true);
    switch (e.ph) {
      case 'X':
        expect(Number.isFinite(e.ts), where).toBe(true);
        expect(Number.isFinite(e.dur) && e.dur! >= 0, where).toBe(true);
        expect(Number.isInteger(e.tid), where).toBe(true);
        expect(typeof e.cat, where).toBe('string');
        expect(typeof e.args, where).toBe('object');
        break;
      case 'C':
        expect(Number.isFinite(e.ts), where).toBe(true);
        expect(Object.values(e.args ?? {}).length, where).toBeGreaterThan(0);
        for (const v of Object.values(e.args ?? {})) expect(typeof v, where).toBe('number');
        break;
      case 'M':
        expect(['process_name', 'process_sort_index', 'thread_name', 'thread_sort_index'], where).toContain(e.name);
        if (e.name.startsWith('thread_')) expect(Number.isInteger(e.tid), where).toBe(true);
        if (e.name.endsWith('_name')) expect(typeof e.args?.name, where).toBe('string');
        else expect(Number.isInteger(e.args?.sort_index), where).toBe(true);
        break;
      case 's':
      case 'f': {
        expect(Number.isFinite(e.ts), where).toBe(true);
        expect(Number.isInteger(e.tid), where).toBe(true);
        expect(e.id, where).toBeDefined();
        expect(typeof e.cat, where).toBe('string');
        if (e.ph === 'f') expect(e.bp, where).toBe('e');
        const key = `${e.cat}|${e.name}|${e.id}`;
        const pair = flows.get(key) ?? {};
        expect(pair[e.ph], `duplicate flow ${e.ph} ${key}`).toBeUndefined();
        pair[e.ph] = e;
        flows.set(key, pair);
        break;
      }
      default:
        throw new Error(`unexpected phase in ${where}`);
    }
  }
  for (const [key, { s, f }] of flows) {
    expect(s, `flow ${key} has no start`).toBeDefined();
    expect(f, `flow ${key} has no end`).toBeDefined();
    expect(ns(s!.ts!)).toBeLessThanOrEqual(ns(f!.ts!));
  }
}

/** Slices on each (pid, tid) nest: a slice that starts inside another ends inside it too. Returns max depth. */
function assertProperNesting(events: ChromeTraceEvent[]): Map<string, number> {
  const byTrack = new Map<string, [number, number, string][]>();
  for (const e of events) {
    if (e.ph !== 'X') continue;
    const key = `${e.pid}:${e.tid}`;
    let arr = byTrack.get(key);
    if (!arr) byTrack.set(key, (arr = []));
    arr.push([ns(e.ts!), ns(e.ts!) + ns(e.dur!), e.name]);
  }
  const depths = new Map<string, number>();
  for (const [key, arr] of byTrack) {
    arr.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    const stack: [number, number, string][] = [];
    let max = 0;
    for (const x of arr) {
      while (stack.length && stack[stack.length - 1][1] <= x[0]) stack.pop();
      const top = stack[stack.length - 1];
      if (top) expect(x[1], `on track ${key}, '${x[2]}' [${x[0]}, ${x[1]}] partially overlaps '${top[2]}' [${top[0]}, ${top[1]}]`).toBeLessThanOrEqual(top[1]);
      stack.push(x);
      max = Math.max(max, stack.length);
    }
    depths.set(key, max);
  }
  return depths;
}

const metaName = (events: ChromeTraceEvent[], name: string, pid: number, tid?: number) =>
  events.find((e) => e.ph === 'M' && e.name === name && e.pid === pid && (tid === undefined || e.tid === tid))?.args?.name;

describe('exportChromeTrace', () => {
  it('writes JSON that parses, with every event well-formed and slices nested on every thread', async () => {
    const trace = makeSyntheticTrace({ primitives: 200, layers: 3, threads: 2, evals: 3 });
    const { file, result } = await exportAndRead(trace, 'basic.json');
    expect(Array.isArray(file.traceEvents)).toBe(true);
    expect(file.displayTimeUnit).toBe('ns');
    expect(file.otherData?.name).toBe('synthetic');
    assertWellFormed(file.traceEvents);
    const depths = assertProperNesting(file.traceEvents);
    // JS thread: step > model > block > leaf layer = 4 deep; workers: flat.
    expect(depths.get(`1:${SYNTH_JS_THREAD}`)).toBe(4);
    expect(depths.get(`1:${SYNTH_JS_THREAD + 1}`)).toBe(1);

    const slices = file.traceEvents.filter((e) => e.ph === 'X');
    expect(slices.length).toBe(trace.spans.length);
    expect(result.spans).toBe(trace.spans.length);
    expect(result.events).toBe(file.traceEvents.length);
    expect(result.overflowed).toBe(0);
    expect(result.skipped).toBe(0);
  });

  it('keeps sub-microsecond precision: ts and dur are exact decimal µs of the ns times', async () => {
    const trace = syntheticTrace({ steps: 1 });
    trace.spans = trace.spans.slice(0, 1);
    Object.assign(trace.spans[0], { start: 1_234_567, end: 1_234_568 + 1_000 });
    trace.memory = [];
    const { text, file } = await exportAndRead(trace, 'precision.json');
    expect(text).toContain('"ts":1234.567,"dur":1.001');
    const x = file.traceEvents.find((e) => e.ph === 'X')!;
    expect(x.ts).toBe(1234.567);
    expect(x.dur).toBe(1.001);
  });

  it('puts the JS thread spans and each worker on its own track, one process per device, all named', async () => {
    const trace = makeSyntheticTrace({ primitives: 64, threads: 2, device: 'mixed' });
    const { file } = await exportAndRead(trace, 'devices.json');
    const ev = file.traceEvents;
    expect(metaName(ev, 'process_name', 1)).toBe('synthetic (cpu)');
    expect(metaName(ev, 'process_name', 2)).toBe('synthetic (gpu)');
    expect(metaName(ev, 'thread_name', 1, SYNTH_JS_THREAD)).toBe(`main (JS) ${SYNTH_JS_THREAD}`);
    expect(metaName(ev, 'thread_name', 1, SYNTH_JS_THREAD + 1)).toBe(`worker ${SYNTH_JS_THREAD + 1}`);
    expect(metaName(ev, 'thread_name', 2, SYNTH_JS_THREAD + 2)).toBe(`gpu stream ${SYNTH_JS_THREAD + 2}`);

    const byId = new Map(trace.spans.map((s) => [s.id, s]));
    for (const e of ev.filter((x) => x.ph === 'X')) {
      const s = byId.get(e.id as number)!;
      expect(e.name).toBe(s.name);
      expect(e.tid).toBe(s.thread);
      expect(e.pid).toBe(s.kind === 'primitive' && s.device === 'gpu' ? 2 : 1);
      if (s.kind !== 'primitive') expect(e.tid).toBe(SYNTH_JS_THREAD);
      // Every (pid, tid) with slices has a thread_name.
      expect(metaName(ev, 'thread_name', e.pid, e.tid)).toBeTypeOf('string');
    }
    assertProperNesting(ev);
  });

  it('carries shapes, dtype, flops, bytes, intensity and layer in args', async () => {
    const trace = makeSyntheticTrace({ primitives: 30 });
    const { file } = await exportAndRead(trace, 'args.json');
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    const costed = prims.find((s) => s.name === 'Matmul')!;
    const uncosted = prims.find((s) => s.flops === null)!;
    const x = (s: Span) => file.traceEvents.find((e) => e.ph === 'X' && e.id === s.id)!;

    expect(x(costed).args).toMatchObject({
      kind: 'primitive',
      inputs: costed.inputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`),
      outputs: costed.outputs.map((t) => `${t.dtype}[${t.shape.join(',')}]`),
      dtype: 'float32',
      flops: costed.flops,
      bytes: costed.bytes,
      intensity: costed.flops! / costed.bytes!,
      layer: costed.layer,
    });
    // Span ids stay out of args (speedscope keys frames by name + args): the slice's id is the span id.
    for (const k of ['id', 'parent', 'layerId']) expect(x(costed).args).not.toHaveProperty(k);
    expect(x(costed).args!.inputs).toEqual(['float32[8,64]', 'float32[64,64]']);
    expect(x(uncosted).args).not.toHaveProperty('flops');
    expect(x(uncosted).args).not.toHaveProperty('intensity');
  });

  it('writes live memory as a counter, one sample per distinct time', async () => {
    const trace = makeSyntheticTrace({ primitives: 40, evals: 2 });
    trace.memory.push({ ...trace.memory[trace.memory.length - 1], live: 7 }); // same t twice: last one wins
    const { file } = await exportAndRead(trace, 'memory.json');
    const counters = file.traceEvents.filter((e) => e.ph === 'C');
    const distinct = new Map(trace.memory.map((m) => [m.t, m.live]));
    expect(counters.length).toBe(distinct.size);
    for (const c of counters) expect(c.args!.live_bytes).toBe(distinct.get(ns(c.ts!)));
    expect(counters.at(-1)!.args!.live_bytes).toBe(7);
    expect(metaName(file.traceEvents, 'process_name', counters[0].pid)).toBeDefined();
  });

  it('writes each counter track as its own counter on the cpu process, series named by its unit', async () => {
    const trace = makeSyntheticTrace({ primitives: 60, evals: 2 });
    const sensors = sensorCounters(trace);
    const [freq, temp] = sensors;
    // Out of order, a repeated time (the last value wins), a NaN, a track without unit named like the memory
    // counter (it must not merge with it), an empty track (left out).
    const odd = { name: 'memory', unit: '', samples: [[5000, 3], [2000, 1], [2000, 2], [3000, Number.NaN]] as [number, number][] };
    trace.counters = [...sensors, odd, { name: 'empty', unit: 'x', samples: [] }];
    const { file, text } = await exportAndRead(trace, 'counters.json');
    assertWellFormed(file.traceEvents);
    expect(file.traceEvents).toEqual(JSON.parse(JSON.stringify([...toChromeTraceEvents(trace)])));
    const series = (name: string) => file.traceEvents.filter((e) => e.ph === 'C' && e.name === name);
    for (const c of [freq, temp]) {
      const evs = series(c.name);
      expect(evs.map((e) => [ns(e.ts!), Object.keys(e.args!)[0], Object.values(e.args!)[0], e.pid])).toEqual(
        c.samples.map(([t, v]) => [t, c.unit, v, 1]));
    }
    // The memory counter keeps its own name and key; the counter named 'memory' is another track.
    expect(series('memory').every((e) => Object.keys(e.args!).join() === 'live_bytes')).toBe(true);
    expect(series('memory (2)').map((e) => [ns(e.ts!), e.args])).toEqual([[2000, { value: 2 }], [5000, { value: 3 }]]);
    expect(series('empty')).toEqual([]);
    expect(text).toContain('"args":{"°C":45}');
    expect(metaName(file.traceEvents, 'process_name', 1)).toBe('synthetic (cpu)');

    const off = await exportAndRead(trace, 'no-counters.json', { counters: false });
    expect(off.file.traceEvents.filter((e) => e.ph === 'C' && e.name !== 'memory')).toEqual([]);
  });

  it('names the cpu process for counters even when no span ran there', async () => {
    const trace = makeSyntheticTrace({ primitives: 20, device: 'gpu', memory: false });
    trace.spans = trace.spans.filter((s) => s.kind === 'primitive');
    trace.counters = sensorCounters(trace, 6);
    const { file } = await exportAndRead(trace, 'counters-gpu.json');
    assertWellFormed(file.traceEvents);
    const pids = new Set(file.traceEvents.filter((e) => e.ph === 'C').map((e) => e.pid));
    expect([...pids]).toEqual([1]);
    expect(metaName(file.traceEvents, 'process_name', 1)).toBe('synthetic (cpu)');
  });

  it('links each layer to the primitives it built with flow events bound to both slices', async () => {
    const trace = makeSyntheticTrace({ primitives: 48, threads: 2 });
    const { file, result } = await exportAndRead(trace, 'flows.json');
    const ev = file.traceEvents;
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    const starts = ev.filter((e) => e.ph === 's');
    const ends = ev.filter((e) => e.ph === 'f');
    expect(starts.length).toBe(prims.length);
    expect(ends.length).toBe(prims.length);
    expect(result.flows).toBe(prims.length);
    const sliceOf = new Map(ev.filter((e) => e.ph === 'X').map((e) => [e.id as number, e]));
    for (const p of prims) {
      const s = starts.find((e) => e.id === p.id)!;
      const f = ends.find((e) => e.id === p.id)!;
      const layer = sliceOf.get(p.layerId!)!;
      const prim = sliceOf.get(p.id)!;
      // Bound by (ts, pid, tid, cat), as DevTools does; Perfetto binds to the enclosing slice, the same one.
      expect([s.ts, s.pid, s.tid, s.cat]).toEqual([layer.ts, layer.pid, layer.tid, layer.cat]);
      expect([f.ts, f.pid, f.tid, f.cat]).toEqual([prim.ts, prim.pid, prim.tid, prim.cat]);
    }
    const none = await exportChromeTrace(trace, join(dir, 'noflows.json'), { flows: false, memory: false });
    expect(none.flows).toBe(0);
    const plain = JSON.parse(readFileSync(join(dir, 'noflows.json'), 'utf8')) as ChromeFile;
    expect(plain.traceEvents.some((e) => e.ph === 's' || e.ph === 'f' || e.ph === 'C')).toBe(false);
  });

  it('moves a partially overlapping span to an overflow thread instead of writing bad nesting', async () => {
    const trace = makeSyntheticTrace({ primitives: 40, evals: 3, overlaps: 2 });
    const { file, result } = await exportAndRead(trace, 'overlap.json');
    expect(result.overflowed).toBe(2);
    assertWellFormed(file.traceEvents);
    assertProperNesting(file.traceEvents);
    const offenders = trace.spans.filter((s) => s.name.startsWith('overlap '));
    for (const s of offenders) {
      const e = file.traceEvents.find((x) => x.ph === 'X' && x.id === s.id)!;
      expect(e.tid).not.toBe(SYNTH_JS_THREAD);
      expect(metaName(file.traceEvents, 'thread_name', e.pid, e.tid)).toBe(`main (JS) ${SYNTH_JS_THREAD} (overlap 1)`);
    }
    // The overflow tid is not any real thread's.
    const real = new Set(trace.spans.map((s) => s.thread));
    const overflowTids = new Set(file.traceEvents.filter((e) => e.ph === 'X' && (e.id as number) > 0 && offenders.some((o) => o.id === e.id)).map((e) => e.tid));
    for (const t of overflowTids) expect(real.has(t!)).toBe(false);
  });

  it('writes the same events toChromeTraceEvents yields, even for odd strings and numbers', async () => {
    const trace = makeSyntheticTrace({ primitives: 20, device: 'mixed', overlaps: 1, evals: 2 });
    const odd = trace.spans.find((s) => s.kind === 'primitive')!;
    odd.name = 'quote " backslash \\ newline \n tab \t unicode µs ✓ \u2028';
    odd.flops = Number.NaN;
    odd.attrs = { 'custom.key': 'a"b', n: 1.5, ok: true, id: 'must not override', warmup: true, toString: 'x' };
    odd.warmup = false;
    const user = trace.spans.find((s) => s.kind === 'user')!;
    user.attrs = { pass: 3, warmup: false }; // the recorder puts pass/warmup in attrs of the pass span
    const frac = trace.spans.find((s) => s.kind === 'eval')!;
    frac.start += 0.25; // JS timing can give fractional ns
    frac.inputs = [{ shape: [1.5, -2, 3], dtype: 'bfloat16', bytes: 12 }];
    // Shape lists that share prefixes must still get their own labels (the exporter caches them in a trie).
    const lists = [
      [{ shape: [2, 3], dtype: 'float32', bytes: 24 }],
      [{ shape: [2], dtype: 'float32', bytes: 8 }, { shape: [3], dtype: 'float32', bytes: 12 }],
      [{ shape: [2, 3], dtype: 'float32', bytes: 24 }, { shape: [], dtype: 'float32', bytes: 4 }],
      [{ shape: [2, 3], dtype: 'float16', bytes: 12 }],
      [{ shape: [], dtype: 'float32', bytes: 4 }],
    ];
    trace.spans.filter((s) => s.kind === 'primitive').slice(1, 1 + lists.length).forEach((s, k) => (s.inputs = lists[k]));
    const { file } = await exportAndRead(trace, 'same.json');
    const fromGenerator = JSON.parse(JSON.stringify([...toChromeTraceEvents(trace)]));
    expect(file.traceEvents).toEqual(fromGenerator);
    const e = file.traceEvents.find((x) => x.ph === 'X' && x.id === odd.id)!;
    expect(e.name).toBe(odd.name);
    expect(e.args!['custom.key']).toBe('a"b');
    expect(e.id).toBe(odd.id);
    expect(e.args).not.toHaveProperty('id'); // not even from attrs
    expect(e.args!.flops).toBeNull();
    expect(e.args).not.toHaveProperty('warmup'); // the span's own warmup wins over attrs, and Chrome args leave it out
    const labelsSeen = trace.spans.filter((s) => s.kind === 'primitive').slice(1, 1 + lists.length)
      .map((s) => file.traceEvents.find((x) => x.ph === 'X' && x.id === s.id)!.args!.inputs);
    expect(labelsSeen).toEqual([['float32[2,3]'], ['float32[2]', 'float32[3]'], ['float32[2,3]', 'float32[]'], ['float16[2,3]'], ['float32[]']]);
    expect(e.args!.toString).toBe('x');
    expect(file.traceEvents.find((x) => x.ph === 'X' && x.id === user.id)!.args).toMatchObject({ pass: 3, warmup: false });
  });

  it('streams to a caller-owned Writable with backpressure and leaves it open', async () => {
    const trace = makeSyntheticTrace({ primitives: 5_000, threads: 2 });
    const chunks: Buffer[] = [];
    let maxPending = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        maxPending = Math.max(maxPending, slow.writableLength);
        setImmediate(cb); // a consumer slower than the producer
      },
    });
    const result = await exportChromeTrace(trace, slow);
    expect(slow.writableEnded).toBe(false);
    const text = Buffer.concat(chunks).toString('utf8');
    expect(Buffer.byteLength(text)).toBe(result.bytes);
    const file = JSON.parse(text) as ChromeFile;
    expect(file.traceEvents.length).toBe(result.events);
    // Never more than one chunk (128 KiB) queued beyond the stream's high-water mark: the exporter waited for 'drain'.
    expect(maxPending).toBeLessThanOrEqual(16 * 1024 + 256 * 1024);
    expect(chunks.length).toBeGreaterThan(3);
  });

  it('writes into a file stream the caller opened, complete when the promise resolves', async () => {
    const path = join(dir, 'callerstream.json');
    const out = createWriteStream(path);
    const trace = makeSyntheticTrace({ primitives: 100 });
    const result = await exportChromeTrace(trace, out);
    expect(JSON.parse(readFileSync(path, 'utf8')).traceEvents.length).toBe(result.events);
    out.end();
  });

  it('writes the same bytes to a file, a .gz file and a caller stream, over many chunks (pooled buffers stay intact)', async () => {
    const trace = makeSyntheticTrace({ primitives: 20_000, threads: 3 });
    const plain = join(dir, 'pooled.json');
    const gz = join(dir, 'pooled.json.gz');
    const a = await exportChromeTrace(trace, plain);
    await exportChromeTrace(trace, gz);
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk); // kept after the callback: the exporter must not reuse this memory
        cb();
      },
    });
    await exportChromeTrace(trace, sink);
    const fromFile = readFileSync(plain);
    expect(a.bytes).toBeGreaterThan(4 * 128 * 1024);
    expect(Buffer.compare(gunzipSync(readFileSync(gz)), fromFile)).toBe(0);
    expect(Buffer.compare(Buffer.concat(chunks), fromFile)).toBe(0);
    expect(JSON.parse(fromFile.toString('utf8')).traceEvents.length).toBe(a.events);
  });

  it('gzips when the path ends in .gz', async () => {
    const path = join(dir, 'trace.chrome-trace.json.gz');
    const trace = makeSyntheticTrace({ primitives: 100 });
    const result = await exportChromeTrace(trace, path);
    const file = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as ChromeFile;
    expect(file.traceEvents.length).toBe(result.events);
  });

  it('rejects bad input and unwritable targets with one clear line', async () => {
    const trace = makeSyntheticTrace({ primitives: 10 });
    await expect(exportChromeTrace(null as unknown as Trace, join(dir, 'x.json'))).rejects.toThrow(/^exportChromeTrace: expected a Trace object, got null$/);
    await expect(exportChromeTrace({ name: 'x' } as unknown as Trace, join(dir, 'x.json'))).rejects.toThrow(/^exportChromeTrace: not an mlx-trace\/1 trace: it has no spans array$/);
    await expect(exportChromeTrace(trace, 42 as unknown as string)).rejects.toThrow(/file path or a writable stream/);
    const missing = join(dir, 'no', 'such', 'dir', 't.json');
    const err = await exportChromeTrace(trace, missing).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^cannot write the Chrome trace to .*t\.json: no such file or directory$/);
    expect((err as Error).message).not.toContain('\n');
    const broken = new PassThrough();
    broken.destroy(new Error('disk full'));
    await expect(exportChromeTrace(trace, broken)).rejects.toThrow(/disk full/);
  });

  it('shifts times before the origin as the Perfetto export does: nothing negative, same offsets', async () => {
    const trace = makeSyntheticTrace({ primitives: 40, threads: 2 });
    const root = trace.spans.find((s) => s.parentId === null)!;
    root.start = -2500.5; // a root span may start before the origin; its children still nest
    trace.memory[0].t = -1000;
    const { file } = await exportAndRead(trace, 'negative.json');
    const timed = file.traceEvents.filter((e) => e.ts !== undefined);
    expect(Math.min(...timed.map((e) => e.ts!))).toBe(0);
    expect((file as unknown as { otherData: { timeShiftNs: number } }).otherData.timeShiftNs).toBe(2500.5);
    const slices = new Map(file.traceEvents.filter((e) => e.ph === 'X').map((e) => [e.id, e]));
    for (const s of trace.spans) expect(slices.get(s.id)!.ts).toBeCloseTo((s.start + 2500.5) / 1000, 9);
    // Perfetto: the same shift (rounded to its integer ns) on every slice begin.
    const { Trace: T } = perfettoSchema();
    const packets = (T.toObject(T.decode(toPerfetto(trace)), { longs: Number, defaults: false }) as { packet: { timestamp?: number; track_event?: { type?: number } }[] }).packet;
    const begins = packets.filter((p) => p.track_event?.type === TYPE_SLICE_BEGIN).map((p) => p.timestamp ?? 0);
    expect(Math.min(...begins)).toBe(0);
    const chromeBegins = [...slices.values()].map((e) => Math.round(e.ts! * 1000)).sort((a, b) => a - b);
    expect(begins.slice().sort((a, b) => a - b)).toEqual(chromeBegins);
  });

  it('skips spans with invalid times and still writes a valid file', async () => {
    const trace = makeSyntheticTrace({ primitives: 10 });
    const n = trace.spans.length;
    trace.spans.push({ ...trace.spans[n - 1], id: 9_001, start: Number.NaN });
    trace.spans.push({ ...trace.spans[n - 1], id: 9_002, start: 10, end: 5 });
    const { file, result } = await exportAndRead(trace, 'skipped.json');
    expect(result.skipped).toBe(2);
    expect(file.traceEvents.filter((e) => e.ph === 'X').length).toBe(n);
    assertWellFormed(file.traceEvents);
  });
});

describe('a real consumer: the Chrome DevTools trace engine (@paulirish/trace_engine)', () => {
  it('loads the file, finds every named thread, nests every slice and draws every flow', async () => {
    // The engine runs in Node once DOMRect exists (its README says so).
    (globalThis as Record<string, unknown>).DOMRect ??= class DOMRect {
      constructor(public x = 0, public y = 0, public width = 0, public height = 0) {}
    };
    const TraceEngine = await import('@paulirish/trace_engine');
    const trace = makeSyntheticTrace({ primitives: 300, threads: 2, device: 'mixed', overlaps: 1, evals: 3 });
    trace.counters = sensorCounters(trace); // counter events must not upset it
    const { file } = await exportAndRead(trace, 'devtools.json');
    const model = TraceEngine.TraceModel.Model.createWithAllHandlers();
    await model.parse(file.traceEvents as never);
    const parsed = model.parsedTrace();
    expect(parsed).toBeTruthy();
    const data = parsed!.data;

    const ours = new Map<string, number>();
    for (const e of file.traceEvents) if (e.ph === 'X') ours.set(`${e.pid}:${e.tid}`, (ours.get(`${e.pid}:${e.tid}`) ?? 0) + 1);
    let threads = 0;
    for (const [pid, proc] of data.Renderer.processes) {
      for (const [tid, thread] of proc.threads) {
        const key = `${pid}:${tid}`;
        if (!ours.has(key)) continue;
        threads++;
        expect(thread.name).toBe(metaName(file.traceEvents, 'thread_name', pid as number, tid as number));
        expect(thread.entries.length).toBe(ours.get(key));
        // The engine drops a slice that partially overlaps its parent from the tree: every slice must be in it.
        let nodes = 0;
        const visit = (n: { children: unknown[] }) => {
          nodes++;
          for (const c of n.children) visit(c as { children: unknown[] });
        };
        for (const root of thread.tree!.roots) visit(root as unknown as { children: unknown[] });
        expect(nodes, `tree of ${thread.name}`).toBe(ours.get(key));
      }
    }
    expect(threads).toBe(ours.size);
    const prims = trace.spans.filter((s) => s.kind === 'primitive').length;
    expect(data.Flows.flows.length).toBe(prims);
    for (const flow of data.Flows.flows) {
      expect(flow.length).toBe(2);
      expect((flow[0].args as { kind?: string }).kind).toBe('layer');
      expect((flow[1].args as { kind?: string }).kind).toBe('primitive');
    }
  });
});

describe('real trace', () => {
  it('exports a real MLX profile: well-formed, nested, flows bound, and the DevTools engine nests every slice', async () => {
    const trace = await recordRealOrMlp();
    const { file, result } = await exportAndRead(trace, 'real.json');
    assertWellFormed(file.traceEvents);
    assertProperNesting(file.traceEvents);
    expect(result.spans + result.skipped).toBe(trace.spans.length);
    const prims = trace.spans.filter((s) => s.kind === 'primitive');
    expect(prims.length).toBeGreaterThan(0);
    expect(file.traceEvents.filter((e) => e.ph === 'X' && e.args?.kind === 'primitive').length).toBe(prims.length);
    const built = prims.filter((p) => p.layerId != null && trace.spans.some((l) => l.id === p.layerId && l.start <= p.start));
    expect(result.flows).toBe(built.length);
    expect(file.traceEvents.filter((e) => e.ph === 'C').length).toBe(new Set(trace.memory.map((m) => m.t)).size);

    (globalThis as Record<string, unknown>).DOMRect ??= class DOMRect {
      constructor(public x = 0, public y = 0, public width = 0, public height = 0) {}
    };
    const TraceEngine = await import('@paulirish/trace_engine');
    const model = TraceEngine.TraceModel.Model.createWithAllHandlers();
    await model.parse(file.traceEvents as never);
    const data = model.parsedTrace()!.data;
    let entries = 0;
    let nodes = 0;
    const visit = (n: { children: unknown[] }) => {
      nodes++;
      for (const c of n.children) visit(c as { children: unknown[] });
    };
    for (const proc of data.Renderer.processes.values()) {
      for (const thread of proc.threads.values()) {
        entries += thread.entries.length;
        for (const root of thread.tree?.roots ?? []) visit(root as unknown as { children: unknown[] });
      }
    }
    expect(entries).toBe(result.spans);
    expect(nodes).toBe(result.spans);
    expect(data.Flows.flows.length).toBe(result.flows);
  });
});
