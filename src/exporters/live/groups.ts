/**
 * The window's primitives for a page. A page holds at most LiveOptions.pagePrimitives of them: the newest, every one that
 * ended since a cut time, and every other span; its op and layer tables count every primitive of the window from
 * sums by signature, layer and lane made here, so what the page is not sent is still in its tables and in the saves.
 * A chunk's sums are made once, when it is packed; a window's are the sums of its chunks' (per primitive only in
 * the chunk at its start).
 */
import type { PrimitiveGroups } from './protocol';
import { unionNs } from '../../core/analysis/busy';
import type { LiveTables, PackedChunk } from './batch';
import type { LiveStore } from './store';

/** Primitives summed by signature, layer and lane: `n` rows of calls and total time (ns). */
export interface Groups {
  n: number;
  sig: Uint32Array;
  layer: Uint32Array;
  lane: Uint16Array;
  calls: Float64Array;
  total: Float64Array;
}

/** What a page is sent of the window's primitives: the cut, how many the window has, their sums, and busy time. */
export interface WindowPrimitives {
  cut: number;
  count: number;
  groups: PrimitiveGroups;
  /** The window's busy time (ns) and the primitive time inside it: the base of the page's shares and coverage. */
  busy: { ns: number; coveredNs: number };
}

/** The key of a group: signature, layer and lane numbers in one number (below 2^53 while the tables stay under 2^21, 2^22 and 2^10 entries). */
const groupKey = (sig: number, layer: number, lane: number): number => (sig * 4194304 + layer) * 1024 + lane;

/** Groups of a chunk's primitives that ended at `from` or later. */
export function sumGroups(p: PackedChunk, from: number): Groups {
  const g = new GroupSums();
  for (let i = 0; i < p.prims; i++) if (p.end[i] >= from) g.add(p.sig[i], p.layer[i], p.lane[i], 1, p.end[i] - p.start[i]);
  return g.done();
}

/**
 * The window's primitives for the page: how many there are (ended at `from` or later), their groups, and the
 * cut time from which the page gets every one (`from` when they are at most `budget`, else the end of the
 * budget-th newest). Chunks arrive in time order: read from the newest, the cut is in the chunk where the count
 * passes the budget.
 */
export function windowPrimitives(store: LiveStore, tables: LiveTables, budget: number): WindowPrimitives {
  const from = store.from;
  const g = new GroupSums();
  let count = 0, cut = from, primNs = 0;
  const chunks: PackedChunk[] = [];
  for (let k = store.chunks.length - 1; k >= 0; k--) {
    const st = store.chunks[k];
    if (st.tEnd < from) break;
    const p = (st.packed ??= tables.packChunk(store, st));
    if (p.unresolved) tables.resolveLayers(store, st, p);
    const part = p.primEndMin >= from ? p.groups : sumGroups(p, from);
    chunks.push(p);
    let n = 0;
    for (let r = 0; r < part.n; r++) {
      primNs += part.total[r];
      n += part.calls[r];
      g.add(part.sig[r], part.layer[r], part.lane[r], part.calls[r], part.total[r]);
    }
    if (count < budget && count + n >= budget) {
      // The cut falls in this chunk: the end of the budget-th newest primitive of the window.
      const ends = p.end.slice(0, p.prims).filter((e) => e >= from).sort();
      cut = ends[ends.length - (budget - count)];
    }
    count += n;
  }
  const done = g.done();
  const busyNs = windowBusyNs(chunks, from);
  // Primitives on one thread never overlap: their summed time is the time one ran (a primitive that started before
  // the window counts whole, hence the bound).
  const busy = { ns: busyNs, coveredNs: Math.min(primNs, busyNs) };
  return { cut, count, busy, groups: { sig: Array.from(done.sig), layer: Array.from(done.layer), lane: Array.from(done.lane), calls: Array.from(done.calls), total: Array.from(done.total) } };
}

/**
 * Busy time (core/analysis/busy.ts) of the spans the window holds (those that ended at `from` or later): each eval
 * and sync point stretched to the end of the primitives it owns (an asyncEval's work runs after its span ended), and
 * the primitives whose owner the window does not hold.
 */
function windowBusyNs(chunks: PackedChunk[], from: number): number {
  const ownerEnd = new Map<number, number>();
  for (const p of chunks) {
    const r = p.runs;
    for (let k = 0; k < r.id.length; k++) {
      if (r.id[k] === 0) continue;
      const seen = ownerEnd.get(r.id[k]);
      if (seen === undefined || r.hi[k] > seen) ownerEnd.set(r.id[k], r.hi[k]);
    }
  }
  const lo: number[] = [], hi: number[] = [];
  const held = new Set<number>();
  for (const p of chunks) {
    const f = p.forcing;
    for (let k = 0; k < f.id.length; k++) {
      if (f.hi[k] < from) continue;
      held.add(f.id[k]);
      lo.push(f.lo[k]);
      hi.push(Math.max(f.hi[k], ownerEnd.get(f.id[k]) ?? -Infinity));
    }
  }
  for (const p of chunks) {
    const r = p.runs;
    for (let k = 0; k < r.id.length; k++) {
      if (r.hi[k] < from || held.has(r.id[k])) continue;
      lo.push(r.lo[k]);
      hi.push(r.hi[k]);
    }
  }
  return unionNs(Float64Array.from(lo), Float64Array.from(hi));
}

/** Group rows as they are summed (grown as needed), then cut to their count. */
class GroupSums {
  private n = 0;
  private at = new Map<number, number>();
  sig = new Uint32Array(64);
  layer = new Uint32Array(64);
  lane = new Uint16Array(64);
  calls = new Float64Array(64);
  total = new Float64Array(64);

  /** Adds calls and their total time to the group of a signature, layer and lane. */
  add(sig: number, layer: number, lane: number, calls: number, total: number): void {
    const id = groupKey(sig, layer, lane);
    let k = this.at.get(id);
    if (k === undefined) this.at.set(id, (k = this.row(sig, layer, lane)));
    this.calls[k] += calls;
    this.total[k] += total;
  }

  private row(sig: number, layer: number, lane: number): number {
    if (this.n === this.sig.length) {
      const size = 2 * this.n;
      const grow = <T extends Uint32Array | Uint16Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as new (k: number) => T)(size);
        b.set(a as never);
        return b;
      };
      [this.sig, this.layer, this.lane, this.calls, this.total] = [grow(this.sig), grow(this.layer), grow(this.lane), grow(this.calls), grow(this.total)];
    }
    this.sig[this.n] = sig;
    this.layer[this.n] = layer;
    this.lane[this.n] = lane;
    return this.n++;
  }

  done(): Groups {
    const n = this.n;
    return { n, sig: this.sig.slice(0, n), layer: this.layer.slice(0, n), lane: this.lane.slice(0, n), calls: this.calls.slice(0, n), total: this.total.slice(0, n) };
  }
}

export const NO_GROUPS: Groups = new GroupSums().done();

/** A packed chunk without its primitives that ended before `cut` (the chunk itself when it has none). */
export function fromCut(p: PackedChunk, cut: number): PackedChunk {
  if (p.primEndMin >= cut) return p;
  const keep: number[] = [];
  for (let i = 0; i < p.n; i++) if (i >= p.prims || p.end[i] >= cut) keep.push(i);
  const pick = <T extends Float64Array | Uint32Array | Uint16Array>(a: T): T => {
    const b = new (a.constructor as new (k: number) => T)(keep.length);
    keep.forEach((i, k) => { b[k] = a[i]; });
    return b;
  };
  return { ...p, n: keep.length, prims: keep.length - (p.n - p.prims), primEndMin: cut, id: pick(p.id), start: pick(p.start), end: pick(p.end), sig: pick(p.sig), layer: pick(p.layer), lane: pick(p.lane) };
}

