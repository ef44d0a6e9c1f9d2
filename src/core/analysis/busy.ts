/**
 * Busy time and coverage, fed one primitive at a time by the aggregation's single pass over the spans.
 *
 * Busy time is the time that forces MLX to run work: eval spans, each asyncEval until the work it launched has
 * finished (its span, stretched to the end of the last primitive it owns, its nearest forcing ancestor), sync
 * points (item(), tolist()), and the primitives themselves (a primitive runs only because something forced it, so
 * it lies inside busy time even when the recorder gave it the wrong owner). It is the union of those intervals, so
 * nested or overlapping spans count once. Coverage is the time inside busy time during which some primitive ran.
 *
 * Primitives mostly arrive in start order: then their union is built as they arrive, as disjoint runs, and the few
 * forcing spans are merged into those runs at the end. A slot whose primitives arrive out of order is computed
 * again from its primitives, sorted.
 */
import type { Span } from '../model/trace';
import { isForcing } from '../model/span-facts';

/** Guard for parent walks: a cycle in bad data must not hang a view. */
export const MAX_DEPTH = 10_000;

/** A growable list of doubles: appending allocates only when the capacity doubles. */
export class Doubles {
  a: Float64Array;
  n = 0;
  constructor(capacity = 256) {
    this.a = new Float64Array(capacity);
  }
  push(x: number): void {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = x;
  }
}

/** One slot's primitives as disjoint runs in time order, built while they arrive in start order. */
class SlotRuns {
  readonly lo: Doubles;
  readonly hi: Doubles;
  ns = 0;
  /** The run still open, and the start of the last primitive added. */
  private runLo = 0;
  private runHi = 0;
  private lastStart = -Infinity;
  private open = false;
  /** Set when a primitive starts before the one added last: the runs are then rebuilt from sorted intervals. */
  outOfOrder = false;

  /** `capacity`: the runs expected (at most the slot's primitives), so that the lists rarely grow. */
  constructor(capacity: number) {
    this.lo = new Doubles(capacity);
    this.hi = new Doubles(capacity);
  }

  add(start: number, end: number): void {
    if (start < this.lastStart) this.outOfOrder = true;
    if (this.outOfOrder) return;
    this.lastStart = start;
    if (!this.open) {
      this.runLo = start;
      this.runHi = end;
      this.open = true;
    } else if (start > this.runHi) {
      this.close();
      this.runLo = start;
      this.runHi = end;
    } else if (end > this.runHi) this.runHi = end;
  }

  /** Closes the open run; after it the runs are complete. */
  finish(): void {
    if (this.open && !this.outOfOrder) this.close();
    this.open = false;
  }

  private close(): void {
    this.lo.push(this.runLo);
    this.hi.push(this.runHi);
    this.ns += this.runHi - this.runLo;
  }

  /**
   * The runs of intervals in any order: both arrays are sorted in place, separately. At any time the intervals
   * open are the starts before it minus the ends before it, so the runs follow from the two sorted lists
   * (typed-array sorts, no comparator per interval).
   */
  rebuild(starts: Float64Array, ends: Float64Array): void {
    starts.sort();
    ends.sort();
    this.lo.n = this.hi.n = 0;
    this.ns = 0;
    const n = starts.length;
    let open = 0;
    let runStart = 0;
    for (let i = 0, j = 0; j < n; ) {
      if (i < n && starts[i] <= ends[j]) {
        if (open++ === 0) runStart = starts[i];
        i++;
      } else {
        if (--open === 0) {
          this.lo.push(runStart);
          this.hi.push(ends[j]);
          this.ns += ends[j] - runStart;
        }
        j++;
      }
    }
    this.outOfOrder = false;
  }
}

export class BusyTime {
  private readonly runs: SlotRuns[] = [];
  /** Runs of consecutive primitives with one parent: the parent and the latest end among them. */
  private readonly ownerParent: number[] = [];
  private readonly ownerEnd = new Doubles(64);
  private lastParent: number | null = null;

  /** `spans`: the trace's span count, which bounds the primitives and so the runs of every slot together. */
  constructor(slots: number, spans: number) {
    const capacity = Math.max(16, Math.ceil(spans / slots));
    for (let i = 0; i < slots; i++) this.runs.push(new SlotRuns(capacity));
  }

  addPrimitive(s: Span, slot: number): void {
    const end = Math.max(s.start, s.end);
    this.runs[slot].add(s.start, end);
    // Primitives of one eval come together: their owner is looked up once per run of them, at the end.
    const parent = s.parentId;
    if (parent == null) {
      this.lastParent = null;
      return;
    }
    const k = this.ownerEnd.n - 1;
    if (parent === this.lastParent) {
      if (end > this.ownerEnd.a[k]) this.ownerEnd.a[k] = end;
    } else {
      this.ownerParent.push(parent);
      this.ownerEnd.push(end);
      this.lastParent = parent;
    }
  }

  /** Slots whose primitives came out of start order: the caller hands their intervals to `finish`. */
  slotsOutOfOrder(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.runs.length; i++) if (this.runs[i].outOfOrder) out.push(i);
    return out;
  }

  /**
   * Busy time per slot and the time covered by primitives, given every non-primitive span by id (`hosts`), the
   * slot of a span, and the intervals of the primitives of the slots out of order (ends already at least starts).
   */
  finish(
    hosts: Map<number, Span>,
    slotOf: (s: Span) => number,
    unordered: Map<number, [Float64Array, Float64Array]>,
  ): { busy: Float64Array; coveredNs: number; forcingCount: number } {
    const index = new Map<number, number>();
    const starts: number[] = [];
    const ends: number[] = [];
    const slotOfForcing: number[] = [];
    for (const s of hosts.values()) {
      if (!isForcing(s)) continue;
      const slot = slotOf(s);
      if (slot < 0) continue;
      index.set(s.id, starts.length);
      starts.push(s.start);
      ends.push(Math.max(s.start, s.end));
      slotOfForcing.push(slot);
    }
    // An asyncEval's work finishes after the call returns: stretch each forcing span to its primitives' end.
    for (let k = 0; k < this.ownerParent.length; k++) {
      const owner = ownerOf(this.ownerParent[k], hosts, index);
      if (owner >= 0 && this.ownerEnd.a[k] > ends[owner]) ends[owner] = this.ownerEnd.a[k];
    }
    const busy = new Float64Array(this.runs.length);
    let coveredNs = 0;
    for (let slot = 0; slot < this.runs.length; slot++) {
      const runs = this.runs[slot];
      const got = unordered.get(slot);
      if (got) runs.rebuild(got[0], got[1]);
      else runs.finish();
      // Every primitive lies inside busy time, so the time a primitive ran is the union of the primitives.
      coveredNs += runs.ns;
      const st: number[] = [];
      const en: number[] = [];
      for (let k = 0; k < starts.length; k++) {
        if (slotOfForcing[k] !== slot) continue;
        st.push(starts[k]);
        en.push(ends[k]);
      }
      busy[slot] = unionWithRuns(runs, st, en);
    }
    return { busy, coveredNs, forcingCount: starts.length };
  }
}

/** The index of the nearest forcing span at or above `parent`, or -1. */
function ownerOf(parent: number, hosts: Map<number, Span>, index: Map<number, number>): number {
  let p = hosts.get(parent);
  for (let guard = 0; p && guard < MAX_DEPTH; guard++) {
    if (isForcing(p)) return index.get(p.id) ?? -1;
    p = p.parentId != null ? hosts.get(p.parentId) : undefined;
  }
  return -1;
}

/**
 * The length of the union of disjoint runs in time order and some more intervals in any order: the extra
 * intervals (forcing spans: far fewer than primitives) are put in start order and merged into the runs' order,
 * so the runs themselves are never sorted again.
 */
function unionWithRuns(runs: SlotRuns, starts: number[], ends: number[]): number {
  const order = Array.from(starts.keys()).sort((a, b) => starts[a] - starts[b]);
  const rlo = runs.lo.a;
  const rhi = runs.hi.a;
  const n = runs.lo.n;
  const k = order.length;
  let ns = 0;
  let lo = 0;
  let hi = 0;
  let open = false;
  for (let i = 0, j = 0; i < n || j < k; ) {
    let s: number, e: number;
    if (j >= k || (i < n && rlo[i] <= starts[order[j]])) {
      s = rlo[i];
      e = rhi[i++];
    } else {
      s = starts[order[j]];
      e = Math.max(s, ends[order[j++]]);
    }
    if (!open) {
      lo = s;
      hi = e;
      open = true;
    } else if (s > hi) {
      ns += hi - lo;
      lo = s;
      hi = e;
    } else if (e > hi) hi = e;
  }
  return open ? ns + (hi - lo) : 0;
}
