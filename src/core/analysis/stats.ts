/**
 * Multi-pass statistics: what profile(fn, { passes, warmup }) measured, per op or per layer, as count, mean, p50,
 * p95, min, max and std over the measured passes. Warm-up passes stay in the trace but are left out here.
 * Pure functions of a Trace; nothing is written into it (withPassStats returns a copy). The numbers come from the
 * one aggregation (aggregate.ts); the terminal table is exporters/terminal/pass-stats.ts.
 */
import type { Trace } from '../model/trace';
import { aggregate } from './aggregate';
import { summarize, type SummaryStats } from './passes';

export { summarize, percentileSorted, markPasses, passLayout } from './passes';
export type { SummaryStats, PassLayout } from './passes';
export { NO_LAYER } from '../model/span-facts';

export type PassStatsGroupBy = 'op' | 'layer';

export interface PassStatsOptions {
  /** One row per primitive op name, or per layer (time of the primitives the layer built). @default 'op' */
  groupBy?: PassStatsGroupBy;
}

export interface PassStatsRow {
  /** Op name ('Matmul') or layer ('layers.0.mlp (MLP)', the layer that built the primitives: span-facts layerOf). */
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
  /** Busy time per pass (evals, asyncEval work, sync points: the denominator of every "% of" column), ns. */
  busy: SummaryStats;
  /** Primitive time per pass, ns. */
  primitive: SummaryStats;
  /** Time a primitive ran inside busy time, over busy time (0..1; 0 without busy time: meta holds no NaN). */
  coverage: number;
  /** Rows by mean time per pass, largest first (ties by key). */
  rows: PassStatsRow[];
}

/**
 * Per-pass statistics of a trace, per op or per layer. A row's sample for a pass is the total time of its
 * primitives in that pass (0 when it did not run in that pass). A trace without passes counts as one pass.
 */
export function passStats(trace: Trace, opts: PassStatsOptions = {}): PassStats {
  const groupBy = opts.groupBy ?? 'op';
  if (groupBy !== 'op' && groupBy !== 'layer') throw new Error(`unknown groupBy ${JSON.stringify(groupBy)} (use op, layer)`);
  const agg = aggregate(trace, { by: [groupBy], passes: 'measured' });
  const { layout, slots: n } = agg;
  const rows: PassStatsRow[] = agg.rows.map((a) => {
    const time = summarize(a.slotNs);
    const calls = a.calls / n;
    return { key: groupBy === 'op' ? a.op : a.layer, calls, time, perCallNs: calls > 0 ? time.mean / calls : 0, flops: a.flops / n, bytes: a.bytes / n };
  });
  rows.sort((x, y) => y.time.mean - x.time.mean || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return {
    groupBy,
    passes: layout.multiPass ? layout.measured.length : 1,
    warmup: layout.warmup.length,
    pass: layout.passSpans.length ? summarize(layout.passSpans.map((s) => s.end - s.start)) : null,
    eval: summarize(agg.eval.slotNs),
    busy: summarize(agg.busy.slotNs),
    primitive: summarize(agg.primitive.slotNs),
    coverage: agg.busy.ns > 0 ? agg.coveredNs / agg.busy.ns : 0,
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
