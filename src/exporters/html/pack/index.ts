/**
 * Packs a Trace into the columnar form an HTML report embeds (see ../format.ts).
 * Spans are grouped into flame rows (lane = device + thread, row = nesting depth in that lane) and laid out row
 * after row in start order, so the page can binary-search a row for the visible time range. Everything a span shares
 * with others of its kind (name, shapes, dtype, FLOPs, bytes) is interned once as a "sig"; a span then costs a start
 * (f64), a duration (f32), a sig index and a layer index.
 *
 * The parts: spans.ts (one pass over the span objects), rows.ts (lanes, rows and the span columns), signatures.ts,
 * memory.ts, counters.ts, meta.ts (the head's facts, findings, generation, passes) and pointers.ts (spans a view
 * points at).
 */
import type { Span, Trace } from '../../../core/model/trace';
import { OP_CATEGORIES, OP_CATEGORY_LABELS } from '../../../core/model/categories';
import { KIND_CODES, type Head } from '../format';
import { Interner, num, str, type AddColumn, type PackedColumn } from './common';
import { packCounters, type PackedCounters } from './counters';
import { packMemory, type PackedMemory } from './memory';
import { packAdvice, packGeneration, packHeadMeta, packPasses } from './meta';
import { readAdvice, readGeneration } from '../../../core/model/meta';
import { PointedSpans } from './pointers';
import { layoutRows } from './rows';
import { scanSpans, SpanScanner, type SpanScan } from './spans';
import { aggregate } from '../../../core/analysis/aggregate';

export type { PackedColumn } from './common';
export { MEMORY_POINT_CAP } from './memory';
export { COUNTER_POINT_CAP, COUNTER_TRACK_CAP } from './counters';

export interface PackedTrace {
  head: Head;
  columns: PackedColumn[];
}

export function packTrace(trace: Trace): PackedTrace {
  let strings = new Interner();
  const spans: Span[] = Array.isArray(trace.spans) ? trace.spans : [];
  const meta = (trace.meta ?? {}) as Trace['meta'];
  const advice = packAdvice(readAdvice(meta));
  const generation = packGeneration(readGeneration(meta));
  let pointed = new PointedSpans(advice, generation !== null);
  // The scan rides on the busy-time aggregation's pass over the spans; on input that pass cannot read, or when the
  // scan's layer index is not exact, the scan runs again on its own.
  const scanner = new SpanScanner(spans, strings, pointed);
  const busy = busyOf(trace, scanner.visit);
  let scan = scanner.finish();
  if (scan === null) {
    strings = new Interner();
    pointed = new PointedSpans(advice, generation !== null);
    scan = scanSpans(spans, strings, pointed);
  }
  const rows = layoutRows(scan, pointed.any);

  const columns: PackedColumn[] = [];
  const col: AddColumn = (id, type, data) => columns.push({ desc: { id, type, length: data.length }, data });
  const sc = rows.columns;
  col('start', 'f64', sc.start);
  col('dur', 'f32', sc.dur);
  col('sig', sc.sig.type, sc.sig.data);
  col('layer', sc.layer.type, sc.layer.data);
  scan.sigs.addColumns(col);
  if (sc.pass) col('pass', sc.pass.type, sc.pass.data);
  const mem = packMemory(trace);
  if (mem) {
    col('memT', 'f64', mem.t);
    col('memLive', 'f64', mem.live);
  }
  const counters = packCounters(trace);
  if (counters) {
    col('counterT', 'f64', counters.t);
    col('counterV', 'f64', counters.v);
  }
  if (rows.posOfV) pointed.resolve(rows.posOfV, advice, generation, col);

  const passes = packPasses(scan.passes);
  const { t0, t1 } = timeRange(scan, mem, counters);
  const head: Head = {
    v: 1,
    name: str(trace.name, 'trace'),
    dropped: num(trace.dropped) ?? 0,
    skipped: scan.skipped,
    meta: packHeadMeta(meta, passes !== null),
    advice: advice.findings,
    adviceRan: readAdvice(meta) !== null,
    generation,
    passes,
    busy,
    counters: counters ? counters.heads : [],
    strings: strings.list,
    t0,
    t1,
    spanCount: scan.n,
    kinds: KIND_CODES,
    categories: OP_CATEGORIES.map((id) => ({ id, label: OP_CATEGORY_LABELS[id] })),
    lanes: rows.lanes,
    rowLane: rows.rowLane,
    rowDepth: rows.rowDepth,
    rowOffset: rows.rowOffset,
    sigCount: scan.sigs.size,
    layers: scan.layers.list,
    memory: mem ? mem.head : null,
    columns: columns.map((c) => c.desc),
  };
  return { head, columns };
}

/** Busy time over the measured passes, as the terminal report and statistics compute it; null for input it cannot read. */
function busyOf(trace: Trace, onSpan: (s: Span) => void): Head['busy'] {
  try {
    const agg = aggregate(trace, { by: [], passes: 'measured', rows: false, onSpan });
    return { ns: agg.busy.ns, coveredNs: agg.coveredNs };
  } catch {
    return null;
  }
}

/** The spans' time range; without spans, the memory curve's, else the counters'. */
function timeRange(scan: SpanScan, mem: PackedMemory | null, counters: PackedCounters | null): { t0: number; t1: number } {
  if (scan.n > 0) return { t0: scan.t0, t1: scan.t1 };
  if (mem) return { t0: mem.t[0], t1: mem.t[mem.t.length - 1] };
  if (counters) {
    let t0 = Infinity, t1 = -Infinity;
    for (const c of counters.heads) {
      t0 = Math.min(t0, counters.t[c.offset]);
      t1 = Math.max(t1, counters.t[c.offset + c.count - 1]);
    }
    return { t0, t1 };
  }
  return { t0: 0, t1: 0 };
}
