/**
 * Lays the spans of a Trace out on timeline tracks for the Chrome and Perfetto exporters.
 *
 * A track is one (device, OS thread) pair: primitives go to the process of their device, everything else
 * (eval, layer, sync, user spans run by the JS thread) to the cpu process. In a trace merged from several
 * processes (mergeTraces: spans carry attrs['distributed.rank']), it is a (rank, device, thread) triple,
 * and each rank gets its own processes. Timeline viewers nest slices on
 * a track by time alone, so a span that partially overlaps another one on its track would be drawn wrong:
 * it is moved to an overflow lane ('worker 17 (overlap 1)') where it nests properly, instead of emitting
 * bad nesting. The layout also indexes which primitives each layer built, for flow arrows.
 *
 * Works on indices and typed arrays so millions of spans cost a few bytes each; the trace is not mutated.
 */
import type { Device, Span, TensorInfo, Trace } from '../../core/model/trace';
import { RANK_ATTR } from '../../core/analysis/merge';

export interface LaidTrack {
  /** Index in TrackLayout.tracks. */
  index: number;
  /** The rank of a merged multi-process trace, null for a single process. */
  rank: number | null;
  device: Device;
  /** OS thread id of the spans on it (0 when unknown). */
  thread: number;
  /** 0 for the thread itself, k > 0 for its k-th overflow lane. */
  lane: number;
  /** True when the thread runs eval/layer/sync/user spans (the JS thread in practice). */
  host: boolean;
  /** 'main (JS) 4242', 'worker 4243', 'worker 4243 (overlap 1)'. */
  name: string;
  /** Viewers order threads by this: host threads first, then by thread id, overflow lanes after their thread. */
  sortIndex: number;
  /** Spans placed on this lane. */
  spanCount: number;
}

export interface TrackLayout {
  tracks: LaidTrack[];
  /**
   * Span indices (into trace.spans) grouped by (device, thread), each group in nesting order:
   * start ascending, then longer first, so a parent always comes before its children.
   */
  order: Int32Array;
  /** Lane track index per span index; -1 for a span left out. */
  trackOf: Int32Array;
  /** Per span index: how many spans are open around it on its lane (0 at the top). -1 when left out. */
  depthOf: Int32Array;
  /** Spans left out because start/end are not finite numbers or end < start. */
  skipped: number;
  /** Spans moved to an overflow lane because they partially overlapped another span on their thread. */
  overflowed: number;
  /**
   * Flows from a layer span to the primitives it built, as CSR: the primitives built by the layer at span
   * index i are builtBy[builtStart[i] .. builtStart[i + 1]). Only flows that go forward in time
   * (layer.start <= primitive.start) between laid-out spans are kept.
   */
  builtStart: Int32Array;
  builtBy: Int32Array;
  /** Per span index: the span index of the layer that built it (a kept flow), else -1. */
  sourceOf: Int32Array;
  /** Total number of flows (builtBy.length). */
  flowCount: number;
}

const DEVICES: readonly Device[] = ['cpu', 'gpu'];

/** A span's rank in a merged trace, or null. */
export function spanRank(s: Span): number | null {
  const r = s.attrs?.[RANK_ATTR];
  return typeof r === 'number' && Number.isInteger(r) && r >= 0 ? r : null;
}

/**
 * Process id of a (rank, device) pair in Chrome and Perfetto traces: 1 = cpu, 2 = gpu for one process;
 * 10·(rank+1) + that for a rank of a merged trace (rank 0: 11, 12; rank 1: 21, 22), so each rank is a process.
 */
export function processId(rank: number | null, device: Device): number {
  const d = device === 'gpu' ? 2 : 1;
  return rank === null ? d : 10 * (rank + 1) + d;
}

/** 'model (cpu)', or 'rank 1 (gpu)' in a merged trace. */
export function processName(traceName: string, rank: number | null, device: Device): string {
  return rank === null ? `${traceName || 'mlx'} (${device})` : `rank ${rank} (${device})`;
}

/** The (rank, device) processes the tracks use, in track order (rank, then cpu before gpu). */
export function trackProcesses(tracks: readonly LaidTrack[]): { rank: number | null; device: Device; pid: number }[] {
  const seen = new Map<number, { rank: number | null; device: Device; pid: number }>();
  for (const t of tracks) {
    const pid = processId(t.rank, t.device);
    if (!seen.has(pid)) seen.set(pid, { rank: t.rank, device: t.device, pid });
  }
  return [...seen.values()];
}

/** The device a span's track belongs to: only primitives run on the gpu, the JS thread's spans are host work. */
export function trackDevice(s: Span): Device {
  return s.kind === 'primitive' && s.device === 'gpu' ? 'gpu' : 'cpu';
}

function isLaidOut(s: Span): boolean {
  return s != null && typeof s === 'object' && Number.isFinite(s.start) && Number.isFinite(s.end) && s.end >= s.start;
}

export function layoutTracks(trace: Trace): TrackLayout {
  const spans = trace.spans;
  const n = spans.length;
  const trackOf = new Int32Array(n).fill(-1);
  const depthOf = new Int32Array(n).fill(-1);

  // Group span indices by (rank, device, thread). Thread ids are OS tids: small non-negative integers.
  type Group = { rank: number | null; device: Device; thread: number; host: boolean; idx: number[] };
  const groups = new Map<string, Group>();
  const byThread = { cpu: new Map<number, Group>(), gpu: new Map<number, Group>() };
  let skipped = 0;
  let g: Group | undefined;
  for (let i = 0; i < n; i++) {
    const s = spans[i];
    if (!isLaidOut(s)) {
      skipped++;
      continue;
    }
    const device = trackDevice(s);
    const thread = Number.isFinite(s.thread) ? s.thread : 0;
    const rank = s.attrs === undefined ? null : spanRank(s);
    // Consecutive spans often share a thread; else a number-keyed lookup (no key string per span) for the
    // common single-process trace, where primitives alternate between worker threads.
    if (g === undefined || g.device !== device || g.thread !== thread || g.rank !== rank) {
      g = rank === null ? byThread[device].get(thread) : undefined;
      if (g === undefined) {
        const key = rank + ':' + device + ':' + thread;
        g = groups.get(key);
        if (!g) groups.set(key, (g = { rank, device, thread, host: false, idx: [] }));
        if (rank === null) byThread[device].set(thread, g);
      }
    }
    if (s.kind !== 'primitive') g.host = true;
    g.idx.push(i);
  }

  const byNesting = (a: number, b: number): number => {
    const x = spans[a];
    const y = spans[b];
    if (x.start !== y.start) return x.start - y.start;
    if (x.end !== y.end) return y.end - x.end;
    // Same interval: the parent first, else creation order.
    if (y.parentId === x.id) return -1;
    if (x.parentId === y.id) return 1;
    return a - b;
  };
  const isSorted = (idx: number[]): boolean => {
    for (let k = 1; k < idx.length; k++) if (byNesting(idx[k - 1], idx[k]) > 0) return false;
    return true;
  };

  // Stable track order: by rank (merged traces), cpu before gpu, host threads first, then thread id.
  const ordered = [...groups.values()].sort(
    (a, b) =>
      (a.rank ?? -1) - (b.rank ?? -1) ||
      DEVICES.indexOf(a.device) - DEVICES.indexOf(b.device) ||
      Number(b.host) - Number(a.host) ||
      a.thread - b.thread,
  );

  const tracks: LaidTrack[] = [];
  const order = new Int32Array(n - skipped);
  let o = 0;
  let overflowed = 0;
  let threadRank = 0;
  for (const g of ordered) {
    // Recorders usually emit in start order already; skip the O(n log n) sort then.
    if (!isSorted(g.idx)) g.idx.sort(byNesting);
    // Greedy lanes: a span goes on the first lane where it nests (starts after the open span ended, or ends
    // inside it). Lane 0 is the thread itself; partial overlaps spill to lanes 1, 2, ...
    const stacks: number[][] = [];
    const laneTrack: number[] = [];
    const base = threadRank++ * 1000;
    for (const i of g.idx) {
      const s = spans[i];
      let lane = 0;
      for (; ; lane++) {
        if (lane === stacks.length) {
          stacks.push([]);
          const name = threadName(g.device, g.thread, g.host) + (lane > 0 ? ` (overlap ${lane})` : '');
          const t: LaidTrack = {
            index: tracks.length, rank: g.rank, device: g.device, thread: g.thread, lane, host: g.host, name,
            sortIndex: base + lane, spanCount: 0,
          };
          tracks.push(t);
          laneTrack.push(t.index);
        }
        const stack = stacks[lane];
        while (stack.length > 0 && spans[stack[stack.length - 1]].end <= s.start) stack.pop();
        if (stack.length === 0 || s.end <= spans[stack[stack.length - 1]].end) {
          depthOf[i] = stack.length;
          stack.push(i);
          break;
        }
      }
      if (lane > 0) overflowed++;
      trackOf[i] = laneTrack[lane];
      tracks[laneTrack[lane]].spanCount++;
      order[o++] = i;
    }
  }

  // Flow index: primitive -> the layer span that built it (by id), kept only when both are laid out.
  const indexOfId = new Map<number, number>();
  for (let i = 0; i < n; i++) if (trackOf[i] >= 0 && spans[i].kind === 'layer') indexOfId.set(spans[i].id, i);
  const builtStart = new Int32Array(n + 1);
  const sourceOf = new Int32Array(n).fill(-1);
  let flowCount = 0;
  if (indexOfId.size > 0) {
    for (let i = 0; i < n; i++) {
      const s = spans[i];
      if (trackOf[i] < 0 || s.kind !== 'primitive' || s.layerId == null) continue;
      const li = indexOfId.get(s.layerId);
      if (li === undefined || spans[li].start > s.start) continue;
      sourceOf[i] = li;
      builtStart[li + 1]++;
      flowCount++;
    }
  }
  for (let i = 0; i < n; i++) builtStart[i + 1] += builtStart[i];
  const builtBy = new Int32Array(flowCount);
  const fill = builtStart.slice(0, n);
  for (let i = 0; i < n; i++) if (sourceOf[i] >= 0) builtBy[fill[sourceOf[i]]++] = i;

  return { tracks, order, trackOf, depthOf, skipped, overflowed, builtStart, builtBy, sourceOf, flowCount };
}

function threadName(device: Device, thread: number, host: boolean): string {
  const id = thread === 0 ? 'unknown' : String(thread);
  if (host) return `main (JS) ${id}`;
  return device === 'gpu' ? `gpu stream ${id}` : `worker ${id}`;
}

interface LabelNode<T> {
  kids: Map<unknown, LabelNode<T>> | null;
  value: T | undefined;
}

/**
 * A value per distinct list of (dtype, shape), found without building the label string: a trie walked by
 * dtype, rank and dims. Exporters keep the encoded label (or its interned id) here, so the millions of
 * spans that share a few shape lists cost a few Map lookups each and allocate nothing.
 */
export class TensorListCache<T> {
  private _root: LabelNode<T> = { kids: null, value: undefined };

  /** The cached value for this tensor list, computed by make() on first sight. */
  get(ts: readonly TensorInfo[], make: (ts: readonly TensorInfo[]) => T): T {
    let node = this._root;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i];
      const shape = Array.isArray(t.shape) ? t.shape : EMPTY_SHAPE;
      node = child(node, t.dtype);
      node = child(node, shape.length);
      for (let d = 0; d < shape.length; d++) node = child(node, shape[d]);
    }
    let v = node.value;
    if (v === undefined) node.value = v = make(ts);
    return v;
  }
}

const EMPTY_SHAPE: number[] = [];

function child<T>(node: LabelNode<T>, key: unknown): LabelNode<T> {
  const kids = (node.kids ??= new Map());
  let next = kids.get(key);
  if (next === undefined) kids.set(key, (next = { kids: null, value: undefined }));
  return next;
}

/** One counter track of trace.counters, ready to write: finite samples in time order, one per distinct time. */
export interface CounterSeries {
  /** Unique among the series and never a name the exporters use for the memory counter. */
  name: string;
  unit: string;
  t: Float64Array;
  v: Float64Array;
}

/** Counter names the exporters use themselves (Chrome's 'memory', Perfetto's 'live memory'). */
const RESERVED_COUNTER_NAMES = ['memory', 'live memory'];

/**
 * trace.counters (CPU frequency, temperature...) for the Chrome and Perfetto exporters. Malformed tracks and
 * samples are skipped; samples are sorted by time (stable) and of several in the same ns only the last is kept,
 * as for memory. Names are made unique ('temp (2)'), so each becomes its own track in a viewer.
 */
export function counterSeries(trace: Trace): CounterSeries[] {
  const out: CounterSeries[] = [];
  if (!Array.isArray(trace.counters)) return out;
  const used = new Set(RESERVED_COUNTER_NAMES);
  for (const c of trace.counters) {
    if (c == null || typeof c !== 'object' || !Array.isArray(c.samples)) continue;
    let pts = c.samples.filter((x): x is [number, number] => Array.isArray(x) && Number.isFinite(x[0]) && Number.isFinite(x[1]));
    if (pts.length === 0) continue;
    if (pts.some((x, i) => i > 0 && x[0] < pts[i - 1][0])) pts = pts.map((x, i) => [x, i] as const).sort((a, b) => a[0][0] - b[0][0] || a[1] - b[1]).map((x) => x[0]);
    const keep = pts.filter((x, i) => i + 1 >= pts.length || pts[i + 1][0] !== x[0]);
    const base = typeof c.name === 'string' && c.name !== '' ? c.name : 'counter';
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base} (${k})`;
    used.add(name);
    out.push({
      name,
      unit: typeof c.unit === 'string' ? c.unit : '',
      t: Float64Array.from(keep, (x) => x[0]),
      v: Float64Array.from(keep, (x) => x[1]),
    });
  }
  return out;
}

/**
 * What both exporters add to every time they write so that none is negative: 0, or minus the earliest time of
 * the laid-out spans, the memory events (when written) and the counter samples. Perfetto's timestamps are
 * unsigned and its JSON importer drops negative ts, so a span that starts before the trace origin shifts the
 * whole trace instead.
 */
export function timeShift(trace: Trace, layout: TrackLayout, withMemory: boolean, counters: readonly CounterSeries[]): number {
  const spans = trace.spans;
  let first = 0;
  for (let k = 0; k < layout.order.length; k++) first = Math.min(first, spans[layout.order[k]].start);
  if (withMemory) for (const m of trace.memory) if (Number.isFinite(m.t)) first = Math.min(first, m.t);
  for (const c of counters) if (c.t.length > 0) first = Math.min(first, c.t[0]);
  return -first;
}
