/**
 * The benchmark tables people read: detailed op results, averages per op family, and the model
 * benchmark. Plain text, ANSI only through the Colors given (so NO_COLOR and pipes get none).
 */
import { type Colors, formatBytes, formatDuration, formatSig, makeColors, padEndVisible, padStartVisible, visibleWidth } from '../exporters/terminal/format';
import type { BenchCaseResult, BenchOpsMeta } from './runner';
import type { BenchModelMeta } from './model-bench';

export interface Column {
  title: string;
  align: 'left' | 'right';
}

/** Columns padded to their widest cell, a bold header and a rule under it. */
export function renderTable(columns: Column[], rows: string[][], c: Colors = makeColors(false)): string {
  const widths = columns.map((col, i) => Math.max(col.title.length, ...rows.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (columns[i].align === 'left' ? padEndVisible(cell, widths[i]) : padStartVisible(cell, widths[i])))
      .join('  ')
      .trimEnd();
  const out = [c.bold(line(columns.map((col) => col.title))), c.dim(widths.map((w) => '-'.repeat(w)).join('  '))];
  for (const r of rows) out.push(line(r));
  return out.join('\n');
}

const rate = (v: number | null) => (v === null || v === 0 ? '-' : formatSig(v / 1e9));
const twinKey = (r: BenchCaseResult) => `${r.family} ${r.label} ${r.dtype} ${r.device}`;

/** The detailed table: one row per case. */
export function formatBenchOpsDetail(meta: BenchOpsMeta, c: Colors = makeColors(false)): string {
  const eager = new Map(meta.cases.filter((r) => !r.compiled).map((r) => [twinKey(r), r]));
  const cols: Column[] = [
    { title: 'case', align: 'left' },
    { title: 'device', align: 'left' },
    { title: 'dtype', align: 'left' },
    { title: 'compiled', align: 'left' },
    { title: 'mean', align: 'right' },
    { title: 'std', align: 'right' },
    { title: 'min', align: 'right' },
    { title: 'p50', align: 'right' },
    { title: 'GFLOP/s', align: 'right' },
    { title: 'GB/s', align: 'right' },
  ];
  if (meta.compile) cols.push({ title: 'vs eager', align: 'right' });
  const rows = meta.cases.map((r) => {
    const row = [
      `${r.family} ${r.label}`,
      r.device,
      r.dtype,
      r.compiled ? 'yes' : 'no',
      formatDuration(r.timeNs.mean),
      formatDuration(r.timeNs.std),
      formatDuration(r.timeNs.min),
      formatDuration(r.timeNs.p50),
      rate(r.flopsPerSec),
      rate(r.bytesPerSec),
    ];
    if (meta.compile) row.push(r.compiled ? speedup(eager.get(twinKey(r))?.timeNs.mean, r.timeNs.mean, c) : '');
    return row;
  });
  return renderTable(cols, rows, c);
}

/** Averages per op family (and device, dtype, compiled): mean time, throughput, compile speed-up. */
export function formatBenchOpsFamilies(meta: BenchOpsMeta, c: Colors = makeColors(false)): string {
  const eager = new Map(meta.cases.filter((r) => !r.compiled).map((r) => [twinKey(r), r]));
  const groups = new Map<string, BenchCaseResult[]>();
  for (const r of meta.cases) {
    const k = `${r.family}\u0000${r.device}\u0000${r.dtype}\u0000${r.compiled}`;
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(r);
  }
  const cols: Column[] = [
    { title: 'family', align: 'left' },
    { title: 'device', align: 'left' },
    { title: 'dtype', align: 'left' },
    { title: 'compiled', align: 'left' },
    { title: 'cases', align: 'right' },
    { title: 'mean time', align: 'right' },
    { title: 'GFLOP/s', align: 'right' },
    { title: 'GB/s', align: 'right' },
  ];
  if (meta.compile) cols.push({ title: 'vs eager', align: 'right' });
  const rows: string[][] = [];
  for (const g of groups.values()) {
    const r0 = g[0];
    const row = [
      r0.family,
      r0.device,
      r0.dtype,
      r0.compiled ? 'yes' : 'no',
      String(g.length),
      formatDuration(avg(g.map((r) => r.timeNs.mean))),
      rate(avgKnown(g.map((r) => r.flopsPerSec))),
      rate(avgKnown(g.map((r) => r.bytesPerSec))),
    ];
    if (meta.compile) {
      // Geometric mean of the per-case ratios: one huge case does not drown the others.
      const ratios = g.flatMap((r) => {
        const e = eager.get(twinKey(r));
        return r.compiled && e && r.timeNs.mean > 0 ? [e.timeNs.mean / r.timeNs.mean] : [];
      });
      row.push(ratios.length ? speedup(Math.exp(avg(ratios.map(Math.log))), 1, c) : '');
    }
    rows.push(row);
  }
  return renderTable(cols, rows, c);
}

/** The model benchmark: one row per sequence length. */
export function formatBenchModel(meta: BenchModelMeta, c: Colors = makeColors(false)): string {
  const hasFreq = meta.seqs.some((s) => s.cpuMHz !== null);
  const hasTemp = meta.seqs.some((s) => s.temperatureC !== null);
  const cols: Column[] = [
    { title: 'seq', align: 'right' },
    { title: 'prefill tok/s', align: 'right' },
    { title: 'prefill latency', align: 'right' },
    { title: 'decode tok/s', align: 'right' },
    { title: 'per-token latency', align: 'right' },
    { title: 'peak memory', align: 'right' },
  ];
  if (hasFreq) cols.push({ title: 'cpu MHz', align: 'right' });
  if (hasTemp) cols.push({ title: 'temp °C', align: 'right' });
  const ms = (v: number) => formatDuration(v * 1e6);
  const rows = meta.seqs.map((s) => {
    const row = [
      String(s.seq),
      formatSig(s.prefill.tokensPerSec),
      `${ms(s.prefill.latencyMs.mean)} ± ${ms(s.prefill.latencyMs.std)}`,
      s.decode.tokens > 0 ? formatSig(s.decode.tokensPerSec) : '-',
      s.decode.tokens > 0 ? `${ms(s.decode.latencyMs.mean)} ± ${ms(s.decode.latencyMs.std)}` : '-',
      s.peakMemoryBytes === null ? '-' : formatBytes(s.peakMemoryBytes),
    ];
    if (hasFreq) row.push(s.cpuMHz === null ? '-' : formatSig(s.cpuMHz.mean));
    if (hasTemp) row.push(s.temperatureC === null ? '-' : `${formatSig(s.temperatureC.mean)} (max ${formatSig(s.temperatureC.max)})`);
    return row;
  });
  return renderTable(cols, rows, c);
}

function speedup(base: number | undefined, v: number, c: Colors): string {
  if (!base || !(v > 0)) return '-';
  const x = base / v;
  const s = `${x.toFixed(2)}x`;
  return x >= 1.05 ? c.green(s) : x <= 0.95 ? c.yellow(s) : s;
}

function avg(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function avgKnown(v: Array<number | null>): number | null {
  const k = v.filter((x): x is number => x !== null && x > 0);
  return k.length ? avg(k) : null;
}
