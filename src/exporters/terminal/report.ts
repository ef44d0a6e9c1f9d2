/**
 * The terminal report: the table people read first, after torch.profiler's key_averages().table().
 * summarizeReport() does the arithmetic on the plain trace; formatReport() lays it out for a terminal width;
 * printReport() writes it to stdout. Nothing here knows about MLX beyond the trace model.
 */
import { reportSections } from './sections';
import type { Device, Span, Trace } from '../../core/model/trace';
import { traceProblem } from '../../core/model/checks';
import { NO_LAYER } from '../../core/analysis/stats';
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
  truncateMiddle,
  visibleWidth,
} from './format';

export type ReportSortBy = 'total' | 'self' | 'mean' | 'calls' | 'flops' | 'name';
export type ReportGroupBy = 'op' | 'layer' | 'device';

export interface ReportOptions {
  /** Column to sort rows by; 'name' sorts A-Z, the others largest first. @default 'total' */
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
  /** computeNs / eval wall time (NaN when the trace has no eval time). */
  evalFraction: number;
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
  primitiveCount: number;
  primitiveNs: number;
  /** primitiveNs / evalNs: how much of eval time the primitive spans explain. NaN without evals. */
  coverage: number;
  dropped: number;
  /** Primitive names with flops === null, sorted. */
  uncosted: string[];
  /** All rows, sorted; formatReport shows the first `top`. */
  rows: ReportRow[];
}

const SORT_KEYS: readonly ReportSortBy[] = ['total', 'self', 'mean', 'calls', 'flops', 'name'];
const GROUP_KEYS: readonly ReportGroupBy[] = ['op', 'layer', 'device'];

/**
 * The row a layer span or a primitive belongs to in 'layer' grouping: the layer span's name
 * ('layers.0.attention (Attention)'), reached from a primitive through layerId; a primitive whose layer span is
 * not in the trace falls back to its `layer` field.
 */
function layerKey(s: Span, byId: Map<number, Span>): string {
  if (s.kind === 'layer') return s.name;
  const builder = s.layerId != null ? byId.get(s.layerId) : undefined;
  if (builder && builder.kind === 'layer') return builder.name;
  return s.layer || NO_LAYER;
}

interface Acc {
  key: string;
  calls: number;
  totalNs: number;
  selfNs: number;
  computeNs: number;
  primitives: number;
  flops: number;
  flopsNs: number;
  bytes: number;
  bytesNs: number;
  intensityFlops: number;
  intensityBytes: number;
  devices: Set<Device>;
}

function newAcc(key: string): Acc {
  return {
    key, calls: 0, totalNs: 0, selfNs: 0, computeNs: 0, primitives: 0,
    flops: 0, flopsNs: 0, bytes: 0, bytesNs: 0, intensityFlops: 0, intensityBytes: 0, devices: new Set(),
  };
}

function addPrimitive(a: Acc, s: Span): void {
  const d = s.end - s.start;
  a.computeNs += d;
  a.primitives++;
  a.devices.add(s.device);
  if (s.flops != null) {
    a.flops += s.flops;
    a.flopsNs += d;
  }
  if (s.bytes != null) {
    a.bytes += s.bytes;
    a.bytesNs += d;
  }
  if (s.flops != null && s.bytes != null) {
    a.intensityFlops += s.flops;
    a.intensityBytes += s.bytes;
  }
}

/** Group, sum and sort: the numbers behind the table. Throws on input that is not a trace (formatReport does not). */
export function summarizeReport(trace: Trace, opts: ReportOptions = {}): ReportSummary {
  const problem = traceProblem(trace);
  if (problem) throw new Error(problem);
  const groupBy = opts.groupBy ?? 'op';
  const sortBy = opts.sortBy ?? 'total';
  if (!GROUP_KEYS.includes(groupBy)) throw new Error(`unknown groupBy ${JSON.stringify(groupBy)} (use ${GROUP_KEYS.join(', ')})`);
  if (!SORT_KEYS.includes(sortBy)) throw new Error(`unknown sortBy ${JSON.stringify(sortBy)} (use ${SORT_KEYS.join(', ')})`);

  const byId = new Map<number, Span>();
  for (const s of trace.spans) byId.set(s.id, s);

  // Time of each span's direct children, for self time. For layers only child layers count:
  // the brief is "layer wall time minus child layers", and layers have no other timed children.
  const childNs = new Map<number, number>();
  for (const s of trace.spans) {
    if (s.parentId == null) continue;
    const parent = byId.get(s.parentId);
    if (!parent) continue;
    if (parent.kind === 'layer' && s.kind !== 'layer') continue;
    childNs.set(parent.id, (childNs.get(parent.id) ?? 0) + (s.end - s.start));
  }

  const insideEval = (s: Span): boolean => {
    // Walk up; a cycle in bad data must not hang the report, so bound the walk.
    let p = s.parentId != null ? byId.get(s.parentId) : undefined;
    for (let guard = 0; p && guard < 10_000; guard++) {
      if (p.kind === 'eval') return true;
      p = p.parentId != null ? byId.get(p.parentId) : undefined;
    }
    return false;
  };

  let evalCount = 0;
  let evalNs = 0;
  let primitiveCount = 0;
  let primitiveNs = 0;
  const uncosted = new Set<string>();
  const groups = new Map<string, Acc>();
  const acc = (key: string) => {
    let a = groups.get(key);
    if (!a) groups.set(key, (a = newAcc(key)));
    return a;
  };

  for (const s of trace.spans) {
    const d = s.end - s.start;
    if (s.kind === 'eval') {
      if (!insideEval(s)) {
        evalCount++;
        evalNs += d;
      }
    } else if (s.kind === 'primitive') {
      primitiveCount++;
      primitiveNs += d;
      if (s.flops == null) uncosted.add(s.name);
      if (groupBy === 'layer') {
        addPrimitive(acc(layerKey(s, byId)), s);
      } else {
        const a = acc(groupBy === 'op' ? s.name : s.device);
        a.calls++;
        a.totalNs += d;
        a.selfNs += Math.max(0, d - (childNs.get(s.id) ?? 0));
        addPrimitive(a, s);
      }
    } else if (s.kind === 'layer' && groupBy === 'layer') {
      const a = acc(layerKey(s, byId));
      a.calls++;
      a.totalNs += d;
      a.selfNs += Math.max(0, d - (childNs.get(s.id) ?? 0));
      a.devices.add(s.device);
    }
  }

  const rows: ReportRow[] = [...groups.values()].map((a) => ({
    key: a.key,
    calls: a.calls,
    totalNs: a.totalNs,
    selfNs: a.selfNs,
    meanNs: a.calls > 0 ? a.totalNs / a.calls : NaN,
    computeNs: a.computeNs,
    evalFraction: evalNs > 0 ? a.computeNs / evalNs : NaN,
    primitives: a.primitives,
    flops: a.flops,
    flopsNs: a.flopsNs,
    bytes: a.bytes,
    bytesNs: a.bytesNs,
    flopsPerSec: a.flopsNs > 0 ? a.flops / (a.flopsNs / 1e9) : NaN,
    bytesPerSec: a.bytesNs > 0 ? a.bytes / (a.bytesNs / 1e9) : NaN,
    intensity: a.intensityBytes > 0 ? a.intensityFlops / a.intensityBytes : NaN,
    devices: [...a.devices].sort(),
  }));
  rows.sort(rowComparator(sortBy));

  return {
    name: trace.name,
    groupBy,
    sortBy,
    timing: String(trace.meta?.timing ?? 'unknown'),
    fallbackReason: trace.meta?.fallbackReason,
    evalCount,
    evalNs,
    primitiveCount,
    primitiveNs,
    coverage: evalNs > 0 ? primitiveNs / evalNs : NaN,
    dropped: typeof trace.dropped === 'number' ? trace.dropped : 0,
    uncosted: [...uncosted].sort(),
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
    { title: '% eval', priority: 8, cell: (r) => orDash(r.evalFraction, formatPercent) },
    { title: 'GFLOP/s', priority: 7, cell: (r) => orDash(r.flopsPerSec, (v) => formatSig(v / 1e9)) },
    { title: 'GB/s', priority: 4, cell: (r) => orDash(r.bytesPerSec, (v) => formatSig(v / 1e9)) },
    { title: 'FLOP/B', priority: 3, cell: (r) => orDash(r.intensity, (v) => formatSig(v)) },
  );
  if (groupBy !== 'device') cols.push({ title: 'device', priority: 2, cell: (r) => r.devices.join(',') || dash });
  return cols;
}

const GAP = '  ';
const MIN_NAME = 12;

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

function headerLines(sum: ReportSummary, c: Colors, width: number): string[] {
  const timing = sum.timing === 'js' && sum.fallbackReason ? `js (native hooks off: ${sum.fallbackReason})` : sum.timing;
  const dropped = `${formatCount(sum.dropped)} dropped events`;
  return [
    ...joinWrapped([c.bold(`mlx-trace report: ${sum.name}`), `timing: ${timing}`], width),
    ...joinWrapped(
      [
        `eval time ${formatDuration(sum.evalNs)} in ${formatCount(sum.evalCount)} evals`,
        `primitive time ${formatDuration(sum.primitiveNs)} in ${formatCount(sum.primitiveCount)} primitives`,
        `coverage ${orDash(sum.coverage, formatPercent)}`,
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
  let cols = columnsFor(sum.groupBy);
  const cellText = shown.map((r) => cols.map((col) => col.cell(r)));
  let widths = cols.map((col, i) => Math.max(col.title.length, ...cellText.map((row) => visibleWidth(row[i]))));
  const longestName = Math.max(nameTitle.length, ...shown.map((r) => [...r.key].length));
  const used = () => widths.reduce((a, w) => a + w + GAP.length, 0);
  // Drop the least important columns until the name column can have MIN_NAME characters.
  while (cols.length > 2 && used() + Math.min(MIN_NAME, longestName) > width) {
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
  shown.forEach((r, k) => out.push(line(truncateMiddle(r.key, nameWidth), cellText[k])));

  if (sum.rows.length > shown.length) {
    const noun = sum.groupBy === 'op' ? 'ops' : sum.groupBy === 'layer' ? 'layers' : 'devices';
    out.push(c.dim(`... ${sum.rows.length - shown.length} more ${noun} not shown (top ${shown.length} of ${sum.rows.length} by ${sum.sortBy})`));
  }
  if (sum.groupBy === 'layer') {
    out.push(c.dim('total/self/mean: layer wall time (graph building); compute: time of the primitives each layer built.'));
  }
  if (sum.uncosted.length > 0) {
    out.push('');
    out.push(...wrapList(c.yellow('no cost formula for:'), sum.uncosted, width));
  }
  out.push(...reportSections(trace, c, { advice: opts.advice, width, color: c.enabled }));
  return out.join('\n');
}

/** formatReport written to stdout, in color only when stdout is a TTY and NO_COLOR is unset (and opts.color is not false). */
export function printReport(trace: Trace, opts: ReportOptions = {}): void {
  const color = opts.color !== false && shouldColor(process.stdout);
  process.stdout.write(formatReport(trace, { ...opts, color }) + '\n');
}
