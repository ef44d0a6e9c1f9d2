/**
 * The one aggregation every table reads (as torch's key_averages() and FunctionEventAvg.add()): primitives
 * grouped by a key made of op / layer / shapes / device, summed per pass slot, plus the trace-wide totals that
 * every "% of" column divides by: busy time and coverage (busy.ts). The terminal report, pass statistics, compare
 * and the advisor all call it. One pass over the spans does the grouping, the totals and the busy time.
 */
import type { Device, Span, Trace } from '../model/trace';
import { layerResolver } from '../model/span-facts';
import { BusyTime, Doubles, MAX_DEPTH } from './busy';
import { passLayout, type PassLayout } from './passes';
import { RowTable } from './row-table';

export { shapeSignature } from './row-table';

export type AggregateKey = 'op' | 'layer' | 'shapes' | 'device';

export interface AggregateOptions {
  /** The fields of a row's key, e.g. ['op'], ['layer'], ['layer', 'op', 'shapes']. */
  by: readonly AggregateKey[];
  /**
   * 'measured': the measured passes of a multi-pass trace, one slot per pass (warm-up and spans outside the
   * passes left out; a trace without passes is one slot). 'all': every span, in one slot. @default 'all'
   */
  passes?: 'measured' | 'all';
  /**
   * false: only the time totals (counts, busy time, coverage); `rows` and `uncosted` stay empty, and the
   * primitives' costs and tensors are not read. @default true
   */
  rows?: boolean;
  /**
   * Called with every primitive counted (in a measured pass, with 'measured'), in trace order, during the one
   * pass over the spans: a caller indexes the primitives its own way without a pass of its own.
   */
  onPrimitive?: (s: Span) => void;
  /**
   * Called with every element of trace.spans, whatever its kind or pass, in order, before the pass looks at it:
   * a reader that copies the spans its own way shares the one pass over them.
   */
  onSpan?: (s: Span) => void;
}

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

/** Group the primitives of `trace` by opts.by and total them, with the busy time they are measured against. */
export function aggregate(trace: Trace, opts: AggregateOptions): Aggregation {
  const layout = opts.passes === 'measured' ? passLayout(trace) : ALL_IN_ONE;
  const slots = layout.slots;
  const slotOf = layout.slotOf;
  const table = opts.rows === false ? null : new RowTable(opts.by, slots);
  const layerOf = table?.byLayer ? layerResolver(trace) : null;
  const busyTime = new BusyTime(slots, trace.spans.length);
  // Every non-primitive span by id, for the parent walks of evals and of primitives' owners.
  const hosts = new Map<number, Span>();
  const evals: Span[] = [];
  const primitive = slotTotal(slots);
  let primitiveCount = 0;
  const uncosted = new Set<string>();
  let lastUncosted: string | undefined;
  const visit = opts.onPrimitive;
  const each = opts.onSpan;
  const spans = trace.spans;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (each) each(s);
    if (s.kind !== 'primitive') {
      hosts.set(s.id, s);
      if (s.kind === 'eval') evals.push(s);
      continue;
    }
    const slot = slotOf(s);
    if (slot < 0) continue;
    const d = s.end - s.start;
    primitiveCount++;
    primitive.slotNs[slot] += d;
    if (table && s.flops == null && s.name !== lastUncosted) uncosted.add((lastUncosted = s.name));
    busyTime.addPrimitive(s, slot);
    table?.add(s, i, slot, d, layerOf ? layerOf(s) : '');
    if (visit) visit(s);
  }
  sumSlots(primitive);

  const evalT = slotTotal(slots);
  let evalCount = 0;
  for (const s of evals) {
    const slot = slotOf(s);
    if (slot < 0 || !isTopEval(s, hosts)) continue;
    evalCount++;
    evalT.slotNs[slot] += s.end - s.start;
  }
  sumSlots(evalT);

  const unordered = new Map<number, [Float64Array, Float64Array]>();
  for (const slot of busyTime.slotsOutOfOrder()) unordered.set(slot, primitivesOfSlot(spans, slotOf, slot));
  const done = busyTime.finish(hosts, slotOf, unordered);
  const busy: SlotTotal = { ns: 0, slotNs: done.busy };
  sumSlots(busy);
  return {
    layout, slots, rows: table ? table.rows(spans) : [], primitiveCount, primitive, evalCount, eval: evalT,
    forcingCount: done.forcingCount, busy, coveredNs: done.coveredNs, uncosted: [...uncosted].sort(),
  };
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
function isTopEval(s: Span, hosts: Map<number, Span>): boolean {
  let p = s.parentId != null ? hosts.get(s.parentId) : undefined;
  for (let guard = 0; p && guard < MAX_DEPTH; guard++) {
    if (p.kind === 'eval') return false;
    p = p.parentId != null ? hosts.get(p.parentId) : undefined;
  }
  return true;
}

/** Starts and ends (at least the start) of one slot's primitives, in trace order. */
function primitivesOfSlot(spans: readonly Span[], slotOf: (s: Span) => number, slot: number): [Float64Array, Float64Array] {
  const st = new Doubles();
  const en = new Doubles();
  for (const s of spans) {
    if (s.kind !== 'primitive' || slotOf(s) !== slot) continue;
    st.push(s.start);
    en.push(Math.max(s.start, s.end));
  }
  return [st.a.subarray(0, st.n), en.a.subarray(0, en.n)];
}
