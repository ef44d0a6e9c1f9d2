/**
 * Multi-pass statistics: what profile(fn, { passes, warmup }) measured, per op or per layer, as count, mean, p50,
 * p95, min, max and std over the measured passes. Warm-up passes stay in the trace but are left out here.
 * Pure functions of a Trace; nothing is written into it (withPassStats returns a copy).
 */
import { childrenIndex, type Span, type Trace } from '../model/trace';
import {
  type Colors,
  formatCount,
  formatDuration,
  makeColors,
  noColorRequested,
  padEndVisible,
  padStartVisible,
  terminalWidth,
  truncateMiddle,
  visibleWidth,
} from '../../exporters/terminal/format';

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

// ---------------------------------------------------------------------------------------------------------------
// Passes

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
  const measuredSet = new Set<number>();
  const warmSet = new Set<number>();
  for (const s of trace.spans) {
    if (typeof s.pass !== 'number') continue;
    (s.warmup ? warmSet : measuredSet).add(s.pass);
  }
  if (measuredSet.size === 0 && warmSet.size === 0) {
    return { multiPass: false, measured: [], warmup: [], slots: 1, slotOf: () => 0, passSpans: [] };
  }
  const measured = [...measuredSet].sort((x, y) => x - y);
  const warmup = [...warmSet].sort((x, y) => x - y);
  const slot = new Map<number, number>();
  measured.forEach((p, i) => slot.set(p, i));
  const passSpans: Span[] = [];
  for (const s of trace.spans) {
    // profile() opens one top-level user span per pass, with the pass number in attrs.
    if (s.kind === 'user' && !s.warmup && typeof s.attrs?.pass === 'number' && s.attrs.pass === s.pass) {
      const i = slot.get(s.pass);
      if (i !== undefined && passSpans[i] === undefined) passSpans[i] = s;
    }
  }
  const complete = passSpans.length === measured.length && passSpans.every(Boolean);
  return {
    multiPass: true,
    measured,
    warmup,
    slots: Math.max(1, measured.length),
    slotOf: (s) => (typeof s.pass === 'number' && !s.warmup ? slot.get(s.pass) ?? -1 : -1),
    passSpans: complete ? passSpans : [],
  };
}

/** Row key of primitives no layer built. */
export const NO_LAYER = '(no layer)';

/**
 * Lookups shared by the per-pass readers. Only non-primitive spans go into the id map: primitives are never
 * parents of evals nor layers, and they are most of a trace, so this keeps 100k-span traces cheap.
 */
export interface SpanIndex {
  hosts: Map<number, Span>;
  /** A primitive's layer: its `layer` ('layers.0.mlp (MLP)'), else the name of its layerId span, else '(no layer)'. */
  layerPath(s: Span): string;
  /** True for evals that no other eval encloses (nested evals are counted once, by the outer one). */
  isTopEval(s: Span): boolean;
}

export function spanIndex(trace: Trace): SpanIndex {
  const hosts = new Map<number, Span>();
  for (const s of trace.spans) if (s.kind !== 'primitive') hosts.set(s.id, s);
  const pathCache = new Map<number, string>();
  return {
    hosts,
    layerPath(s) {
      if (typeof s.layer === 'string' && s.layer !== '') return s.layer;
      if (s.layerId == null) return NO_LAYER;
      let p = pathCache.get(s.layerId);
      if (p === undefined) {
        const l = hosts.get(s.layerId);
        // The recorder's `layer` is the layer span's name ('up (Linear)'), so the fallback is that name too.
        p = l && l.kind === 'layer' ? l.name : NO_LAYER;
        pathCache.set(s.layerId, p);
      }
      return p;
    },
    isTopEval(s) {
      let p = s.parentId != null ? hosts.get(s.parentId) : undefined;
      // Bounded walk: a parent cycle in bad data must not hang us.
      for (let guard = 0; p && guard < 10_000; guard++) {
        if (p.kind === 'eval') return false;
        p = p.parentId != null ? hosts.get(p.parentId) : undefined;
      }
      return true;
    },
  };
}

export type PassStatsGroupBy = 'op' | 'layer';

export interface PassStatsOptions {
  /** One row per primitive op name, or per layer (time of the primitives the layer built). @default 'op' */
  groupBy?: PassStatsGroupBy;
}

export interface PassStatsRow {
  /** Op name ('Matmul') or layer ('layers.0.mlp (MLP)', as the recorder names layer spans). */
  key: string;
  /** Primitive calls per measured pass (the mean; programs usually call the same ops every pass). */
  calls: number;
  /** Total time of the row's primitives in each measured pass, ns. */
  time: SummaryStats;
  /** time.mean / calls (0 when calls is 0). */
  perCallNs: number;
  /** Known FLOPs and bytes per pass (the mean; primitives without a cost add nothing). */
  flops: number;
  bytes: number;
}

export interface PassStats {
  groupBy: PassStatsGroupBy;
  /** Measured passes the statistics are over, and warm-up passes left out. */
  passes: number;
  warmup: number;
  /** Wall time of the pass spans profile() opened, ns; null when the trace has no pass spans. */
  pass: SummaryStats | null;
  /** Top-level eval time per pass, ns. */
  eval: SummaryStats;
  /** Primitive time per pass, ns. */
  primitive: SummaryStats;
  /** Rows by mean time per pass, largest first (ties by key). */
  rows: PassStatsRow[];
}

/**
 * One walk over the measured spans: top-level eval time and primitive time per pass slot, and each measured
 * primitive handed to `onPrimitive` with its slot and duration (passStats and compareTraces group them).
 */
export function perPassTotals(
  trace: Trace,
  layout: PassLayout,
  idx: SpanIndex,
  onPrimitive: (s: Span, slot: number, durNs: number) => void,
): { evalNs: Float64Array; primNs: Float64Array } {
  const evalNs = new Float64Array(layout.slots);
  const primNs = new Float64Array(layout.slots);
  for (const s of trace.spans) {
    if (s.kind !== 'primitive' && s.kind !== 'eval') continue;
    const slot = layout.slotOf(s);
    if (slot < 0) continue;
    const d = s.end - s.start;
    if (s.kind === 'eval') {
      if (idx.isTopEval(s)) evalNs[slot] += d;
      continue;
    }
    primNs[slot] += d;
    onPrimitive(s, slot, d);
  }
  return { evalNs, primNs };
}

/**
 * Per-pass statistics of a trace, per op or per layer. A row's sample for a pass is the total time of its
 * primitives in that pass (0 when it did not run in that pass). A trace without passes counts as one pass.
 */
export function passStats(trace: Trace, opts: PassStatsOptions = {}): PassStats {
  const groupBy = opts.groupBy ?? 'op';
  if (groupBy !== 'op' && groupBy !== 'layer') throw new Error(`unknown groupBy ${JSON.stringify(groupBy)} (use op, layer)`);
  const layout = passLayout(trace);
  const idx = spanIndex(trace);
  const n = layout.slots;
  interface Acc { time: Float64Array; calls: number; flops: number; bytes: number }
  const groups = new Map<string, Acc>();
  const { evalNs, primNs } = perPassTotals(trace, layout, idx, (s, slot, d) => {
    const key = groupBy === 'op' ? s.name : idx.layerPath(s);
    let a = groups.get(key);
    if (!a) groups.set(key, (a = { time: new Float64Array(n), calls: 0, flops: 0, bytes: 0 }));
    a.time[slot] += d;
    a.calls++;
    if (s.flops != null) a.flops += s.flops;
    if (s.bytes != null) a.bytes += s.bytes;
  });
  const rows: PassStatsRow[] = [];
  for (const [key, a] of groups) {
    const time = summarize(a.time);
    const calls = a.calls / n;
    rows.push({ key, calls, time, perCallNs: calls > 0 ? time.mean / calls : 0, flops: a.flops / n, bytes: a.bytes / n });
  }
  rows.sort((x, y) => y.time.mean - x.time.mean || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return {
    groupBy,
    passes: layout.multiPass ? layout.measured.length : 1,
    warmup: layout.warmup.length,
    pass: layout.passSpans.length ? summarize(layout.passSpans.map((s) => s.end - s.start)) : null,
    eval: summarize(evalNs),
    primitive: summarize(primNs),
    rows,
  };
}

/**
 * A copy of the trace with `meta.passStats = { op, layer }` for the dashboard; spans and memory are shared, not
 * copied. The input trace is not changed.
 */
export function withPassStats(trace: Trace): Trace {
  return {
    ...trace,
    meta: { ...trace.meta, passStats: { op: passStats(trace, { groupBy: 'op' }), layer: passStats(trace, { groupBy: 'layer' }) } },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Terminal text

export interface FormatPassStatsOptions {
  /** @default 'op' */
  groupBy?: PassStatsGroupBy;
  /** Rows shown. @default 10 */
  top?: number;
  /** Characters per line. @default the terminal's width on a TTY, else 100 */
  width?: number;
  /** ANSI color; never on when NO_COLOR is set. @default false */
  color?: boolean;
}

const STAT_COLS: { title: string; pick: (s: SummaryStats) => number; priority: number }[] = [
  { title: 'mean', pick: (s) => s.mean, priority: 10 },
  { title: 'p50', pick: (s) => s.p50, priority: 7 },
  { title: 'p95', pick: (s) => s.p95, priority: 8 },
  { title: 'min', pick: (s) => s.min, priority: 5 },
  { title: 'max', pick: (s) => s.max, priority: 6 },
  { title: 'std', pick: (s) => s.std, priority: 9 },
];

/**
 * Lines for the terminal report: the pass totals and a per-op (or per-layer) table of per-pass time statistics.
 * Empty when the trace was not profiled with passes, so the report can append it unconditionally.
 */
export function formatPassStats(trace: Trace, opts: FormatPassStatsOptions = {}): string[] {
  if (!passLayout(trace).multiPass) return [];
  const st = passStats(trace, { groupBy: opts.groupBy ?? 'op' });
  const width = Math.max(40, Math.floor(opts.width ?? terminalWidth(process.stdout, 100)));
  const top = Math.max(0, Math.floor(opts.top ?? 10));
  const c: Colors = makeColors(opts.color === true && !noColorRequested());

  const out: string[] = [];
  const head = `Pass statistics over ${st.passes} measured ${st.passes === 1 ? 'pass' : 'passes'}`;
  const warm = st.warmup > 0 ? `(${st.warmup} warm-up ${st.warmup === 1 ? 'pass' : 'passes'} left out)` : '';
  if (!warm) out.push(c.bold(truncateMiddle(head, width)));
  else if (head.length + 1 + warm.length <= width) out.push(c.bold(`${head} ${warm}`));
  else out.push(c.bold(truncateMiddle(head, width)), truncateMiddle(warm, width));

  // Totals and rows share one table: 'calls' is per pass; time columns are per-pass totals.
  type Line = { name: string; calls: string; s: SummaryStats; bold?: boolean };
  const lines: Line[] = [];
  if (st.pass) lines.push({ name: 'pass (wall)', calls: '', s: st.pass, bold: true });
  lines.push({ name: 'eval', calls: '', s: st.eval, bold: true });
  lines.push({ name: 'primitives', calls: '', s: st.primitive, bold: true });
  const shown = st.rows.slice(0, top);
  for (const r of shown) lines.push({ name: r.key, calls: formatCalls(r.calls), s: r.time });

  let cols = [{ title: 'calls/pass', priority: 4, cell: (l: Line) => l.calls }, ...STAT_COLS.map((k) => ({ title: k.title, priority: k.priority, cell: (l: Line) => formatDuration(k.pick(l.s)) }))];
  const GAP = '  ';
  const widthsOf = () => cols.map((col) => Math.max(col.title.length, ...lines.map((l) => visibleWidth(col.cell(l)))));
  let widths = widthsOf();
  const longest = Math.max(st.groupBy.length, ...lines.map((l) => [...l.name].length));
  const used = () => widths.reduce((a, w) => a + w + GAP.length, 0);
  while (cols.length > 1 && used() + Math.min(12, longest) > width) {
    let drop = 0;
    cols.forEach((col, i) => {
      if (col.priority < cols[drop].priority) drop = i;
    });
    cols = cols.filter((_, i) => i !== drop);
    widths = widthsOf();
  }
  const nameWidth = Math.max(4, Math.min(longest, width - used()));
  const row = (name: string, cells: string[]) => padEndVisible(name, nameWidth) + cells.map((x, i) => GAP + padStartVisible(x, widths[i])).join('');
  out.push(c.bold(row(st.groupBy, cols.map((col) => col.title))));
  out.push(c.dim('-'.repeat(Math.min(width, nameWidth + used()))));
  for (const l of lines) {
    const text = row(truncateMiddle(l.name, nameWidth), cols.map((col) => col.cell(l)));
    out.push(l.bold ? c.bold(text) : text);
  }
  if (st.rows.length > shown.length) out.push(c.dim(`... ${formatCount(st.rows.length - shown.length)} more ${st.groupBy === 'op' ? 'ops' : 'layers'}`));
  return out;
}

function formatCalls(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : n.toFixed(1);
}
