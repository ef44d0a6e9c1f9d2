import { resolve } from 'node:path';
import { loadTrace } from '../../core/persist';
import { saveTrace } from '../../core/persist';
import { exportChromeTrace } from '../../exporters/chrome';
import { exportHtml } from '../../exporters/html';
import { exportOtlp, resolveOtlpUrl } from '../../exporters/otlp';
import { exportPerfetto } from '../../exporters/perfetto';
import { printReport, type ReportGroupBy, type ReportSortBy } from '../../exporters/report';
import { CheckFailed, UsageError, out } from '../ui';
import type { Command } from './index';

const SORTS = ['total', 'self', 'mean', 'calls', 'flops', 'name'];
const GROUPS = ['op', 'layer', 'device'];

function oneFile(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`give one trace file: mlx-trace ${cmd} trace.json`);
  return positionals[0];
}

function choice(v: string | undefined, allowed: string[], flag: string): string | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, not "${v}"`);
  return v;
}

export const viewCommand: Command = {
  summary: 'print the report of a saved trace',
  help: `Usage: mlx-trace view FILE [--sort total|self|mean|calls|flops|name] [--group-by op|layer|device] [--top N] [--advice]

Options:
  --advice         add the advisor's findings: what to fix, with the time at stake
  --sort KEY       column to sort by (default: total)
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
    const target = resolve(values.out ?? file.replace(/(\.trace)?\.json$/i, '') + '.html');
    await exportHtml(trace, target);
    out(`wrote ${target}`);
    return 0;
  },
};

export const convertCommand: Command = {
  summary: 'convert a saved trace to Chrome trace JSON, Perfetto protobuf or mlx-trace JSON',
  help: `Usage: mlx-trace convert FILE --to chrome|perfetto|json [-o OUT]

  chrome     Trace Event Format JSON (Perfetto UI, chrome://tracing, speedscope); .gz gzips
  perfetto   Perfetto's protobuf trace (.perfetto-trace), smaller and faster to load
  json       mlx-trace's own format (re-validated and rewritten)`,
  options: { to: { type: 'string' }, out: { type: 'string', short: 'o' } },
  async run(values, positionals) {
    const file = oneFile(positionals, 'convert');
    const to = choice(values.to, ['chrome', 'perfetto', 'json'], '--to');
    if (!to) throw new UsageError('say what to convert to: --to chrome|perfetto|json');
    const trace = loadTrace(file);
    const base = file.replace(/(\.trace)?\.json$/i, '');
    const ext = { chrome: '.chrome.json', perfetto: '.perfetto-trace', json: '.converted.json' }[to];
    const target = resolve(values.out ?? base + ext);
    if (to === 'chrome') await exportChromeTrace(trace, target);
    else if (to === 'perfetto') await exportPerfetto(trace, target);
    else saveTrace(trace, target);
    out(`wrote ${target}`);
    return 0;
  },
};

export const exportCommand: Command = {
  summary: 'send a saved trace to an OpenTelemetry collector (OTLP/HTTP), e.g. Jaeger',
  help: `Usage: mlx-trace export FILE [--otlp URL] [--service NAME]

URL defaults to $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, $OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces,
then http://localhost:4318/v1/traces. Exits 1 when spans could not be delivered.`,
  options: { otlp: { type: 'string' }, service: { type: 'string' } },
  async run(values, positionals) {
    const trace = loadTrace(oneFile(positionals, 'export'));
    const url = resolveOtlpUrl(values.otlp);
    const r = await exportOtlp(trace, { url, serviceName: values.service });
    if (r.dropped > 0 || r.error) throw new CheckFailed(r.summary);
    out(r.summary);
    return 0;
  },
};
