import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { saveTrace } from '../../core/io/persist';
import type { Device } from '../../core/model/trace';
import { exportHtml } from '../../exporters/html';
import { BENCH_DTYPES, expandCases, OP_FAMILIES, SIZE_TIERS, type BenchDtype, type SizeTier } from '../../bench/ops-suite';
import { benchOps } from '../../bench/runner';
import { formatBenchOpsDetail, formatBenchOpsFamilies } from '../../bench/tables';
import { CheckFailed, Progress, UsageError, colors, out } from '../ui';
import { positiveInt } from './demo';
import type { Command } from './index';

export const benchOpsCommand: Command = {
  summary: 'benchmark MLX ops at several sizes, eager and compiled; the results are one trace',
  help: `Usage: mlx-trace bench-ops [--filter REGEX] [--dtype float32|float16|bfloat16] [--compile]
                         [--device cpu|gpu|all] [--sizes small|medium|large] [--iterations N]
                         [--warmup N] [--out DIR] [--html]

Runs a suite of MLX operations, each at several sizes:
${wrap(OP_FAMILIES.map((f) => f.name).join(', ') + '.', 98, '  ')}
Every case passes its own arguments and evaluates its output; warm-up passes are kept in the trace,
marked, and left out of the statistics. Each case is a span ('matmul 1024x1024x1024 float32 cpu')
with its passes and MLX primitives beneath, so "mlx-trace view", "html" and "compare" work on the
result. Ops this MLX build cannot run (checked first in a separate process) are listed as skipped.

Options:
  --filter REGEX     run only cases whose name matches (e.g. "^matmul", "norm", "float32 cpu$");
                     with --compile a matching case brings its compiled twin
  --dtype LIST       float32, float16, bfloat16, comma-separated (default: float32)
  --compile          also run every case through mx.compile and compare with the eager run
  --device LIST      cpu, gpu or all (default: all; unavailable devices are reported)
  --sizes LIST       small, medium, large, comma-separated (default: medium)
  --iterations N     measured passes per case (default: 10)
  --warmup N         warm-up passes per case (default: 2)
  --out DIR          output folder for bench-ops.json (default: mlx-trace-bench)
  --html             also write DIR/report.html`,
  options: {
    filter: { type: 'string' },
    dtype: { type: 'string' },
    compile: { type: 'boolean' },
    device: { type: 'string' },
    sizes: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    out: { type: 'string', short: 'o' },
    html: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const dtypes = list(values.dtype ?? 'float32', BENCH_DTYPES, '--dtype') as BenchDtype[];
    const sizes = list(values.sizes ?? 'medium', SIZE_TIERS, '--sizes') as SizeTier[];
    const devices = (values.device ?? 'all') === 'all' ? (['cpu', 'gpu'] as Device[]) : (list(values.device, ['cpu', 'gpu'], '--device') as Device[]);
    const iterations = positiveInt(values.iterations ?? '10', '--iterations');
    const warmup = nonNegativeInt(values.warmup ?? '2', '--warmup');
    let filter: RegExp | undefined;
    if (values.filter !== undefined) {
      try {
        filter = new RegExp(values.filter);
      } catch (e) {
        throw new UsageError(`--filter is not a valid regular expression: ${(e as Error).message}`);
      }
    }
    const outDir = resolve(values.out ?? 'mlx-trace-bench');
    const c = colors();

    if (expandCases({ sizes, dtypes, devices, compile: false, filter }).length === 0) {
      throw new UsageError(`no case matches --filter "${values.filter}" with --sizes ${sizes.join(',')} and --dtype ${dtypes.join(',')}`);
    }
    // Created on the first report: the total is known once unavailable devices are left out.
    const bar: { p: Progress | null } = { p: null };
    const { trace, bench } = await benchOps({
      filter,
      dtypes,
      sizes,
      devices,
      compile: !!values.compile,
      iterations,
      warmup,
      onProgress: (done, total, name) => {
        bar.p ??= new Progress('bench-ops', total);
        bar.p.tick(done, name);
      },
    });
    bar.p?.done();

    for (const d of bench.devices) {
      out(d.available ? `${d.device}: available` : `${d.device}: unavailable (${d.reason})`);
    }
    if (!bench.devices.some((d) => d.available)) throw new CheckFailed('no device to run on');
    const total = bench.cases.length + bench.skipped.length;
    out(`timing: ${trace.meta.timing === 'native' ? 'native hook layer' : `JS level (${trace.meta.fallbackReason ?? 'no native layer'})`}; ${iterations} pass${iterations === 1 ? '' : 'es'} after ${warmup} warm-up per case`);
    out('');
    if (bench.cases.length) {
      out(c.bold('Detailed results'));
      out(formatBenchOpsDetail(bench, c));
      out('');
      out(c.bold('Average per op family'));
      out(formatBenchOpsFamilies(bench, c));
    }
    if (bench.skipped.length) {
      out('');
      out(c.yellow(`Skipped ${bench.skipped.length} of ${total} cases:`));
      const byReason = new Map<string, string[]>();
      for (const s of bench.skipped) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.name]);
      for (const [reason, names] of byReason) {
        out(`  ${reason}`);
        for (const n of names) out(`    ${n}`);
      }
    }
    if (bench.probeSkipped) out(c.dim(`(ops were not checked in a separate process first: ${bench.probeSkipped})`));

    mkdirSync(outDir, { recursive: true });
    const files: Array<[string, string]> = [];
    const json = join(outDir, 'bench-ops.json');
    saveTrace(trace, json);
    files.push([json, 'the trace with every case (mlx-trace view / html / compare)']);
    if (values.html) {
      const html = join(outDir, 'report.html');
      await exportHtml(trace, html);
      files.push([html, 'open in a browser: timeline, roofline, op table']);
    }
    out('');
    out('Files written:');
    for (const [f, what] of files) out(`  ${relative(process.cwd(), f) || f}  ${what}`);
    return bench.cases.length ? 0 : 1;
  },
};

/** A comma-separated list of allowed words. */
export function list(v: string, allowed: readonly string[], flag: string): string[] {
  const items = String(v)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new UsageError(`${flag} needs a value (${allowed.join(', ')})`);
  for (const i of items) if (!allowed.includes(i)) throw new UsageError(`${flag} must be ${allowed.join(', ')} (comma-separated), not "${i}"`);
  return [...new Set(items)];
}

export function nonNegativeInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || v.trim() === '') throw new UsageError(`${flag} must be a whole number (0 or more), not "${v}"`);
  return n;
}

/** Words laid out in lines of at most `width` columns, each starting with `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = indent;
  for (const w of text.split(' ')) {
    if (line.length > indent.length && line.length + 1 + w.length > width) {
      lines.push(line);
      line = indent;
    }
    line += (line.length > indent.length ? ' ' : '') + w;
  }
  lines.push(line);
  return lines.join('\n');
}
