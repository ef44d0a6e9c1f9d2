import { writeFileAtomic } from '../../core/io/atomic-file';
import { writeOutput } from './outputs';
import { basename, resolve } from 'node:path';
import {
  compareTraces,
  regressions,
  rowVerdict,
  totalVerdict,
  type CompareGroupBy,
  type CompareRow,
  type CompareTotal,
  type Comparison,
  type Regression,
  type RegressionOptions,
  type RowVerdict,
  DEFAULT_MIN_SHARE,
  DEFAULT_REGRESSION_THRESHOLD,
} from '../../core/analysis/compare';
import {
  type Colors,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  formatSI,
  padEndVisible,
  padStartVisible,
  terminalWidth,
  truncateMiddle,
  visibleWidth,
  wrapText as wrap,
  fitLayerName,
  printable,
} from '../../exporters/terminal/format';
import { loadTrace } from '../../core/io/persist';
import { NO_LAYER } from '../../core/model/span-facts';
import { renderDiffHtml } from '../../exporters/html/diff';
import { CheckFailed, UsageError, colors, out } from '../ui';
import type { Command } from './index';

const GROUPS: CompareGroupBy[] = ['detail', 'op', 'layer'];

/** '5%' or '5' -> 0.05. Percent only: a bare number is percent too, so '5' never means 500%. */
export function parsePercent(text: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*%?\s*$/.exec(text);
  if (!m) throw new UsageError(`${flag} takes a percentage such as 5%, not "${text}"`);
  return Number(m[1]) / 100;
}

const signed = (n: number, f: (n: number) => string) => (n > 0 ? '+' + f(n) : f(n));
const signedDuration = (ns: number) => (ns === 0 ? '0' : signed(ns, formatDuration));
const signedPercent = (x: number) => (Number.isFinite(x) ? signed(x, formatPercent) : '-');
const signedBytes = (n: number) => (n === 0 ? '0' : signed(n, formatBytes));

export interface FormatComparisonOptions extends RegressionOptions {
  /** Rows shown. @default 20 */
  top?: number;
  /** Characters per line. @default 100 */
  width?: number;
  colors: Colors;
  /** Names shown for A and B (file names). */
  labelA?: string;
  labelB?: string;
}

const VERDICT_TEXT: Record<RowVerdict, string> = {
  regressed: 'slower',
  improved: 'faster',
  unchanged: '',
  small: '',
  added: 'only B',
  removed: 'only A',
};

function paint(c: Colors, v: RowVerdict | 'regressed' | 'improved' | 'unchanged', s: string): string {
  switch (v) {
    case 'regressed': return c.red(s);
    case 'improved': return c.green(s);
    case 'added': return c.yellow(s);
    case 'removed': return c.cyan(s);
    case 'unchanged':
    case 'small': return s;
    default: {
      const _exhaustiveCheck: never = v;
      return _exhaustiveCheck;
    }
  }
}

interface Column {
  title: string;
  /** Lower numbers are dropped first on a narrow terminal. */
  priority: number;
  cell(r: CompareRow): string;
}

const orDash = (n: number | null | undefined, f: (n: number) => string) => (n == null || !Number.isFinite(n) ? '-' : f(n));

const COLUMNS: Column[] = [
  { title: 'A/pass', priority: 8, cell: (r) => orDash(r.a?.timeNs, formatDuration) },
  { title: 'B/pass', priority: 8, cell: (r) => orDash(r.b?.timeNs, formatDuration) },
  { title: 'Δ', priority: 10, cell: (r) => signedDuration(r.deltaNs) },
  { title: 'Δ%', priority: 9, cell: (r) => signedPercent(r.deltaFraction) },
  { title: '± noise', priority: 6, cell: (r) => (r.noiseNs > 0 ? formatDuration(r.noiseNs) : '-') },
  { title: 'Δ/call', priority: 5, cell: (r) => orDash(r.deltaPerCallNs, signedDuration) },
  { title: 'calls', priority: 4, cell: (r) => callsCell(r) },
  { title: 'Δ memory', priority: 3, cell: (r) => signedBytes(r.deltaMemoryBytes) },
];

function callsCell(r: CompareRow): string {
  const f = (n: number) => (Number.isInteger(n) ? formatCount(n) : n.toFixed(1));
  if (r.a && r.b) return r.a.calls === r.b.calls ? f(r.b.calls) : `${f(r.a.calls)}→${f(r.b.calls)}`;
  return f((r.a ?? r.b)!.calls);
}

const GAP = '  ';

/**
 * The row's label in `width` columns. Shapes give way first, then the layer: the op name is what people scan
 * for, and truncateMiddle alone would cut it out of 'layer · op shapes'.
 */
export function fitLabel(r: CompareRow, width: number): string {
  const len = (x: string) => [...x].length;
  // By layer, the label is the layer: keep its leaf.
  if (!r.op && r.layer) return fitLayerName(printable(r.label), width);
  if (len(r.label) <= width || !r.op || !r.shapes) return truncateMiddle(printable(r.label), width);
  const where = r.layer === NO_LAYER ? '' : printable(r.layer);
  const op = printable(r.op);
  const sep = where ? ' · ' : '';
  const room = width - len(where) - sep.length - len(op) - 1;
  if (room >= 8) return `${where}${sep}${op} ${truncateMiddle(r.shapes, room)}`;
  const shapes = truncateMiddle(r.shapes, 8);
  const whereRoom = width - sep.length - len(op) - 1 - len(shapes);
  if (where && whereRoom >= 4) return `${fitLayerName(where, whereRoom)}${sep}${op} ${shapes}`;
  return truncateMiddle(`${op} ${shapes}`, width);
}

/** The comparison as terminal text: totals, the diff table (largest changes first) and a verdict line. */
export function formatComparison(cmp: Comparison, opts: FormatComparisonOptions): string {
  const c = opts.colors;
  const width = Math.max(40, Math.floor(opts.width ?? 100));
  const top = Math.max(0, Math.floor(opts.top ?? 20));
  const threshold = opts.threshold ?? DEFAULT_REGRESSION_THRESHOLD;
  const minShare = opts.minShare ?? DEFAULT_MIN_SHARE;
  const lines: string[] = [];

  const side = (label: string | undefined, s: Comparison['a']) =>
    `${printable(label ?? s.name)}: ${s.passes} ${s.passes === 1 ? 'pass' : 'passes'}${s.warmup ? ` (+${s.warmup} warm-up left out)` : ''}`;
  for (const l of wrap(`mlx-trace compare: ${printable(opts.labelA ?? cmp.a.name)} → ${printable(opts.labelB ?? cmp.b.name)}`, width)) lines.push(c.bold(l));
  lines.push(...wrap(`A = ${side(opts.labelA, cmp.a)} · B = ${side(opts.labelB, cmp.b)} · times are per pass`, width));
  lines.push('');

  // Totals.
  const totals: [string, CompareTotal | null, (n: number) => string, boolean][] = [
    ['primitive time', cmp.totals.primitiveNs, formatDuration, true],
    ['eval time', cmp.totals.evalNs, formatDuration, true],
    ['busy time', cmp.totals.busyNs, formatDuration, false],
    ['pass time', cmp.totals.passNs, formatDuration, false],
    ['peak memory', cmp.totals.peakMemoryBytes, formatBytes, false],
    ['FLOPs', cmp.totals.flops, (n) => formatSI(n, 'FLOP'), false],
    ['bytes moved', cmp.totals.bytes, formatBytes, false],
  ];
  const tRows = totals
    .filter((t): t is [string, CompareTotal, (n: number) => string, boolean] => t[1] !== null)
    .map(([name, t, f, gated]) => {
      const v = gated ? totalVerdict(t, { threshold }) : 'unchanged';
      const delta = t.delta === 0 ? '0' : signed(t.delta, f);
      return {
        cells: [name, f(t.a), f(t.b), delta, signedPercent(t.fraction), t.noise > 0 ? `± ${f(t.noise)}` : ''],
        v,
      };
    });
  const tw = [0, 1, 2, 3, 4, 5].map((i) => Math.max(...tRows.map((r) => visibleWidth(r.cells[i]))));
  for (const r of tRows) {
    const text = r.cells.map((x, i) => (i === 0 ? padEndVisible(x, tw[i]) : padStartVisible(x, tw[i]))).join(GAP).trimEnd();
    const mark = r.v === 'unchanged' ? '' : GAP + paint(c, r.v, VERDICT_TEXT[r.v]);
    lines.push(truncateMiddle(text, width - visibleWidth(mark)) + mark);
  }
  lines.push('');

  // The table.
  const shown = cmp.rows.slice(0, top);
  const verdicts = shown.map((r) => rowVerdict(r, { threshold, minShare }));
  let cols = COLUMNS.slice();
  const verdictWidth = Math.max(...verdicts.map((v) => VERDICT_TEXT[v].length), 0);
  const cellsOf = () => shown.map((r) => cols.map((col) => col.cell(r)));
  let cells = cellsOf();
  const widthsOf = () => cols.map((col, i) => Math.max(visibleWidth(col.title), ...cells.map((row) => visibleWidth(row[i]))));
  let widths = widthsOf();
  const nameTitle = cmp.groupBy === 'detail' ? 'layer · op shapes' : cmp.groupBy;
  const longest = Math.max(nameTitle.length, ...shown.map((r) => [...r.label].length));
  const used = () => widths.reduce((a, w) => a + w + GAP.length, 0) + (verdictWidth ? verdictWidth + GAP.length : 0);
  // Detail labels ('layer · op shapes') need more room than an op name before columns are worth keeping.
  const minName = cmp.groupBy === 'detail' ? 40 : 16;
  while (cols.length > 1 && used() + Math.min(minName, longest) > width) {
    let drop = 0;
    cols.forEach((col, i) => {
      if (col.priority < cols[drop].priority) drop = i;
    });
    cols = cols.filter((_, i) => i !== drop);
    cells = cellsOf();
    widths = widthsOf();
  }
  const nameWidth = Math.max(4, Math.min(longest, width - used()));
  const line = (name: string, row: string[], verdict: string) =>
    (padEndVisible(name, nameWidth) + row.map((x, i) => GAP + padStartVisible(x, widths[i])).join('') + (verdictWidth ? GAP + verdict : '')).trimEnd();

  if (shown.length === 0) {
    lines.push('No primitive spans in either trace.');
  } else {
    lines.push(c.bold(line(nameTitle, cols.map((col) => col.title), '')));
    lines.push(c.dim('-'.repeat(Math.min(width, nameWidth + used()))));
    shown.forEach((r, k) => {
      const v = verdicts[k];
      const text = line(fitLabel(r, nameWidth), cells[k], paint(c, v, VERDICT_TEXT[v]));
      lines.push(v === 'small' ? c.dim(text) : text);
    });
    if (cmp.rows.length > shown.length) lines.push(c.dim(`... ${plural(cmp.rows.length - shown.length, 'more row')} (--top N shows more)`));
  }
  lines.push(
    `${plural(cmp.rows.length - cmp.onlyA.length - cmp.onlyB.length, 'row')} matched · ${formatCount(cmp.onlyA.length)} only in A · ${formatCount(cmp.onlyB.length)} only in B`,
  );
  lines.push('');
  const regs = regressions(cmp, { threshold, minShare });
  const rule = `more than ${formatPercent(threshold)} beyond noise; rows under ${formatPercent(minShare)} of time ignored`;
  const verdict = regs.length ? `Regressed (${rule}): ${describeRegressions(regs)}` : `No regression (${rule}).`;
  for (const l of wrap(verdict, width)) lines.push(regs.length ? c.red(c.bold(l)) : c.green(l));
  return lines.join('\n');
}


const plural = (n: number, word: string) => `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;

/** One line naming what regressed, by how much; at most three items, then a count. */
export function describeRegressions(regs: Regression[]): string {
  const items = regs.slice(0, 3).map(
    (r) => `${printable(r.name)} ${signedPercent(r.fraction)} (${formatDuration(r.a)} → ${formatDuration(r.b)}${r.noiseNs > 0 ? `, noise ± ${formatDuration(r.noiseNs)}` : ''})`,
  );
  if (regs.length > 3) items.push(`${regs.length - 3} more`);
  return items.join('; ');
}

export const compareCommand: Command = {
  summary: 'compare two saved traces: diff table, HTML diff, CI regression gate',
  help: `Usage: mlx-trace compare A.json B.json [--fail-on-regression 5%] [--html diff.html] [--top N]
                         [--min-share 1%] [--group-by detail|op|layer]

Matches the ops of two traces by layer, op and shapes and prints how B differs from A:
time per pass, per call, calls and memory, plus the totals (primitive time, eval time,
peak memory, FLOPs). With traces from profile(fn, { passes, warmup }), times are means
over the measured passes and the spread across passes is the noise a change must clear.

Options:
  --fail-on-regression P   exit 1 when total primitive or eval time, or any row with at least
                           --min-share of the time, grew by more than P beyond noise (e.g. 5%)
  --html FILE              also write a self-contained HTML diff view
  --top N                  rows to show, largest changes first (default: 20)
  --min-share P            ignore rows under this share of total time (default: 1%)
  --group-by KEY           detail (layer + op + shapes, default), op or layer

Exit codes: 0 no regression (or no --fail-on-regression), 1 regression, 2 bad usage or file.`,
  options: {
    'fail-on-regression': { type: 'string' },
    html: { type: 'string' },
    top: { type: 'string' },
    'min-share': { type: 'string' },
    'group-by': { type: 'string' },
  },
  async run(values, positionals) {
    if (positionals.length !== 2) throw new UsageError('give two trace files: mlx-trace compare A.json B.json');
    const gate = values['fail-on-regression'] !== undefined ? parsePercent(values['fail-on-regression'], '--fail-on-regression') : undefined;
    const minShare = values['min-share'] !== undefined ? parsePercent(values['min-share'], '--min-share') : DEFAULT_MIN_SHARE;
    const top = values.top === undefined ? 20 : Number(values.top);
    if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top must be a whole number, not "${values.top}"`);
    const groupBy = (values['group-by'] ?? 'detail') as CompareGroupBy;
    if (!GROUPS.includes(groupBy)) throw new UsageError(`--group-by must be one of ${GROUPS.join(', ')}, not "${values['group-by']}"`);
    const [fileA, fileB] = positionals;
    const a = loadTrace(fileA);
    const b = loadTrace(fileB);
    const cmp = compareTraces(a, b, { groupBy });
    const threshold = gate ?? DEFAULT_REGRESSION_THRESHOLD;
    const labelA = basename(fileA) === basename(fileB) ? fileA : basename(fileA);
    const labelB = basename(fileA) === basename(fileB) ? fileB : basename(fileB);
    out(formatComparison(cmp, { threshold, minShare, top, width: terminalWidth(process.stdout, 100), colors: colors(), labelA, labelB }));
    if (values.html !== undefined) {
      const target = resolve(values.html);
      await writeOutput(target, [fileA, fileB], () => writeFileAtomic(target, renderDiffHtml(cmp, { threshold, minShare, labelA, labelB })));
      out(`wrote ${target}`);
    }
    if (gate !== undefined) {
      const regs = regressions(cmp, { threshold: gate, minShare });
      if (regs.length) throw new CheckFailed(`regressed by more than ${formatPercent(gate)} beyond noise: ${describeRegressions(regs)}`);
    }
    return 0;
  },
};
