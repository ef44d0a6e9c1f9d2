import { resolve } from 'node:path';
import { loadTrace, saveTrace } from '../../core/io/persist';
import { CHROME_TRACE_EXT, exportChromeTrace } from '../../exporters/chrome';
import { exportHtml } from '../../exporters/html';
import { collectorUrlProblem, exportOtlp, resolveOtlpUrl } from '../../exporters/otlp';
import { exportPerfetto } from '../../exporters/perfetto';
import { GROUP_KEYS, printReport, SORT_KEYS, type ReportGroupBy, type ReportSortBy } from '../../exporters/terminal/report';
import { CheckFailed, UsageError, out } from '../ui';
import type { Command } from './index';
import { writeOutput } from './outputs';

const SORTS: string[] = [...SORT_KEYS];
const GROUPS: string[] = [...GROUP_KEYS];

/** A trace file's name without its extension (.json, .trace.json, .mlxtrace). */
const baseName = (file: string) => file.replace(/(\.trace)?\.(json|mlxtrace)$/i, '');

function oneFile(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`give one trace file: mlx-trace ${cmd} trace.json`);
  return inputPath(positionals[0]);
}

/** A trace file argument: '-' reads standard input (a pipe: `cat t.json | mlx-trace view -`). */
const inputPath = (p: string): string => (p === '-' ? '/dev/stdin' : p);

function choice(v: string | undefined, allowed: string[], flag: string): string | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, not "${v}"`);
  return v;
}

export const viewCommand: Command = {
  summary: 'print the report of a saved trace',
  help: `Usage: mlx-trace view FILE [--sort ${SORT_KEYS.join('|')}] [--group-by ${GROUP_KEYS.join('|')}] [--top N] [--advice]

Options:
  --advice         add the advisor's findings: what to fix, with the time at stake
  --sort KEY       column to sort by (default: compute, the time of the primitives each layer built, with
                   --group-by layer; total elsewhere). By layer, total is the layers' graph-building wall time
  --group-by KEY   one row per op, per layer or per device (default: op)
  --top N          rows to show (default: 20)`,
  options: { sort: { type: 'string' }, 'group-by': { type: 'string' }, top: { type: 'string' }, advice: { type: 'boolean' } },
  async run(values, positionals) {
    const trace = loadTrace(oneFile(positionals, 'view'));
    const top = values.top === undefined ? undefined : Number(values.top);
    if (top !== undefined && (!Number.isInteger(top) || top < 1)) throw new UsageError(`--top must be a positive whole number, not "${values.top}"`);
    printReport(trace, {
      sortBy: choice(values.sort, SORTS, '--sort') as ReportSortBy | undefined,
      groupBy: choice(values['group-by'], GROUPS, '--group-by') as ReportGroupBy | undefined,
      top,
      advice: values.advice === true,
    });
    return 0;
  },
};

export const htmlCommand: Command = {
  summary: 'render a saved trace as a self-contained HTML dashboard',
  help: `Usage: mlx-trace html FILE [-o OUT]

Writes one HTML file (default: FILE with .html) that works offline: timeline, roofline,
op table, category donut and summary.`,
  options: { out: { type: 'string', short: 'o' } },
  async run(values, positionals) {
    const file = oneFile(positionals, 'html');
    const trace = loadTrace(file);
    const target = resolve(values.out ?? baseName(file) + '.html');
    await writeOutput(target, [file], () => exportHtml(trace, target));
    out(`wrote ${target}`);
    return 0;
  },
};

const FORMATS = ['chrome', 'perfetto', 'json', 'mlxtrace'];

/** The format an output file's name asks for, when it says. */
function formatOf(out: string): string | undefined {
  if (/\.mlxtrace$/i.test(out)) return 'mlxtrace';
  if (/\.(perfetto-trace|pftrace)$/i.test(out)) return 'perfetto';
  if (/\.chrome(-trace)?\.json(\.gz)?$/i.test(out)) return 'chrome';
  if (/\.json$/i.test(out)) return 'json';
  return undefined;
}

export const convertCommand: Command = {
  summary: 'convert a saved trace to Chrome trace JSON, Perfetto protobuf, or mlx-trace JSON or .mlxtrace',
  help: `Usage: mlx-trace convert FILE [OUT] [--to chrome|perfetto|json|mlxtrace] [-o OUT]

  chrome     Trace Event Format JSON (Perfetto UI, chrome://tracing, speedscope); .gz gzips
  perfetto   Perfetto's protobuf trace (.perfetto-trace), smaller and faster to load
  json       mlx-trace's own format as JSON, readable (re-validated and rewritten;
             the binary layout when OUT ends in .mlxtrace)
  mlxtrace   mlx-trace's own format in its binary layout (.mlxtrace): for big traces,
             several times faster to save and load, and smaller

Without --to, OUT's extension says: .mlxtrace, .json, .chrome-trace.json, .perfetto-trace.
  mlx-trace convert trace.json trace.mlxtrace     and back: mlx-trace convert trace.mlxtrace trace.json`,
  options: { to: { type: 'string' }, out: { type: 'string', short: 'o' } },
  async run(values, positionals) {
    if (positionals.length < 1 || positionals.length > 2) throw new UsageError('give one trace file (and where to write it): mlx-trace convert trace.json trace.mlxtrace');
    if (positionals.length === 2 && values.out !== undefined) throw new UsageError('give OUT or -o OUT, not both');
    const file = inputPath(positionals[0]);
    const outFile = positionals[1] ?? values.out;
    const to = choice(values.to, FORMATS, '--to') ?? (outFile === undefined ? undefined : formatOf(outFile));
    if (!to) throw new UsageError('say what to convert to: --to chrome|perfetto|json|mlxtrace');
    const trace = loadTrace(file);
    const base = baseName(file);
    const ext = { chrome: CHROME_TRACE_EXT, perfetto: '.perfetto-trace', json: '.converted.json', mlxtrace: /\.mlxtrace$/i.test(file) ? '.converted.mlxtrace' : '.mlxtrace' }[to];
    const target = resolve(outFile ?? base + ext);
    await writeOutput(target, [file], () => {
      if (to === 'chrome') return exportChromeTrace(trace, target);
      if (to === 'perfetto') return exportPerfetto(trace, target);
      return saveTrace(trace, target, to === 'mlxtrace' ? { format: 'binary' } : {});
    });
    out(`wrote ${target}`);
    return 0;
  },
};

export const exportCommand: Command = {
  summary: 'send a saved trace to an OpenTelemetry collector (OTLP/HTTP), e.g. Jaeger',
  help: `Usage: mlx-trace export FILE [--otlp URL] [--service NAME]

URL defaults to $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces,
then http://localhost:4318/v1/traces. Exits 1 when spans could not be delivered (the line says how many and
why: connection refused, HTTP 429, the export's deadline...), 2 for a URL that is not http(s).`,
  options: { otlp: { type: 'string' }, service: { type: 'string' } },
  async run(values, positionals) {
    const file = oneFile(positionals, 'export');
    const url = resolveOtlpUrl(values.otlp);
    const problem = collectorUrlProblem(url);
    if (problem) throw new UsageError(problem);
    const trace = loadTrace(file);
    const r = await exportOtlp(trace, { url, serviceName: values.service });
    if (r.dropped > 0 || r.error) throw new CheckFailed(r.summary);
    out(r.summary);
    return 0;
  },
};
