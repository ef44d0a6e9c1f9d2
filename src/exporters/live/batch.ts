/**
 * The live page's batches: the spans of the chunks a page has not seen yet, numbered in the session's
 * tables (the dashboard packer's string, signature, lane and layer tables, kept for the whole session
 * and sent as they grow), as narrow columns (./columns.ts), with each chunk's memory points reduced
 * per time bucket. A chunk is put in the tables once, when it first counts in a window, so a refresh
 * costs what arrived since the last one, not the window.
 * A batch's primitives are those since the page's cut (./groups.ts).
 */
import type { Span } from '../../core/model/trace';
import { isForcing } from '../../core/model/span-facts';
import { KIND_CODES } from '../html/format';
import { Interner } from '../html/pack/common';
import { SignatureTable } from '../html/pack/signatures';
import { LaneTable, LayerTable, USER_KIND } from '../html/pack/spans';
import { encodeColumn } from './columns';
import { fromCut, NO_GROUPS, sumGroups, type Groups } from './groups';
import { MEMORY_BUCKETS, type BatchMessage, type TableDelta } from './protocol';
import type { LiveStore, Stored } from './store';

/** A chunk's spans in the session's tables. */
export interface PackedChunk {
  n: number;
  /** Rows [0, prims) are primitives, the rest JS-side and token spans; the earliest end among the primitives. */
  prims: number;
  primEndMin: number;
  /** The primitives summed by signature, layer and lane (what the op and layer tables count). */
  groups: Groups;
  /** Some primitive's layer span had not come when the chunk was packed (its layer is looked up again). */
  unresolved: boolean;
  /**
   * What busy time (core/analysis/busy.ts) needs of the chunk: its evals and sync points, and each run of primitives
   * with one owner (parent id, 0 for none) with the time it ran over. An asyncEval's span reaches the page before its
   * work is drained, in this chunk or a later one, so the window stretches it to its runs' end (groups.ts).
   */
  forcing: Intervals;
  runs: Intervals;
  id: Float64Array;
  start: Float64Array;
  end: Float64Array;
  sig: Uint32Array;
  layer: Uint32Array;
  lane: Uint16Array;
  /** The chunk's memory points, reduced per time bucket (reduceMemory), and how many there were. */
  memN: number;
  memT: Float64Array;
  memLive: Float64Array;
  memSource: number;
}

/** How much of each table a page has. */
export interface TableCursor {
  strings: number;
  sigs: number;
  lanes: number;
  layers: number;
}

export const NO_TABLES: TableCursor = { strings: 0, sigs: 0, lanes: 0, layers: 0 };

const KIND_INDEX = new Map<string, number>(KIND_CODES.map((k, i) => [k, i]));

const PRIM_GPU = 1;
const PRIMITIVE_KIND = KIND_INDEX.get('primitive')!;

export class LiveTables {
  /**
   * Table numbers of what primitives share: by signature (the class it was first seen with, plus one, and its
   * number; another class of the same signature goes to the map), by layer span id, by thread and device.
   */
  private sigCls = new Int32Array(1024);
  private sigNum = new Int32Array(1024);
  private primSig = new Map<number, number>();
  private primLayer = new Map<number, number>();
  private primLane = new Map<number, number>();
  readonly strings = new Interner();
  readonly sigs = new SignatureTable(this.strings);
  readonly lanes = new LaneTable();
  readonly layers = new LayerTable(this.strings);

  cursor(): TableCursor {
    return { strings: this.strings.list.length, sigs: this.sigs.size, lanes: this.lanes.info.length, layers: this.layers.list.length };
  }

  /** The entries added since `c`. */
  delta(c: TableCursor): TableDelta {
    const t = this.sigs;
    const at = c.sigs;
    const orNull = (v: number) => (Number.isFinite(v) ? v : null);
    return {
      strings: this.strings.list.slice(c.strings),
      sigs: {
        kind: t.kind.slice(at), name: t.name.slice(at), cat: t.cat.slice(at), shapes: t.shapes.slice(at), dtype: t.dtype.slice(at),
        flops: t.flops.slice(at).map(orNull), bytes: t.bytes.slice(at).map(orNull),
      },
      lanes: this.lanes.info.slice(c.lanes).map((l) => ({ device: l.device, thread: l.thread })),
      layers: this.layers.list.slice(c.layers),
    };
  }

  /**
   * A chunk's primitives (from its columns: a few map lookups each, no span object) and then its JS-side and
   * token spans.
   */
  packChunk(store: LiveStore, st: Stored): PackedChunk {
    const c = st.chunk;
    const js = store.objects(st, true).concat(st.tokens);
    const p = this.pack(js, c.n);
    p.id.set(c.id.subarray(0, c.n));
    p.start.set(c.t0.subarray(0, c.n));
    // Neighbours mostly share a layer and a lane: the last keys skip the maps.
    let lastLid = -1, lastLayer = 0, lastLk = -1, lastLane = 0, unresolved = false, endMin = Infinity;
    for (let i = 0; i < c.n; i++) {
      p.end[i] = Math.max(c.t0[i], c.t1[i]);
      if (p.end[i] < endMin) endMin = p.end[i];
      const s = c.sig[i], cls = c.cls[i];
      p.sig[i] = s < this.sigCls.length && this.sigCls[s] === cls + 1 ? this.sigNum[s] : this.primSigOf(store, s, cls);
      const lid = c.layer[i];
      if (lid !== lastLid) {
        lastLayer = this.primLayerOf(store, lid);
        if (lastLayer === 0 && lid !== 0) unresolved = true;
        lastLid = lid;
      }
      p.layer[i] = lastLayer;
      const gpu = c.flags[i] & PRIM_GPU;
      const lk = c.thread[i] * 2 + gpu;
      if (lk !== lastLk) {
        let lane = this.primLane.get(lk);
        if (lane === undefined) this.primLane.set(lk, (lane = this.lanes.of({ device: gpu ? 'gpu' : 'cpu', thread: c.thread[i] } as Span, c.t0[i])));
        lastLk = lk;
        lastLane = lane;
      }
      p.lane[i] = lastLane;
    }
    p.prims = c.n;
    p.unresolved = unresolved;
    p.primEndMin = endMin;
    p.groups = sumGroups(p, -Infinity);
    p.forcing = forcingIntervals(js);
    p.runs = ownerRuns(c.parent, c.t0, p.end, c.n);
    const mem = reduceMemory(c.memT, c.memLive, c.memN, store.windowNs / MEMORY_BUCKETS);
    p.memN = mem.n;
    p.memT = mem.t;
    p.memLive = mem.live;
    p.memSource = c.memN;
    return p;
  }

  /** The table number of a primitive's signature and class, first seen (or seen with another class). */
  private primSigOf(store: LiveStore, s: number, cls: number): number {
    const key = s * 65536 + cls;
    let sig = this.primSig.get(key);
    if (sig === undefined) {
      const pr = store.primitive(s, cls);
      this.primSig.set(key, (sig = this.sigs.of(pr as Span, PRIMITIVE_KIND, this.strings.id(pr.name))));
    }
    if (s >= this.sigCls.length) {
      const size = Math.max(s + 1, 2 * this.sigCls.length);
      const grow = (a: Int32Array) => { const b = new Int32Array(size); b.set(a); return b; };
      this.sigCls = grow(this.sigCls);
      this.sigNum = grow(this.sigNum);
    }
    if (this.sigCls[s] === 0) {
      this.sigCls[s] = cls + 1;
      this.sigNum[s] = sig;
    }
    return sig;
  }

  /** The layer-table number of a primitive's layer id: 0 while the layer's span has not come (not kept: looked up again next time). */
  private primLayerOf(store: LiveStore, lid: number): number {
    let layer = this.primLayer.get(lid);
    if (layer === undefined) {
      layer = this.layers.of(store.layerName(lid));
      if (layer !== 0 || lid === 0) this.primLayer.set(lid, layer);
    }
    return layer;
  }

  /** Looks the layers of a chunk's primitives up again where their layer span had not come when it was packed. */
  resolveLayers(store: LiveStore, st: Stored, p: PackedChunk): void {
    const c = st.chunk;
    let still = false;
    for (let i = 0; i < c.n; i++) {
      const lid = c.layer[i];
      if (lid === 0 || p.layer[i] !== 0) continue;
      p.layer[i] = this.primLayerOf(store, lid);
      if (p.layer[i] === 0) still = true;
    }
    p.unresolved = still;
    p.groups = sumGroups(p, -Infinity);
  }

  /** Spans as objects, put at `at` and after in fresh columns of at + spans.length rows. */
  pack(spans: Span[], at = 0): PackedChunk {
    const n = at + spans.length;
    const p: PackedChunk = {
      n, prims: 0, primEndMin: Infinity, groups: NO_GROUPS, unresolved: false, forcing: NO_INTERVALS, runs: NO_INTERVALS, id: new Float64Array(n), start: new Float64Array(n), end: new Float64Array(n), sig: new Uint32Array(n), layer: new Uint32Array(n), lane: new Uint16Array(n),
      memN: 0, memT: NO_POINTS, memLive: NO_POINTS, memSource: 0,
    };
    for (let i = at; i < n; i++) {
      const s = spans[i - at];
      p.id[i] = s.id;
      p.start[i] = s.start;
      p.end[i] = s.end;
      p.sig[i] = this.sigs.of(s, KIND_INDEX.get(s.kind) ?? USER_KIND, this.strings.id(s.name));
      p.layer[i] = this.layers.of(s.layer);
      p.lane[i] = this.lanes.of(s, s.start);
    }
    return p;
  }
}

const NO_POINTS = new Float64Array(0);

/** Spans (or runs of them) by id, with the time they cover. */
export interface Intervals {
  id: Float64Array;
  lo: Float64Array;
  hi: Float64Array;
}

const NO_INTERVALS: Intervals = { id: NO_POINTS, lo: NO_POINTS, hi: NO_POINTS };

function intervals(id: number[], lo: number[], hi: number[]): Intervals {
  return { id: Float64Array.from(id), lo: Float64Array.from(lo), hi: Float64Array.from(hi) };
}

/** A chunk's evals and sync points. */
function forcingIntervals(js: Span[]): Intervals {
  const id: number[] = [], lo: number[] = [], hi: number[] = [];
  for (const s of js) {
    if (!isForcing(s)) continue;
    id.push(s.id);
    lo.push(s.start);
    hi.push(Math.max(s.start, s.end));
  }
  return intervals(id, lo, hi);
}

/** A chunk's runs of primitives with one owner: the owner's id and the time the run spans. */
function ownerRuns(parent: Float64Array, start: Float64Array, end: Float64Array, n: number): Intervals {
  const id: number[] = [], lo: number[] = [], hi: number[] = [];
  for (let i = 0; i < n; ) {
    const owner = parent[i];
    let a = start[i], b = end[i];
    for (i++; i < n && parent[i] === owner; i++) {
      if (start[i] < a) a = start[i];
      if (end[i] > b) b = end[i];
    }
    id.push(owner);
    lo.push(a);
    hi.push(b);
  }
  return intervals(id, lo, hi);
}

/**
 * Memory points in time order reduced to the lowest, highest and last point of each bucket of `widthNs`
 * (buckets fixed in time, so a chunk's reduction does not depend on where the chunk starts), in time order.
 */
export function reduceMemory(t: Float64Array, live: Float64Array, n: number, widthNs: number): { n: number; t: Float64Array; live: Float64Array } {
  const outT = new Float64Array(n), outL = new Float64Array(n);
  let m = 0;
  let i = 0;
  while (i < n) {
    const b = Math.floor(t[i] / widthNs);
    let lo = i, hi = i, j = i + 1;
    while (j < n && Math.floor(t[j] / widthNs) === b) {
      if (live[j] < live[lo]) lo = j;
      if (live[j] > live[hi]) hi = j;
      j++;
    }
    // The bucket's points that stay, in time order: lowest and highest in their order, then the last.
    const last = j - 1;
    const first = Math.min(lo, hi), second = Math.max(lo, hi);
    outT[m] = t[first]; outL[m] = live[first]; m++;
    if (second !== first) { outT[m] = t[second]; outL[m] = live[second]; m++; }
    if (last !== second) { outT[m] = t[last]; outL[m] = live[last]; m++; }
    i = j;
  }
  return { n: m, t: outT.subarray(0, m), live: outL.subarray(0, m) };
}

function concat(parts: ArrayLike<number>[], n: number): Float64Array {
  const out = new Float64Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The spans and memory points of the chunks after seq `after` (with `reset`: of every chunk still in
 * the window), their primitives only from `cut` on, and the table entries since `cursor`. The rest of
 * the message is the caller's.
 */
export function makeBatch(
  store: LiveStore, tables: LiveTables, after: number, cursor: TableCursor, reset: boolean, cut: number,
): Pick<BatchMessage, 'reset' | 'from' | 'to' | 'tables' | 'n' | 'cols' | 'memN' | 'mem' | 'memSource'> {
  const from = store.from;
  const parts: PackedChunk[] = [];
  let memSource = 0;
  for (const st of store.chunks) {
    if (st.tEnd >= from) memSource += st.chunk.memN;
    if (!(reset ? st.tEnd >= from : st.seq > after)) continue;
    st.packed ??= tables.packChunk(store, st);
    parts.push(fromCut(st.packed, cut));
  }
  let n = 0, memN = 0;
  for (const p of parts) {
    n += p.n;
    memN += p.memN;
  }
  const col = (k: 'id' | 'start' | 'end' | 'sig' | 'layer' | 'lane' | 'memT' | 'memLive', len: number) => concat(parts.map((p) => p[k].subarray(0, k === 'memT' || k === 'memLive' ? p.memN : p.n)), len);
  return {
    reset,
    from,
    to: store.to,
    tables: tables.delta(cursor),
    n,
    // Ids, times and memory points mostly grow a little from one to the next: they go as differences.
    cols: {
      id: encodeColumn(col('id', n), n, true), start: encodeColumn(col('start', n), n, true), end: encodeColumn(col('end', n), n, true),
      sig: encodeColumn(col('sig', n), n), layer: encodeColumn(col('layer', n), n), lane: encodeColumn(col('lane', n), n),
    },
    memN,
    mem: { t: encodeColumn(col('memT', memN), memN, true), live: encodeColumn(col('memLive', memN), memN, true) },
    memSource,
  };
}
