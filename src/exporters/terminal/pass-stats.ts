/**
 * The pass statistics as terminal lines: the pass totals and a per-op (or per-layer) table of per-pass time
 * statistics. The numbers are passStats' (core/analysis/stats.ts).
 */
import type { Trace } from '../../core/model/trace';
import { passLayout, passStats, type PassStatsGroupBy, type SummaryStats } from '../../core/analysis/stats';
import {
  type Colors,
  formatCount,
  formatDuration,
  makeColors,
  noColorRequested,
  padEndVisible,
  padStartVisible,
  terminalWidth,
  fitLayerName,
  printable,
  truncateMiddle,
  visibleWidth,
} from './format';

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
  type Line = { name: string; calls: string; s: SummaryStats; bold?: boolean; row?: boolean };
  const lines: Line[] = [];
  if (st.pass) lines.push({ name: 'pass (wall)', calls: '', s: st.pass, bold: true });
  lines.push({ name: 'eval', calls: '', s: st.eval, bold: true });
  lines.push({ name: 'primitives', calls: '', s: st.primitive, bold: true });
  const shown = st.rows.slice(0, top);
  for (const r of shown) lines.push({ name: printable(r.key), calls: formatCalls(r.calls), s: r.time, row: true });

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
    const fit = l.row && st.groupBy === 'layer' ? fitLayerName : truncateMiddle;
    const text = row(fit(l.name, nameWidth), cols.map((col) => col.cell(l)));
    out.push(l.bold ? c.bold(text) : text);
  }
  if (st.rows.length > shown.length) out.push(c.dim(`... ${formatCount(st.rows.length - shown.length)} more ${st.groupBy === 'op' ? 'ops' : 'layers'}`));
  return out;
}

function formatCalls(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : n.toFixed(1);
}
