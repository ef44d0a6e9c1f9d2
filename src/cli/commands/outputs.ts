import { isAbsolute, join, relative } from 'node:path';
import { advise } from '../../core/analysis/advisor';
import { saveTrace } from '../../core/io/persist';
import type { Trace } from '../../core/model/trace';
import { readAdvice } from '../../core/model/meta';
import { exportChromeTrace } from '../../exporters/chrome';
import { exportHtml } from '../../exporters/html';
import { printReport } from '../../exporters/terminal/report';
import { out } from '../ui';

/** The files a profile run leaves behind, and where they are. */
export async function writeOutputs(trace: Trace, dir: string, opts: { report?: boolean; jsonWritten?: boolean | string } = {}): Promise<void> {
  const files: Array<[string, string]> = [];
  // The advisor's findings travel with the trace: the dashboard's summary and the report show them.
  if (readAdvice(trace.meta) === null) trace.meta.advice = advise(trace);
  // jsonWritten as a path: the trace is already saved there (the preload's trace.rank-N.json).
  const json = typeof opts.jsonWritten === 'string' ? opts.jsonWritten : join(dir, 'trace.json');
  if (!opts.jsonWritten) saveTrace(trace, json);
  files.push([json, 'the trace (mlx-trace view / html / convert / compare)']);
  const chrome = join(dir, 'trace.chrome.json');
  await exportChromeTrace(trace, chrome);
  files.push([chrome, 'open in https://ui.perfetto.dev or chrome://tracing']);
  const html = join(dir, 'report.html');
  await exportHtml(trace, html);
  files.push([html, 'open in a browser: timeline, roofline, op table']);
  if (opts.report) printReport(trace, { advice: true });
  out('');
  out('Files written:');
  const width = Math.max(...files.map(([f]) => shown(f).length));
  for (const [f, what] of files) out(`  ${shown(f).padEnd(width)}  ${what}`);
}

/** A path as the user would type it: relative below the current folder, absolute elsewhere. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}
