/**
 * Busy time and coverage, fed one span at a time by the aggregation's single pass over the spans.
 *
 * Busy time is the time that forces MLX to run work: eval spans, each asyncEval until the work it launched has
 * finished (its span, stretched to the end of the last primitive it owns, its nearest forcing ancestor), sync
 * points (item(), tolist()), and the primitives themselves (a primitive runs only because something forced it, so
 * it lies inside busy time even when the recorder gave it the wrong owner). It is the union of those intervals, so
 * nested or overlapping spans count once. Coverage is the time inside busy time during which some primitive ran.
 *
 * Sums are kept per pass code (see PassTracker). Primitives mostly arrive in start order: then the union of a
 * code's primitives is measured as they arrive, and the forcing spans are merged in at the end. A primitive that
 * starts inside its owner, met before it, lies inside the owner's stretched interval, so only the other primitives'
 * runs are kept for that merge. A code whose primitives arrive out of order, or every code when two spans share an
 * id, is computed again from its primitives, sorted.
 */
import type { Span } from '../model/trace';
import { isForcing } from '../model/span-facts';
import type { SpanById } from './span-by-id';

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

/** The union of intervals that arrive in start order: its length, and its disjoint runs when `keep`. */
class Union {
  readonly lo: Doubles | null;
  readonly hi: Doubles | null;
  ns = 0;
  /** The run still open. */
  private runLo = 0;
  private runHi = 0;
  private open = false;

  constructor(keep: boolean) {
    this.lo = keep ? new Doubles(64) : null;
    this.hi = keep ? new Doubles(64) : null;
  }

  add(start: number, end: number): void {
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

  /** Closes the open run; after it the union is complete. */
  finish(): void {
    if (this.open) this.close();
    this.open = false;
  }

  private close(): void {
    this.lo?.push(this.runLo);
    this.hi?.push(this.runHi);
    this.ns += this.runHi - this.runLo;
  }

  /**
   * The union of intervals in any order: both arrays are sorted in place, separately. At any time the intervals
   * open are the starts before it minus the ends before it, so the runs follow from the two sorted lists
   * (typed-array sorts, no comparator per interval).
   */
  rebuild(starts: Float64Array, ends: Float64Array): void {
    starts.sort();
    ends.sort();
    if (this.lo) this.lo.n = this.hi!.n = 0;
    this.ns = 0;
    this.open = false;
    const n = starts.length;
    let open = 0;
    for (let i = 0, j = 0; j < n; ) {
      if (i < n && starts[i] <= ends[j]) {
        if (open++ === 0) this.runLo = starts[i];
        i++;
      } else {
        if (--open === 0) {
          this.runHi = ends[j];
          this.close();
        }
        j++;
      }
    }
  }
}

/** The length of the union of intervals given in any order (both arrays are sorted in place). */
export function unionNs(starts: Float64Array, ends: Float64Array): number {
  const u = new Union(false);
  u.rebuild(starts, ends);
  return u.ns;
}

/** One code's primitives: the union of them all (coverage) and of those not known to lie inside their owner. */
class CodeRuns {
  readonly all = new Union(false);
  readonly kept = new Union(true);
  private lastStart = -Infinity;
  /** Set when a primitive starts before the one added last: the unions are then rebuilt from sorted intervals. */
  outOfOrder = false;

  add(start: number, end: number, inOwner: boolean): void {
    if (start < this.lastStart) this.outOfOrder = true;
    if (this.outOfOrder) return;
    this.lastStart = start;
    this.all.add(start, end);
    if (!inOwner) this.kept.add(start, end);
  }

  finish(): void {
    this.all.finish();
    this.kept.finish();
  }

  rebuild(starts: Float64Array, ends: Float64Array): void {
    this.kept.rebuild(starts, ends);
    this.all.ns = this.kept.ns;
    this.outOfOrder = false;
  }
}

export class BusyTime {
  private readonly runs: CodeRuns[] = [];
  /** Forcing spans (evals, syncs) of the counted passes, in trace order, and their codes. */
  readonly forcing: Span[] = [];
  readonly forcingCode: number[] = [];
  private readonly codeOfForcing = new Map<Span, number>();
  /** Runs of consecutive primitives with one parent: the parent and the latest end among them. */
  private readonly ownerParent: number[] = [];
  private readonly ownerEnd = new Doubles(64);
  private lastParent: number | null = null;
  /** The start of the last parent's owner when it is of the last primitive's code, else Infinity. */
  private ownerStart = Infinity;
  private ownerCode = -1;

  /** `hosts`: the non-primitive spans met so far (the caller adds them as the pass meets them). */
  constructor(private readonly hosts: SpanById) {}

  addForcing(s: Span, code: number): void {
    this.forcing.push(s);
    this.forcingCode.push(code);
    this.codeOfForcing.set(s, code);
  }

  addPrimitive(s: Span, code: number): void {
    const start = s.start;
    const end = Math.max(start, s.end);
    // Primitives of one eval come together: their owner is looked up once per run of them.
    const parent = s.parentId;
    if (parent == null) {
      this.lastParent = null;
      this.ownerCode = -1;
    } else if (parent === this.lastParent) {
      const k = this.ownerEnd.n - 1;
      if (end > this.ownerEnd.a[k]) this.ownerEnd.a[k] = end;
    } else {
      this.ownerParent.push(parent);
      this.ownerEnd.push(end);
      this.lastParent = parent;
      this.ownerMet(parent);
    }
    let runs = this.runs[code];
    if (runs === undefined) {
      while (this.runs.length <= code) this.runs.push(new CodeRuns());
      runs = this.runs[code];
    }
    runs.add(start, end, code === this.ownerCode && start >= this.ownerStart);
  }

  /** The owner of `parent` among the spans met so far: its start and code, or Infinity and -1. */
  private ownerMet(parent: number): void {
    const p = ownerSpan(parent, this.hosts);
    const code = p === undefined ? undefined : this.codeOfForcing.get(p);
    this.ownerStart = code === undefined ? Infinity : p!.start;
    this.ownerCode = code ?? -1;
  }

  /**
   * Codes whose primitives must be handed to `finish`: those that came out of start order, and all when two spans
   * share an id (an owner met earlier may not be the one the walk finds at the end).
   */
  codesToRebuild(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.runs.length; i++) if (this.hosts.repeated || this.runs[i].outOfOrder) out.push(i);
    return out;
  }

  /**
   * Busy time per code and the time covered by primitives, given the intervals of the primitives of the codes to
   * rebuild (ends already at least starts).
   */
  finish(codes: number, rebuild: Map<number, [Float64Array, Float64Array]>): { busy: Float64Array; coveredNs: number; forcingCount: number } {
    const hosts = this.hosts;
    const index = new Map<number, number>();
    const starts: number[] = [];
    const ends: number[] = [];
    const codeOf: number[] = [];
    // The forcing spans as hosts holds them: one per id (the last), each once.
    const counted = new Set<Span>();
    for (let k = 0; k < this.forcing.length; k++) {
      const s = this.forcing[k];
      if (hosts.get(s.id) !== s || counted.has(s)) continue;
      counted.add(s);
      index.set(s.id, starts.length);
      starts.push(s.start);
      ends.push(Math.max(s.start, s.end));
      codeOf.push(this.forcingCode[k]);
    }
    // An asyncEval's work finishes after the call returns: stretch each forcing span to its primitives' end.
    for (let k = 0; k < this.ownerParent.length; k++) {
      const p = ownerSpan(this.ownerParent[k], hosts);
      const owner = p === undefined ? -1 : index.get(p.id) ?? -1;
      if (owner >= 0 && this.ownerEnd.a[k] > ends[owner]) ends[owner] = this.ownerEnd.a[k];
    }
    const busy = new Float64Array(codes);
    let coveredNs = 0;
    for (let code = 0; code < codes; code++) {
      const runs = this.runs[code] ?? new CodeRuns();
      const got = rebuild.get(code);
      if (got) runs.rebuild(got[0], got[1]);
      else runs.finish();
      // Every primitive lies inside busy time, so the time a primitive ran is the union of the primitives.
      coveredNs += runs.all.ns;
      const st: number[] = [];
      const en: number[] = [];
      for (let k = 0; k < starts.length; k++) {
        if (codeOf[k] !== code) continue;
        st.push(starts[k]);
        en.push(ends[k]);
      }
      busy[code] = unionWithRuns(runs.kept, st, en);
    }
    return { busy, coveredNs, forcingCount: starts.length };
  }
}

/** The nearest forcing span at or above `parent`, or undefined. */
function ownerSpan(parent: number, hosts: SpanById): Span | undefined {
  let p = hosts.get(parent);
  for (let guard = 0; p && guard < MAX_DEPTH; guard++) {
    if (isForcing(p)) return p;
    p = p.parentId != null ? hosts.get(p.parentId) : undefined;
  }
  return undefined;
}

/**
 * The length of the union of disjoint runs in time order and some more intervals in any order: the extra
 * intervals (forcing spans: far fewer than primitives) are put in start order and merged into the runs' order,
 * so the runs themselves are never sorted again.
 */
function unionWithRuns(runs: Union, starts: number[], ends: number[]): number {
  const order = Array.from(starts.keys()).sort((a, b) => starts[a] - starts[b]);
  const rlo = runs.lo!.a;
  const rhi = runs.hi!.a;
  const n = runs.lo!.n;
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
