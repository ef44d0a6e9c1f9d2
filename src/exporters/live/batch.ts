/**
 * The live page's batches: the spans of the chunks a page has not seen yet, numbered in the session's
 * tables (the dashboard packer's string, signature, lane and layer tables, kept for the whole session
 * and sent as they grow), as base64 columns. A chunk is put in the tables once, by the first batch
 * that sends it, so a refresh costs what arrived since the last one, not the window.
 */
import type { Span } from '../../core/model/trace';
import { KIND_CODES } from '../html/format';
import { Interner } from '../html/pack/common';
import { SignatureTable } from '../html/pack/signatures';
import { LaneTable, LayerTable, USER_KIND } from '../html/pack/spans';
import type { BatchMessage, TableDelta } from './protocol';
import type { LiveStore, Stored } from './store';

/** A chunk's spans in the session's tables. */
export interface PackedChunk {
  n: number;
  id: Float64Array;
  start: Float64Array;
  end: Float64Array;
  sig: Uint32Array;
  layer: Uint32Array;
  lane: Uint16Array;
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
    let lastLid = -1, lastLayer = 0, lastLk = -1, lastLane = 0;
    for (let i = 0; i < c.n; i++) {
      p.end[i] = Math.max(c.t0[i], c.t1[i]);
      const s = c.sig[i], cls = c.cls[i];
      p.sig[i] = s < this.sigCls.length && this.sigCls[s] === cls + 1 ? this.sigNum[s] : this.primSigOf(store, s, cls);
      const lid = c.layer[i];
      if (lid !== lastLid) {
        let layer = this.primLayer.get(lid);
        if (layer === undefined) {
          layer = this.layers.of(store.layerName(lid));
          // A layer id whose name has not come yet is looked up again next time.
          if (layer !== 0 || lid === 0) this.primLayer.set(lid, layer);
        }
        lastLid = lid;
        lastLayer = layer;
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

  /** Spans as objects, put at `at` and after in fresh columns of at + spans.length rows. */
  pack(spans: Span[], at = 0): PackedChunk {
    const n = at + spans.length;
    const p: PackedChunk = {
      n, id: new Float64Array(n), start: new Float64Array(n), end: new Float64Array(n), sig: new Uint32Array(n), layer: new Uint32Array(n), lane: new Uint16Array(n),
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

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function concat<T extends Float64Array | Uint32Array | Uint16Array>(parts: T[], make: (n: number) => T): T {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = make(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The spans and memory points of the chunks after seq `after` (with `reset`: of every chunk still in
 * the window), and the table entries since `cursor`. The rest of the message is the caller's.
 */
export function makeBatch(store: LiveStore, tables: LiveTables, after: number, cursor: TableCursor, reset: boolean): Pick<BatchMessage, 'reset' | 'from' | 'to' | 'tables' | 'n' | 'cols' | 'memN' | 'mem'> {
  const from = store.from;
  const chosen: Stored[] = [];
  for (const st of store.chunks) if (reset ? st.tEnd >= from : st.seq > after) chosen.push(st);
  const parts: PackedChunk[] = [];
  const memT: Float64Array[] = [];
  const memLive: Float64Array[] = [];
  for (const st of chosen) {
    st.packed ??= tables.packChunk(store, st);
    parts.push(st.packed);
    const c = st.chunk;
    if (c.memN > 0) {
      memT.push(c.memT.subarray(0, c.memN));
      memLive.push(c.memLive.subarray(0, c.memN));
    }
  }
  const col = <K extends 'id' | 'start' | 'end'>(k: K) => b64(concat(parts.map((p) => p[k]), (n) => new Float64Array(n)));
  const t = concat(memT, (n) => new Float64Array(n));
  return {
    reset,
    from,
    to: store.to,
    tables: tables.delta(cursor),
    n: parts.reduce((a, p) => a + p.n, 0),
    cols: {
      id: col('id'), start: col('start'), end: col('end'),
      sig: b64(concat(parts.map((p) => p.sig), (n) => new Uint32Array(n))),
      layer: b64(concat(parts.map((p) => p.layer), (n) => new Uint32Array(n))),
      lane: b64(concat(parts.map((p) => p.lane), (n) => new Uint16Array(n))),
    },
    memN: t.length,
    mem: { t: b64(t), live: b64(concat(memLive, (n) => new Float64Array(n))) },
  };
}
