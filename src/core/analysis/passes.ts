/**
 * Passes and their sample statistics: which spans belong to which measured pass of profile(fn, { passes, warmup }),
 * and count/mean/p50/p95/min/max/std of per-pass samples. Pure functions of a Trace (markPasses marks spans).
 */
import { childrenIndex, type Span, type Trace } from '../model/trace';

/** Summary of a set of samples (one per measured pass). */
export interface SummaryStats {
  /** Samples: measured passes. */
  n: number;
  mean: number;
  /** Percentiles with linear interpolation between closest ranks (numpy's default). */
  p50: number;
  p95: number;
  min: number;
  max: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for a single sample. */
  std: number;
}

/**
 * count/mean/p50/p95/min/max/std of `values`. All zeros for no values, so results stay finite
 * (saveTrace rejects NaN in meta).
 */
export function summarize(values: ArrayLike<number>): SummaryStats {
  const n = values.length;
  if (n === 0) return { n: 0, mean: 0, p50: 0, p95: 0, min: 0, max: 0, std: 0 };
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (sorted[i] - mean) ** 2;
  return {
    n,
    mean,
    p50: percentileSorted(sorted, 0.5),
    p95: percentileSorted(sorted, 0.95),
    min: sorted[0],
    max: sorted[n - 1],
    std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
  };
}

/** Percentile q (0..1) of ascending samples, interpolating linearly between ranks. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const pos = (n - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Gives each pass span (a user span with attrs.pass), and everything beneath it, the pass number and warm-up flag. */
export function markPasses(trace: Trace): void {
  const kids = childrenIndex(trace);
  const mark = (s: Span, pass: number, warm: boolean) => {
    s.pass = pass;
    s.warmup = warm;
    for (const k of kids.get(s.id) ?? []) mark(k, pass, warm);
  };
  for (const s of trace.spans) {
    if (s.kind === 'user' && typeof s.attrs?.pass === 'number') mark(s, s.attrs.pass, !!s.attrs.warmup);
  }
}

/** Which spans count, and in which slot: the measured passes of a multi-pass profile, or the whole trace as one. */
export interface PassLayout {
  /** True when spans carry `pass` (profile with passes + warmup > 1). */
  multiPass: boolean;
  /** Measured pass numbers, ascending (empty when !multiPass). */
  measured: number[];
  /** Warm-up pass numbers, ascending. */
  warmup: number[];
  /** Slots to spread samples over: measured.length, or 1 for a trace without passes. */
  slots: number;
  /** Slot of a span (index into measured), or -1 for spans outside the measured passes (warm-up, or no pass). */
  slotOf(s: Span): number;
  /** The pass spans (user spans that profile() opened per pass), by slot; empty when there are none. */
  passSpans: Span[];
}

/** The passes of a trace. A trace without `pass` marks is one pass holding every span. */
export function passLayout(trace: Trace): PassLayout {
  const passes = new PassTracker();
  // An indexed loop: a for-of over a million spans can run with an iterator result per span.
  const spans = trace.spans;
  for (let i = 0; i < spans.length; i++) passes.codeOf(spans[i]);
  return passes.layout();
}

/**
 * The passes met so far in one pass over the spans, and a code for each span that says where it counts, for a
 * reader that sums per slot before it knows the slots (aggregate). Until the first span with a pass number every
 * span has code 0: a trace without passes is one slot. That span makes the trace multi-pass (`multiPass` turns
 * true, and what was counted before it is to be dropped: those spans lie outside the measured passes); from then
 * on a span of a measured pass has the code of its pass, numbered by first appearance, and every other span -1.
 * `layout()` and `slotOfCode()` then turn codes into slots.
 */
export class PassTracker {
  multiPass = false;
  /** Measured pass numbers by code, in order of first appearance. */
  private readonly passOfCode: number[] = [];
  private readonly codeOfPass = new Map<number, number>();
  private readonly warm = new Set<number>();
  // profile() opens one top-level user span per pass, with the pass number in attrs: the candidates, in trace order.
  private readonly candidates: Span[] = [];
  // Neighbouring spans mostly share a pass: the last pass's code answers a run of them without a lookup.
  private lastPass = NaN;
  private lastCode = -1;

  /** The code of the next span of the trace. */
  codeOf(s: Span): number {
    const pass = s.pass;
    if (typeof pass !== 'number') return this.multiPass ? -1 : 0;
    this.multiPass = true;
    if (s.kind === 'user' && !s.warmup && s.attrs?.pass === pass) this.candidates.push(s);
    if (s.warmup) {
      this.warm.add(pass);
      return -1;
    }
    if (pass === this.lastPass) return this.lastCode;
    let code = this.codeOfPass.get(pass);
    if (code === undefined) {
      code = this.passOfCode.length;
      this.passOfCode.push(pass);
      this.codeOfPass.set(pass, code);
    }
    this.lastPass = pass;
    this.lastCode = code;
    return code;
  }

  /** The layout of the passes met. */
  layout(): PassLayout {
    if (!this.multiPass) return { multiPass: false, measured: [], warmup: [], slots: 1, slotOf: () => 0, passSpans: [] };
    const measured = [...this.passOfCode].sort((x, y) => x - y);
    const warmup = [...this.warm].sort((x, y) => x - y);
    const slot = new Map<number, number>();
    measured.forEach((p, i) => slot.set(p, i));
    const passSpans: Span[] = [];
    for (const s of this.candidates) {
      const i = slot.get(s.pass!);
      if (i !== undefined && passSpans[i] === undefined) passSpans[i] = s;
    }
    const complete = passSpans.length === measured.length && passSpans.every(Boolean);
    return {
      multiPass: true,
      measured,
      warmup,
      slots: Math.max(1, measured.length),
      slotOf: slotFinder(measured, slot),
      passSpans: complete ? passSpans : [],
    };
  }

  /** The slot of each code, given the layout. */
  slotOfCode(layout: PassLayout): Int32Array {
    if (!this.multiPass) return Int32Array.of(0);
    const slot = new Map<number, number>();
    layout.measured.forEach((p, i) => slot.set(p, i));
    return Int32Array.from(this.passOfCode, (p) => slot.get(p)!);
  }
}

/**
 * The slot of a span: its index among the measured passes, or -1. Pass numbers are small non-negative integers
 * (profile() counts them from 0), looked up in an array; any other number goes through the map.
 */
function slotFinder(measured: number[], slot: Map<number, number>): (s: Span) => number {
  const max = measured[measured.length - 1];
  const small = measured.every((p) => Number.isInteger(p) && p >= 0) && max < 65_536;
  if (!small) return (s) => (typeof s.pass === 'number' && !s.warmup ? slot.get(s.pass) ?? -1 : -1);
  const table = new Int32Array(max + 1).fill(-1);
  measured.forEach((p, i) => (table[p] = i));
  return (s) => {
    const p = s.pass;
    if (typeof p !== 'number' || s.warmup) return -1;
    return p >= 0 && p <= max && (p | 0) === p ? table[p] : -1;
  };
}
