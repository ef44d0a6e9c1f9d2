/**
 * The window's primitives for a page. A page holds at most LiveOptions.pagePrimitives of them: the newest, every one that
 * ended since a cut time, and every other span; its op and layer tables count every primitive of the window from
 * sums by signature, layer and lane made here, so what the page is not sent is still in its tables and in the saves.
 * A chunk's sums are made once, when it is packed; a window's are the sums of its chunks' (per primitive only in
 * the chunk at its start).
 */
import type { PrimitiveGroups } from './protocol';
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

/** What a page is sent of the window's primitives: the cut, how many the window has, and their sums. */
export interface WindowPrimitives {
  cut: number;
  count: number;
  groups: PrimitiveGroups;
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
  let count = 0, cut = from;
  for (let k = store.chunks.length - 1; k >= 0; k--) {
    const st = store.chunks[k];
    if (st.tEnd < from) break;
    const p = (st.packed ??= tables.packChunk(store, st));
    if (p.unresolved) tables.resolveLayers(store, st, p);
    const part = p.primEndMin >= from ? p.groups : sumGroups(p, from);
    let n = 0;
    for (let r = 0; r < part.n; r++) {
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
  return { cut, count, groups: { sig: Array.from(done.sig), layer: Array.from(done.layer), lane: Array.from(done.lane), calls: Array.from(done.calls), total: Array.from(done.total) } };
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

