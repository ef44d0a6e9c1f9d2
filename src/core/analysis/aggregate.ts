/**
 * The one aggregation every table reads (as torch's key_averages() and FunctionEventAvg.add()): primitives
 * grouped by a key made of op / layer / shapes / device, summed per pass slot, plus the trace-wide totals that
 * every "% of" column divides by: busy time and coverage (busy.ts). The terminal report, pass statistics, compare
 * and the advisor all call it. One pass over the spans does the grouping, the totals and the busy time.
 */
import type { Device, Span, Trace } from '../model/trace';
import { isForcing, layerResolver } from '../model/span-facts';
import { BusyTime, Doubles, MAX_DEPTH } from './busy';
import { PassTracker, type PassLayout } from './passes';
import { SpanById } from './span-by-id';
import { grown, RowTable } from './row-table';

export { shapeSignature } from './row-table';

export type AggregateKey = 'op' | 'layer' | 'shapes' | 'device';

interface CommonOptions {
  /** The fields of a row's key, e.g. ['op'], ['layer'], ['layer', 'op', 'shapes']. */
  by: readonly AggregateKey[];
  /**
   * false: only the time totals (counts, busy time, coverage); `rows` and `uncosted` stay empty, and the
   * primitives' costs and tensors are not read. @default true
   */
  rows?: boolean;
  /**
   * Called with every element of trace.spans, whatever its kind or pass, in order, before the pass looks at it:
   * a reader that copies the spans its own way shares the one pass over them.
   */
  onSpan?: (s: Span) => void;
}

/**
 * `passes`: 'measured': the measured passes of a multi-pass trace, one slot per pass (warm-up and spans outside
 * the passes left out; a trace without passes is one slot). 'all': every span, in one slot. @default 'all'
 */
export type AggregateOptions =
  | (CommonOptions & {
      passes?: 'all';
      /**
       * Called with every primitive, in trace order, during the one pass over the spans: a caller indexes the
       * primitives its own way without a pass of its own. (Not with 'measured': which primitives count is known
       * only once the pass has met the first span with a pass number.)
       */
      onPrimitive?: (s: Span) => void;
    })
  | (CommonOptions & { passes: 'measured' | 'all'; onPrimitive?: never });

/** One row: the primitives that share a key. */
export interface AggregateRow {
  /** The key's fields joined by U+0000 (which names do not contain), in the order of `by`. */
  key: string;
  /** The fields; '' for fields not in the key. */
  op: string;
  layer: string;
  device: string;
  /** The row's first primitive: with 'shapes' in the key, its inputs and outputs stand for the row's. */
  sample: Span;
  calls: number;
  totalNs: number;
  /** totalNs per slot. */
  slotNs: Float64Array;
  /** Known FLOPs, the time of the primitives that have them (the base of FLOP/s), and how many do. */
  flops: number;
  flopsNs: number;
  costed: number;
  /** Known bytes moved, the time of the primitives that have them, and how many do. */
  bytes: number;
  bytesNs: number;
  bytesKnown: number;
  /** FLOPs and bytes over primitives with both known (the base of arithmetic intensity). */
  intensityFlops: number;
  intensityBytes: number;
  /** Bytes of the outputs the row's primitives produce: the memory they allocate. */
  outputBytes: number;
  devices: Set<Device>;
}

/** A total per slot and its sum. */
export interface SlotTotal {
  ns: number;
  slotNs: Float64Array;
}

export interface Aggregation {
  layout: PassLayout;
  slots: number;
  /** Rows in the order their first primitive appears in the trace. */
  rows: AggregateRow[];
  primitiveCount: number;
  primitive: SlotTotal;
  /** Top-level eval spans (evals nested in evals count once, by the outer one): count and wall time. */
  evalCount: number;
  eval: SlotTotal;
  /** Eval, asyncEval and sync spans counted in busy time. */
  forcingCount: number;
  /** The denominator of every "% of" column: see busy.ts. */
  busy: SlotTotal;
  /** Time inside busy time with a primitive running; coverage is coveredNs / busy.ns. */
  coveredNs: number;
  /** Names of primitives without a cost (flops null), sorted. */
  uncosted: string[];
}

/**
 * Group the primitives of `trace` by opts.by and total them, with the busy time they are measured against, in one
 * pass over the spans. With 'measured' the slots are not known until the pass has met every pass number, so the
 * sums are kept per pass code (PassTracker) and put in slot order at the end.
 */
export function aggregate(trace: Trace, opts: AggregateOptions): Aggregation {
  const measured = opts.passes === 'measured';
  const passes = new PassTracker();
  const layerOf = opts.rows !== false && opts.by.includes('layer') ? layerResolver(trace) : null;
  // Every non-primitive span by id, for the parent walks of evals and of primitives' owners.
  const hosts = new SpanById();
  const spans = trace.spans;
  let sums = new Sums(opts, hosts, measured);
  const visit = opts.onPrimitive;
  const each = opts.onSpan;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (each) each(s);
    const code = measured ? passes.codeOf(s) : 0;
    // The first span with a pass: what was counted before it lies outside the measured passes.
    if (passes.multiPass && sums.beforePasses) sums = new Sums(opts, hosts, false);
    if (s.kind !== 'primitive') {
      hosts.add(s);
      if (code >= 0 && isForcing(s)) sums.busyTime.addForcing(s, code);
      continue;
    }
    if (code < 0) continue;
    sums.addPrimitive(s, i, code, layerOf);
    if (visit) visit(s);
  }
  const layout = measured ? passes.layout() : ALL_IN_ONE;
  return sums.finish(spans, layout, passes.slotOfCode(layout));
}

/**
 * What the pass counts, by pass code: made again (empty) when the trace turns out to have passes, since what it
 * counted before the first pass mark is outside them.
 */
class Sums {
  readonly busyTime: BusyTime;
  private readonly table: RowTable | null;
  private primitiveNs = new Float64Array(1);
  private primitiveCount = 0;
  private readonly uncosted = new Set<string>();
  private lastUncosted: string | undefined = undefined;

  /** `beforePasses`: made before any span with a pass was met, in a pass that looks for them. */
  constructor(opts: AggregateOptions, private readonly hosts: SpanById, readonly beforePasses: boolean) {
    this.table = opts.rows === false ? null : new RowTable(opts.by);
    this.busyTime = new BusyTime(hosts);
  }

  addPrimitive(s: Span, index: number, code: number, layerOf: ((s: Span) => string) | null): void {
    const d = s.end - s.start;
    this.primitiveCount++;
    if (code >= this.primitiveNs.length) this.primitiveNs = grown(this.primitiveNs, 2 * code + 2);
    this.primitiveNs[code] += d;
    const table = this.table;
    if (table !== null) {
      if (s.flops == null && s.name !== this.lastUncosted) this.uncosted.add((this.lastUncosted = s.name));
      table.add(s, index, code, d, layerOf ? layerOf(s) : '');
    }
    this.busyTime.addPrimitive(s, code);
  }

  finish(spans: readonly Span[], layout: PassLayout, slotOfCode: Int32Array): Aggregation {
    const slots = layout.slots;
    const inSlots = (perCode: Float64Array): SlotTotal => {
      const t = slotTotal(slots);
      for (let c = 0; c < slotOfCode.length && c < perCode.length; c++) t.slotNs[slotOfCode[c]] = perCode[c];
      sumSlots(t);
      return t;
    };
    const { forcing, forcingCode } = this.busyTime;
    const evalT = slotTotal(slots);
    let evalCount = 0;
    for (let k = 0; k < forcing.length; k++) {
      const s = forcing[k];
      if (s.kind !== 'eval' || !isTopEval(s, this.hosts)) continue;
      evalCount++;
      evalT.slotNs[slotOfCode[forcingCode[k]]] += s.end - s.start;
    }
    sumSlots(evalT);

    const codes = this.busyTime.codesToRebuild();
    const rebuild = primitivesOf(spans, layout.slotOf, codes, slotOfCode);
    const done = this.busyTime.finish(slotOfCode.length, rebuild);
    return {
      layout, slots, rows: this.table ? this.table.rows(spans, slotOfCode, slots) : [], primitiveCount: this.primitiveCount,
      primitive: inSlots(this.primitiveNs), evalCount, eval: evalT, forcingCount: done.forcingCount, busy: inSlots(done.busy),
      coveredNs: done.coveredNs, uncosted: [...this.uncosted].sort(),
    };
  }
}

/** Share of busy time: what every "% of" column shows (NaN when there is no busy time). */
export function busyShare(ns: number, busyNs: number): number {
  return busyNs > 0 ? ns / busyNs : NaN;
}

const ALL_IN_ONE: PassLayout = { multiPass: false, measured: [], warmup: [], slots: 1, slotOf: () => 0, passSpans: [] };

function slotTotal(slots: number): SlotTotal {
  return { ns: 0, slotNs: new Float64Array(slots) };
}

function sumSlots(t: SlotTotal): void {
  let ns = 0;
  for (let i = 0; i < t.slotNs.length; i++) ns += t.slotNs[i];
  t.ns = ns;
}

/** True for evals that no other eval encloses. */
function isTopEval(s: Span, hosts: SpanById): boolean {
  let p = s.parentId != null ? hosts.get(s.parentId) : undefined;
  for (let guard = 0; p && guard < MAX_DEPTH; guard++) {
    if (p.kind === 'eval') return false;
    p = p.parentId != null ? hosts.get(p.parentId) : undefined;
  }
  return true;
}

/** Starts and ends (at least the start) of the primitives of some codes, by code, in trace order: one pass over the spans. */
function primitivesOf(spans: readonly Span[], slotOf: (s: Span) => number, codes: number[], slotOfCode: Int32Array): Map<number, [Float64Array, Float64Array]> {
  const out = new Map<number, [Float64Array, Float64Array]>();
  if (codes.length === 0) return out;
  const lists = new Map<number, [Doubles, Doubles]>();
  for (const code of codes) lists.set(slotOfCode[code], [new Doubles(), new Doubles()]);
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (s.kind !== 'primitive') continue;
    const l = lists.get(slotOf(s));
    if (l === undefined) continue;
    l[0].push(s.start);
    l[1].push(Math.max(s.start, s.end));
  }
  for (const code of codes) {
    const [st, en] = lists.get(slotOfCode[code])!;
    out.set(code, [st.a.subarray(0, st.n), en.a.subarray(0, en.n)]);
  }
  return out;
}
