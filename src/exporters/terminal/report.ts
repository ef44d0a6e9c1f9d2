/**
 * The terminal report: the table people read first, after torch.profiler's key_averages().table().
 * summarizeReport() does the arithmetic on the plain trace; formatReport() lays it out for a terminal width;
 * printReport() writes it to stdout. Nothing here knows about MLX beyond the trace model.
 */
import { reportSections } from './sections';
import { describeCeilings } from '../../core/cost/calibrate';
import { unknownFlopsReason } from '../../core/cost';
import type { Device, Span, Trace } from '../../core/model/trace';
import { traceProblem } from '../../core/model/checks';
import { layerOf } from '../../core/model/span-facts';
import { CORE_WAIT_NOTE_SHARE, readCoreWait } from '../../core/model/meta';
import { aggregate, busyShare, type AggregateRow } from '../../core/analysis/aggregate';
import {
  type Colors,
  formatCount,
  formatDuration,
  formatPercent,
  formatSig,
  makeColors,
  noColorRequested,
  padEndVisible,
  padStartVisible,
  shouldColor,
  terminalWidth,
  fitLayerName,
  printable,
  truncateMiddle,
  visibleWidth,
  wrapText,
} from './format';

export type ReportSortBy = 'total' | 'self' | 'mean' | 'calls' | 'compute' | 'flops' | 'name';
export type ReportGroupBy = 'op' | 'layer' | 'device';

export interface ReportOptions {
  /**
   * Column to sort rows by; 'name' sorts A-Z, the others largest first. 'compute' is the time of the primitives
   * a row accounts for (for layers: the primitives the layer built; 'total' is then graph-building wall time).
   * @default 'compute' for groupBy 'layer', else 'total'
   */
  sortBy?: ReportSortBy;
  /** One row per primitive op name, per layer (the layer that built the primitives) or per device. @default 'op' */
  groupBy?: ReportGroupBy;
  /** Rows shown; the rest are counted in a footer line. @default 20 */
  top?: number;
  /** Characters per line. @default process.stdout.columns on a TTY, else 100 */
  width?: number;
  /** ANSI color. Never on when NO_COLOR is set. @default false for formatReport, stdout.isTTY for printReport */
  color?: boolean;
  /** Add the advisor's findings (trace.meta.advice if present, else advise(trace)). @default false */
  advice?: boolean;
}

/** One row of the table, in raw units (ns, FLOP, bytes). */
export interface ReportRow {
  key: string;
  /** Spans in the row: primitives for 'op' and 'device', layer calls (forward passes) for 'layer'. */
  calls: number;
  /** Wall time: primitive time for 'op'/'device', layer wall time for 'layer'. */
  totalNs: number;
  /** totalNs minus time of child spans (child layers, for 'layer'). */
  selfNs: number;
  /** totalNs / calls (NaN when calls is 0). */
  meanNs: number;
  /** Primitive time the row accounts for: equal to totalNs for 'op'/'device'; for 'layer', time of the primitives it built. */
  computeNs: number;
  /** computeNs / busy time (aggregate.ts; NaN when the trace has no busy time). */
  busyFraction: number;
  /** Primitives in the row, and how many of them have a cost (flops not null). */
  primitives: number;
  /** Sum of known flops, and the time of the primitives whose flops are known (the base of FLOP/s). */
  flops: number;
  flopsNs: number;
  /** Sum of known bytes, and the time of the primitives whose bytes are known (the base of B/s). */
  bytes: number;
  bytesNs: number;
  /** FLOP/s over primitives with known flops (NaN when none). */
  flopsPerSec: number;
  /** Bytes/s over primitives with known bytes (NaN when none). */
  bytesPerSec: number;
  /** FLOP per byte over primitives with both known (NaN when none). */
  intensity: number;
  devices: Device[];
}

export interface ReportSummary {
  name: string;
  groupBy: ReportGroupBy;
  sortBy: ReportSortBy;
  timing: string;
  fallbackReason?: string;
  /** Top-level eval spans (evals nested in evals are counted once, by the outer one). */
  evalCount: number;
  evalNs: number;
  /** Eval, asyncEval and sync spans, and busy time: the union of their intervals (aggregate.ts). */
  forcingCount: number;
  busyNs: number;
  primitiveCount: number;
  primitiveNs: number;
  /** Time a primitive ran inside busy time, over busy time (0..1). NaN without busy time. */
  coverage: number;
  /** ns MLX's threads waited for a CPU core while runnable (trace meta, Linux); undefined when unknown. */
  coreWaitNs?: number;
  dropped: number;
  /** Primitive names with flops === null, sorted. */
  uncosted: string[];
  /** All rows, sorted; formatReport shows the first `top`. */
  rows: ReportRow[];
}

export const SORT_KEYS: readonly ReportSortBy[] = ['total', 'self', 'mean', 'calls', 'compute', 'flops', 'name'];
export const GROUP_KEYS: readonly ReportGroupBy[] = ['op', 'layer', 'device'];

/** A report row from an aggregate row; for 'op' and 'device' the primitives are the row's calls. */
function toRow(a: AggregateRow | undefined, key: string, busyNs: number, layerWall?: LayerWall): ReportRow {
  const computeNs = a?.totalNs ?? 0;
  const calls = layerWall ? layerWall.calls : a?.calls ?? 0;
  const totalNs = layerWall ? layerWall.totalNs : computeNs;
  const devices = new Set<Device>(a?.devices);
  for (const d of layerWall?.devices ?? []) devices.add(d);
  return {
    key,
    calls,
    totalNs,
    selfNs: layerWall ? layerWall.selfNs : computeNs,
    meanNs: calls > 0 ? totalNs / calls : NaN,
    computeNs,
    busyFraction: busyShare(computeNs, busyNs),
    primitives: a?.calls ?? 0,
    flops: a?.flops ?? 0,
    flopsNs: a?.flopsNs ?? 0,
    bytes: a?.bytes ?? 0,
    bytesNs: a?.bytesNs ?? 0,
    flopsPerSec: a && a.flopsNs > 0 ? a.flops / (a.flopsNs / 1e9) : NaN,
    bytesPerSec: a && a.bytesNs > 0 ? a.bytes / (a.bytesNs / 1e9) : NaN,
    intensity: a && a.intensityBytes > 0 ? a.intensityFlops / a.intensityBytes : NaN,
    devices: [...devices].sort(),
  };
}

/** Layer spans of one row: forward calls, wall time, and wall time minus child layers. */
interface LayerWall {
  calls: number;
  totalNs: number;
  selfNs: number;
  devices: Set<Device>;
}

/** Wall time of the layer spans, by layer (span-facts layerOf: a layer span is its own layer). */
function layerWalls(trace: Trace): Map<string, LayerWall> {
  const layers = new Map<number, Span>();
  for (const s of trace.spans) if (s.kind === 'layer') layers.set(s.id, s);
  // Only child layers count against a layer's self time: layers have no other timed children.
  const childNs = new Map<number, number>();
  for (const s of layers.values()) {
    if (s.parentId != null && layers.has(s.parentId)) childNs.set(s.parentId, (childNs.get(s.parentId) ?? 0) + (s.end - s.start));
  }
  const out = new Map<string, LayerWall>();
  for (const s of layers.values()) {
    const key = layerOf(s);
    let w = out.get(key);
    if (!w) out.set(key, (w = { calls: 0, totalNs: 0, selfNs: 0, devices: new Set() }));
    const d = s.end - s.start;
    w.calls++;
    w.totalNs += d;
    w.selfNs += Math.max(0, d - (childNs.get(s.id) ?? 0));
    w.devices.add(s.device);
  }
  return out;
}

/** Group, sum and sort: the numbers behind the table. Throws on input that is not a trace (formatReport does not). */
export function summarizeReport(trace: Trace, opts: ReportOptions = {}): ReportSummary {
  const problem = traceProblem(trace);
  if (problem) throw new Error(problem);
  const groupBy = opts.groupBy ?? 'op';
  const sortBy = opts.sortBy ?? (groupBy === 'layer' ? 'compute' : 'total');
  if (!GROUP_KEYS.includes(groupBy)) throw new Error(`unknown groupBy ${JSON.stringify(groupBy)} (use ${GROUP_KEYS.join(', ')})`);
  if (!SORT_KEYS.includes(sortBy)) throw new Error(`unknown sortBy ${JSON.stringify(sortBy)} (use ${SORT_KEYS.join(', ')})`);

  const agg = aggregate(trace, { by: [groupBy] });
  const busyNs = agg.busy.ns;
  const keyOf = (a: AggregateRow) => (groupBy === 'op' ? a.op : groupBy === 'layer' ? a.layer : a.device);
  let rows: ReportRow[];
  if (groupBy === 'layer') {
    const walls = layerWalls(trace);
    const byKey = new Map(agg.rows.map((a) => [a.layer, a]));
    const keys = new Set<string>([...byKey.keys(), ...walls.keys()]);
    rows = [...keys].map((k) => toRow(byKey.get(k), k, busyNs, walls.get(k) ?? { calls: 0, totalNs: 0, selfNs: 0, devices: new Set() }));
  } else {
    rows = agg.rows.map((a) => toRow(a, keyOf(a), busyNs));
  }
  rows.sort(rowComparator(sortBy));

  return {
    name: trace.name,
    groupBy,
    sortBy,
    timing: String(trace.meta?.timing ?? 'unknown'),
    fallbackReason: trace.meta?.fallbackReason,
    evalCount: agg.evalCount,
    evalNs: agg.eval.ns,
    forcingCount: agg.forcingCount,
    busyNs,
    primitiveCount: agg.primitiveCount,
    primitiveNs: agg.primitive.ns,
    coverage: busyNs > 0 ? agg.coveredNs / busyNs : NaN,
    coreWaitNs: readCoreWait(trace.meta) ?? undefined,
    dropped: typeof trace.dropped === 'number' ? trace.dropped : 0,
    uncosted: agg.uncosted,
    rows,
  };
}

function rowComparator(sortBy: ReportSortBy): (a: ReportRow, b: ReportRow) => number {
  const byName = (a: ReportRow, b: ReportRow) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const num = (a: number) => (Number.isNaN(a) ? -Infinity : a);
  const desc = (f: (r: ReportRow) => number) => (a: ReportRow, b: ReportRow) => num(f(b)) - num(f(a)) || byName(a, b);
  switch (sortBy) {
    case 'total': return desc((r) => r.totalNs);
    case 'self': return desc((r) => r.selfNs);
    case 'mean': return desc((r) => r.meanNs);
    case 'calls': return desc((r) => r.calls);
    case 'compute': return desc((r) => r.computeNs);
    case 'flops': return desc((r) => r.flops);
    case 'name': return byName;
    default: {
      const _exhaustiveCheck: never = sortBy;
      return _exhaustiveCheck;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Layout

interface Column {
  title: string;
  /** Lower numbers are dropped first when the terminal is narrow; the name column is never dropped. */
  priority: number;
  cell(r: ReportRow): string;
}

const dash = '-';
const orDash = (n: number, f: (n: number) => string) => (Number.isFinite(n) ? f(n) : dash);

function columnsFor(groupBy: ReportGroupBy): Column[] {
  const cols: Column[] = [
    { title: 'calls', priority: 9, cell: (r) => formatCount(r.calls) },
    { title: 'total', priority: 10, cell: (r) => formatDuration(r.totalNs) },
    { title: 'self', priority: 6, cell: (r) => formatDuration(r.selfNs) },
    { title: 'mean', priority: 5, cell: (r) => orDash(r.meanNs, formatDuration) },
  ];
  if (groupBy === 'layer') {
    cols.push({ title: 'compute', priority: 8, cell: (r) => formatDuration(r.computeNs) });
  }
  cols.push(
    { title: '% busy', priority: 8, cell: (r) => orDash(r.busyFraction, formatPercent) },
    { title: 'GFLOP/s', priority: 7, cell: (r) => orDash(r.flopsPerSec, (v) => formatSig(v / 1e9)) },
    { title: 'GB/s', priority: 4, cell: (r) => orDash(r.bytesPerSec, (v) => formatSig(v / 1e9)) },
    { title: 'FLOP/B', priority: 3, cell: (r) => orDash(r.intensity, (v) => formatSig(v)) },
  );
  if (groupBy !== 'device') cols.push({ title: 'device', priority: 2, cell: (r) => printable(r.devices.join(',')) || dash });
  return cols;
}

const GAP = '  ';
const MIN_NAME = 12;
const MIN_LAYER_NAME = 36;
const BUSY_LEGEND = 'busy time: evals, each asyncEval until its work finished, and item()/tolist(); % busy and coverage are shares of it.';

/** Words joined by ', ' and wrapped to `width`, the first line starting with `lead`. */
function wrapList(lead: string, items: string[], width: number): string[] {
  const lines: string[] = [];
  let line = lead;
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? ',' : '');
    if (visibleWidth(line) + 1 + piece.length > width && line.trim() !== lead.trim()) {
      lines.push(line);
      line = '  ' + piece;
    } else {
      line += (line === '' ? '' : ' ') + piece;
    }
  });
  lines.push(line);
  return lines;
}

/** Parts joined by ' · ', starting a new line instead of overflowing `width`. */
function joinWrapped(parts: string[], width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const part of parts) {
    if (line && visibleWidth(line) + 3 + visibleWidth(part) > width) {
      lines.push(line);
      line = part;
    } else {
      line = line ? `${line} · ${part}` : part;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * While MLX's thread waits for a core (other threads or processes have them), busy time passes with no
 * primitive: said beside coverage once it is a visible share of busy time, so a low coverage is read
 * for what it is.
 */
function coreWaitPart(sum: ReportSummary, c: Colors): string[] {
  if (sum.coreWaitNs === undefined || !(sum.busyNs > 0) || sum.coreWaitNs < CORE_WAIT_NOTE_SHARE * sum.busyNs) return [];
  return [c.yellow(`MLX's thread waited ${formatDuration(sum.coreWaitNs)} for a CPU core`)];
}

function headerLines(sum: ReportSummary, c: Colors, width: number): string[] {
  const timing = printable(sum.timing === 'js' && sum.fallbackReason ? `js (native hooks off: ${sum.fallbackReason})` : sum.timing);
  const dropped = `${formatCount(sum.dropped)} dropped events`;
  return [
    ...joinWrapped([c.bold(truncateMiddle(`mlx-trace report: ${printable(sum.name)}`, width)), truncateMiddle(`timing: ${timing}`, width)], width),
    ...joinWrapped(
      [
        `busy time ${formatDuration(sum.busyNs)} in ${formatCount(sum.forcingCount)} evals and syncs`,
        `primitive time ${formatDuration(sum.primitiveNs)} in ${formatCount(sum.primitiveCount)} primitives`,
        `coverage ${orDash(sum.coverage, formatPercent)}`,
        ...coreWaitPart(sum, c),
        sum.dropped > 0 ? c.yellow(dropped) : dropped,
      ],
      width,
    ),
  ];
}

/**
 * The report as text: header (totals, coverage, dropped events, timing mode), the table, and the ops without a
 * cost formula. Never throws: input that is not a trace or bad options give one line saying so.
 */
export function formatReport(trace: Trace, opts: ReportOptions = {}): string {
  let sum: ReportSummary;
  try {
    sum = summarizeReport(trace, opts);
  } catch (e) {
    return `mlx-trace: cannot make a report: ${e instanceof Error ? e.message : String(e)}`;
  }
  const width = Math.max(40, Math.floor(opts.width ?? terminalWidth(process.stdout, 100)));
  const top = opts.top === undefined ? 20 : Math.max(0, Math.floor(opts.top));
  const c = makeColors(opts.color === true && !noColorRequested());

  const out = headerLines(sum, c, width);
  out.push('');
  if (sum.rows.length === 0) {
    out.push(sum.groupBy === 'layer' ? 'No layer or primitive spans in this trace.' : 'No primitive spans in this trace.');
    return out.join('\n');
  }

  const shown = sum.rows.slice(0, top);
  const nameTitle = sum.groupBy;
  const names = shown.map((r) => printable(r.key));
  let cols = columnsFor(sum.groupBy);
  const cellText = shown.map((r) => cols.map((col) => col.cell(r)));
  let widths = cols.map((col, i) => Math.max(col.title.length, ...cellText.map((row) => visibleWidth(row[i]))));
  const longestName = Math.max(nameTitle.length, ...names.map((n) => [...n].length));
  // Layer paths are long and differ late: they get room first, and lose their start, not their leaf.
  const minName = sum.groupBy === 'layer' ? MIN_LAYER_NAME : MIN_NAME;
  const used = () => widths.reduce((a, w) => a + w + GAP.length, 0);
  // Drop the least important columns until the name column can have MIN_NAME characters.
  while (cols.length > 2 && used() + Math.min(minName, longestName) > width) {
    let drop = 0;
    cols.forEach((col, i) => {
      if (col.priority < cols[drop].priority) drop = i;
    });
    cols = cols.filter((_, i) => i !== drop);
    widths = widths.filter((_, i) => i !== drop);
    cellText.forEach((row, k) => (cellText[k] = row.filter((_, i) => i !== drop)));
  }
  const nameWidth = Math.max(4, Math.min(longestName, width - used()));

  const line = (name: string, cells: string[]) =>
    padEndVisible(name, nameWidth) + cells.map((cell, i) => GAP + padStartVisible(cell, widths[i])).join('');
  out.push(c.bold(line(nameTitle, cols.map((col) => col.title))));
  out.push(c.dim('-'.repeat(Math.min(width, nameWidth + used()))));
  const fit = sum.groupBy === 'layer' ? fitLayerName : truncateMiddle;
  names.forEach((n, k) => out.push(line(fit(n, nameWidth), cellText[k])));

  if (sum.rows.length > shown.length) {
    const noun = sum.groupBy === 'op' ? 'ops' : sum.groupBy === 'layer' ? 'layers' : 'devices';
    out.push(c.dim(`... ${sum.rows.length - shown.length} more ${noun} not shown (top ${shown.length} of ${sum.rows.length} by ${sum.sortBy})`));
  }
  if (sum.groupBy === 'layer') {
    const legend = 'total/self/mean: layer wall time (graph building); compute: time of the primitives each layer built (sort with --sort compute|total).';
    out.push(...wrapText(legend, width).map(c.dim));
  }
  out.push('', ...wrapText(BUSY_LEGEND, width).map(c.dim));
  // Rates are achieved rates; where the roofline's ceilings come from decides what they can be compared with.
  const ceilings = describeCeilings(trace.meta?.peaks);
  out.push(...wrapText(`GFLOP/s and GB/s are achieved rates. The roofline's ceilings are ${ceilings.note}.`, width).map(ceilings.measured ? c.dim : c.yellow));
  // Ops the model knows but cannot price are explained once each; ops it has no formula for are listed.
  const explained = sum.uncosted.filter((n) => unknownFlopsReason(n) != null);
  const unknown = sum.uncosted.filter((n) => unknownFlopsReason(n) == null);
  for (const n of explained) out.push('', ...wrapText(`${printable(n)}: ${unknownFlopsReason(n)}.`, width).map(c.dim));
  if (unknown.length > 0) {
    out.push('');
    out.push(...wrapList(c.yellow('no cost formula for:'), unknown.map((n) => truncateMiddle(printable(n), width - 2)), width));
  }
  out.push(...reportSections(trace, c, { advice: opts.advice, width, color: c.enabled }));
  return out.join('\n');
}

/** formatReport written to stdout, in color only when stdout is a TTY and NO_COLOR is unset (and opts.color is not false). */
export function printReport(trace: Trace, opts: ReportOptions = {}): void {
  const color = opts.color !== false && shouldColor(process.stdout);
  process.stdout.write(formatReport(trace, { ...opts, color }) + '\n');
}
