/**
 * The one aggregation every table reads (as torch's key_averages() and FunctionEventAvg.add()): primitives
 * grouped by a key made of op / layer / shapes / device, summed per pass slot, plus the trace-wide totals that
 * every "% of" column divides by. The terminal report, pass statistics, compare and the advisor all call it.
 *
 * Busy time is the time that forces MLX to run work: eval spans, each asyncEval until the work it launched has
 * finished (its span, stretched to the end of the last primitive it owns), sync points (item(), tolist()), and
 * the primitives themselves. It is the union of those intervals, so nested or overlapping spans count once.
 * Coverage is the time inside busy time during which some primitive ran, over busy time: never above 100 %.
 */
import type { Device, Span, Trace } from '../model/trace';
import { isForcing, layerResolver } from '../model/span-facts';
import { passLayout, type PassLayout } from './passes';

export type AggregateKey = 'op' | 'layer' | 'shapes' | 'device';

export interface AggregateOptions {
  /** The fields of a row's key, e.g. ['op'], ['layer'], ['layer', 'op', 'shapes']. */
  by: readonly AggregateKey[];
  /**
   * 'measured': the measured passes of a multi-pass trace, one slot per pass (warm-up and spans outside the
   * passes left out; a trace without passes is one slot). 'all': every span, in one slot. @default 'all'
   */
  passes?: 'measured' | 'all';
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
  /** The denominator of every "% of" column: see the file comment. */
  busy: SlotTotal;
  /** Time inside busy time with a primitive running; coverage is coveredNs / busy.ns. */
  coveredNs: number;
  /** Names of primitives without a cost (flops null), sorted. */
  uncosted: string[];
}

/** Guard for parent walks: a cycle in bad data must not hang a view. */
const MAX_DEPTH = 10_000;

/** Group the primitives of `trace` by opts.by and total them, with the busy time they are measured against. */
export function aggregate(trace: Trace, opts: AggregateOptions): Aggregation {
  const layout = opts.passes === 'measured' ? passLayout(trace) : ALL_IN_ONE;
  const slots = layout.slots;
  const by = new Set(opts.by);
  const byOp = by.has('op'), byLayer = by.has('layer'), byShapes = by.has('shapes'), byDevice = by.has('device');
  const layerOf = layerResolver(trace);
  const hosts = new Map<number, Span>();
  for (const s of trace.spans) if (s.kind !== 'primitive') hosts.set(s.id, s);

  // Rows are found without building a string per span: maps keyed by the span's own strings, then an integer
  // hash of the shapes with an exact check on collision. Row keys are made once per row.
  const rows: AggregateRow[] = [];
  const tree = new Map<string, Map<string, Map<string, Map<number, AggregateRow[]>>>>();
  // A key of one text field (the report's and statistics' common case) is one Map lookup; the last row is
  // remembered, since neighbouring primitives often share it.
  const single = !byShapes && Number(byOp) + Number(byLayer) + Number(byDevice) <= 1;
  const flat = new Map<string, AggregateRow>();
  let lastText: string | undefined;
  let lastRow: AggregateRow | undefined;
  const find = (s: Span, layer: string): AggregateRow => {
    if (single) {
      const text = byOp ? s.name : byLayer ? layer : byDevice ? s.device : '';
      if (text === lastText && lastRow) return lastRow;
      let r = flat.get(text);
      if (!r) {
        r = newRow(opts.by, byOp ? text : '', byLayer ? text : '', byDevice ? text : '', s, slots);
        flat.set(text, r);
        rows.push(r);
      }
      lastText = text;
      lastRow = r;
      return r;
    }
    const op = byOp ? s.name : '';
    const device = byDevice ? s.device : '';
    let l2 = tree.get(layer);
    if (!l2) tree.set(layer, (l2 = new Map()));
    let l3 = l2.get(op);
    if (!l3) l2.set(op, (l3 = new Map()));
    let l4 = l3.get(device);
    if (!l4) l3.set(device, (l4 = new Map()));
    const h = byShapes ? shapeHash(s) : 0;
    let list = l4.get(h);
    if (!list) l4.set(h, (list = []));
    for (let i = 0; i < list.length; i++) if (!byShapes || sameShapes(list[i].sample, s)) return list[i];
    const r = newRow(opts.by, op, layer, device, s, slots);
    list.push(r);
    rows.push(r);
    return r;
  };

  const forcing = new ForcingSpans(hosts, layout, trace.spans.length);
  const primitive = slotTotal(slots);
  const evalT = slotTotal(slots);
  let primitiveCount = 0;
  let evalCount = 0;
  const uncosted = new Set<string>();
  for (const s of trace.spans) {
    const slot = layout.slotOf(s);
    if (slot < 0) continue;
    const d = s.end - s.start;
    if (s.kind === 'primitive') {
      primitiveCount++;
      primitive.slotNs[slot] += d;
      if (s.flops == null) uncosted.add(s.name);
      forcing.addPrimitive(s, slot);
      addPrimitive(find(s, byLayer ? layerOf(s) : ''), s, slot, d);
    } else if (s.kind === 'eval' && isTopEval(s, hosts)) {
      evalCount++;
      evalT.slotNs[slot] += d;
    }
  }
  sumSlots(primitive);
  sumSlots(evalT);
  const { busy, coveredNs } = forcing.finish();
  return {
    layout, slots, rows, primitiveCount, primitive, evalCount, eval: evalT, forcingCount: forcing.count, busy, coveredNs,
    uncosted: [...uncosted].sort(),
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

function newRow(by: readonly AggregateKey[], op: string, layer: string, device: string, sample: Span, slots: number): AggregateRow {
  const parts = by.map((k) => (k === 'op' ? op : k === 'layer' ? layer : k === 'device' ? device : shapeSignature(sample)));
  return {
    key: parts.join('\u0000'), op, layer, device, sample, calls: 0, totalNs: 0, slotNs: new Float64Array(slots),
    flops: 0, flopsNs: 0, costed: 0, bytes: 0, bytesNs: 0, bytesKnown: 0, intensityFlops: 0, intensityBytes: 0,
    outputBytes: 0, devices: new Set(),
  };
}

/** FunctionEventAvg.add: one primitive into its row. */
function addPrimitive(r: AggregateRow, s: Span, slot: number, d: number): void {
  r.calls++;
  r.totalNs += d;
  r.slotNs[slot] += d;
  r.devices.add(s.device);
  if (s.flops != null) {
    r.flops += s.flops;
    r.flopsNs += d;
    r.costed++;
  }
  if (s.bytes != null) {
    r.bytes += s.bytes;
    r.bytesNs += d;
    r.bytesKnown++;
  }
  if (s.flops != null && s.bytes != null) {
    r.intensityFlops += s.flops;
    r.intensityBytes += s.bytes;
  }
  const outs = s.outputs;
  if (outs) for (let i = 0; i < outs.length; i++) r.outputBytes += outs[i].bytes;
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

/**
 * Busy time and coverage. Each forcing span's interval runs from its start to the later of its end and the end of
 * the last primitive it owns (its nearest forcing ancestor): an asyncEval's work finishes after the call returns.
 * Every primitive's own interval counts too (a primitive runs only because something forced it), so a primitive
 * is inside busy time even when the recorder gave it the wrong owner.
 */
class ForcingSpans {
  count = 0;
  private readonly index = new Map<number, number>();
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly slotOf: number[] = [];
  /** Primitive intervals and slots, in trace order; sized for every span so adding allocates nothing. */
  private readonly primStart: Float64Array;
  private readonly primEnd: Float64Array;
  private readonly primSlot: Int32Array;
  private prims = 0;
  private lastParent: number | null = null;
  private lastOwner = -1;

  constructor(
    private readonly hosts: Map<number, Span>,
    private readonly layout: PassLayout,
    spanCount: number,
  ) {
    for (const s of hosts.values()) {
      if (!isForcing(s)) continue;
      const slot = layout.slotOf(s);
      if (slot < 0) continue;
      this.index.set(s.id, this.starts.length);
      this.starts.push(s.start);
      this.ends.push(Math.max(s.start, s.end));
      this.slotOf.push(slot);
    }
    this.count = this.starts.length;
    this.primStart = new Float64Array(spanCount);
    this.primEnd = new Float64Array(spanCount);
    this.primSlot = new Int32Array(layout.slots > 1 ? spanCount : 0);
  }

  addPrimitive(s: Span, slot: number): void {
    const end = Math.max(s.start, s.end);
    const k = this.prims++;
    this.primStart[k] = s.start;
    this.primEnd[k] = end;
    if (this.primSlot.length) this.primSlot[k] = slot;
    // Primitives of one eval come together: look the owner up once per run of them.
    let owner = this.lastOwner;
    if (s.parentId !== this.lastParent || s.parentId == null) {
      owner = this.ownerOf(s);
      this.lastParent = s.parentId;
      this.lastOwner = owner;
    }
    if (owner >= 0 && end > this.ends[owner]) this.ends[owner] = end;
  }

  private ownerOf(s: Span): number {
    let p = s.parentId != null ? this.hosts.get(s.parentId) : undefined;
    for (let guard = 0; p && guard < MAX_DEPTH; guard++) {
      if (isForcing(p)) return this.index.get(p.id) ?? -1;
      p = p.parentId != null ? this.hosts.get(p.parentId) : undefined;
    }
    return -1;
  }

  finish(): { busy: SlotTotal; coveredNs: number } {
    const slots = this.layout.slots;
    const busy = slotTotal(slots);
    let coveredNs = 0;
    const bySlot = this.primsBySlot();
    for (let slot = 0; slot < slots; slot++) {
      const [ps, pe] = bySlot[slot];
      // Every primitive lies inside busy time, so the time a primitive ran is the union of the primitives.
      const prims = union(ps, pe);
      coveredNs += prims.ns;
      // Busy time: the primitives' runs (few) and the forcing spans of this slot, merged.
      const st: number[] = prims.lo.slice();
      const en: number[] = prims.hi.slice();
      for (let k = 0; k < this.count; k++) {
        if (this.slotOf[k] !== slot) continue;
        st.push(this.starts[k]);
        en.push(this.ends[k]);
      }
      busy.slotNs[slot] = union(Float64Array.from(st), Float64Array.from(en)).ns;
    }
    sumSlots(busy);
    return { busy, coveredNs };
  }

  /** The starts and ends of each slot's primitives: views when there is one slot, else one counting-sort pass. */
  private primsBySlot(): [Float64Array, Float64Array][] {
    const n = this.prims;
    const slots = this.layout.slots;
    if (this.primSlot.length === 0) return [[this.primStart.subarray(0, n), this.primEnd.subarray(0, n)]];
    const offset = new Int32Array(slots + 1);
    for (let k = 0; k < n; k++) offset[this.primSlot[k] + 1]++;
    for (let i = 0; i < slots; i++) offset[i + 1] += offset[i];
    const st = new Float64Array(n);
    const en = new Float64Array(n);
    const fill = offset.slice(0, slots);
    for (let k = 0; k < n; k++) {
      const at = fill[this.primSlot[k]]++;
      st[at] = this.primStart[k];
      en[at] = this.primEnd[k];
    }
    const out: [Float64Array, Float64Array][] = [];
    for (let i = 0; i < slots; i++) out.push([st.subarray(offset[i], offset[i + 1]), en.subarray(offset[i], offset[i + 1])]);
    return out;
  }
}

/** The union of intervals already in start order (ends paired with their starts). */
function unionInOrder(starts: Float64Array, ends: Float64Array): Runs {
  const out: Runs = { lo: [], hi: [], ns: 0 };
  const n = starts.length;
  if (n === 0) return out;
  let lo = starts[0];
  let hi = ends[0];
  for (let i = 1; i < n; i++) {
    if (starts[i] > hi) {
      out.lo.push(lo);
      out.hi.push(hi);
      out.ns += hi - lo;
      lo = starts[i];
      hi = ends[i];
    } else if (ends[i] > hi) hi = ends[i];
  }
  out.lo.push(lo);
  out.hi.push(hi);
  out.ns += hi - lo;
  return out;
}

function isAscending(a: Float64Array): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] < a[i - 1]) return false;
  return true;
}

/** Disjoint runs in time order. */
interface Runs {
  lo: number[];
  hi: number[];
  ns: number;
}

/**
 * The union of the intervals [starts[i], ends[i]] (ends[i] >= starts[i]) as disjoint runs. Both arrays are
 * sorted in place, separately: at any time the intervals open are the starts before it minus the ends before
 * it, so the runs follow from the two sorted lists (typed-array sorts, no comparator per interval).
 */
function union(starts: Float64Array, ends: Float64Array): Runs {
  // Recorded primitives mostly come in start order: then one sweep with the pairs as they are.
  if (isAscending(starts)) return unionInOrder(starts, ends);
  starts.sort();
  ends.sort();
  const out: Runs = { lo: [], hi: [], ns: 0 };
  const n = starts.length;
  let open = 0;
  let runStart = 0;
  let i = 0;
  let j = 0;
  while (j < n) {
    if (i < n && starts[i] <= ends[j]) {
      if (open++ === 0) runStart = starts[i];
      i++;
    } else {
      if (--open === 0) {
        out.lo.push(runStart);
        out.hi.push(ends[j]);
        out.ns += ends[j] - runStart;
      }
      j++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Shapes

function shapeList(ts: readonly { shape: number[] }[]): string {
  let s = '';
  for (let i = 0; i < ts.length; i++) {
    const sh = ts[i].shape;
    // A scalar has shape []: 'scalar' keeps '8x64 scalar' readable.
    s += (i ? ' ' : '') + (sh.length ? sh.join('x') : 'scalar');
  }
  return s;
}

/** Readable shape signature of a primitive, inputs then outputs: '8x64 64x64 → 8x64'. */
export function shapeSignature(s: Pick<Span, 'inputs' | 'outputs'>): string {
  return `${shapeList(s.inputs ?? []) || '-'} → ${shapeList(s.outputs ?? []) || '-'}`;
}

/** An integer hash of a span's input and output shapes (counts and dims), for matching rows without strings. */
function shapeHash(s: Span): number {
  // Masked to 30 bits so it stays a small integer for V8 (a larger one is boxed on every Map lookup).
  return hashList(hashList(0x811c9dc5 | 0, s.inputs ?? []), s.outputs ?? []) & 0x3fffffff;
}

function hashList(h: number, list: readonly { shape: number[] }[]): number {
  h = (Math.imul(h, 0x01000193) ^ (list.length + 0x9e37)) | 0;
  for (let i = 0; i < list.length; i++) {
    const sh = list[i].shape;
    h = (Math.imul(h, 0x01000193) ^ (sh.length + 0x3c6e)) | 0;
    for (let k = 0; k < sh.length; k++) h = (Math.imul(h, 0x01000193) ^ sh[k]) | 0;
  }
  return h;
}

function sameShapeList(x: readonly { shape: number[] }[], y: readonly { shape: number[] }[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    const a = x[i].shape;
    const b = y[i].shape;
    if (a === b) continue;
    if (a.length !== b.length) return false;
    for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  }
  return true;
}

const sameShapes = (a: Span, b: Span) => sameShapeList(a.inputs ?? [], b.inputs ?? []) && sameShapeList(a.outputs ?? [], b.outputs ?? []);

