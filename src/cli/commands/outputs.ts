import { isAbsolute, join, relative } from 'node:path';
import { advise } from '../../core/analysis/advisor';
import { saveTrace } from '../../core/io/persist';
import type { Trace } from '../../core/model/trace';
import { readAdvice } from '../../core/model/meta';
import { CHROME_TRACE_EXT, exportChromeTrace } from '../../exporters/chrome';
import { exportHtml } from '../../exporters/html';
import { printReport } from '../../exporters/terminal/report';
import { out } from '../ui';
import { TraceFileError } from '../../core/model/checks';
import { sameFile } from '../../core/io/atomic-file';

/**
 * Writes one output file through `write` (every writer goes through AtomicFile, so a failure leaves
 * the old file as it was): a failure becomes one TraceFileError line, which the CLI reports with exit
 * code 2. `inputs` are the traces the command read: an output that is one of them is refused first.
 */
export async function writeOutput(target: string, inputs: readonly string[], write: () => unknown): Promise<void> {
  for (const input of inputs) {
    if (sameFile(input, target)) throw new TraceFileError(target, 'unwritable', `not written: it is the input trace ${input}; give another output path`);
  }
  try {
    await write();
  } catch (e) {
    if (e instanceof TraceFileError) throw e;
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    // The exporters' 'cannot write the Chrome trace to <target>: <reason>' without the repeated path.
    const at = message.indexOf(`${target}: `);
    throw new TraceFileError(target, 'unwritable', at >= 0 ? `cannot write: ${message.slice(at + target.length + 2)}` : message);
  }
}

/** The files a profile run leaves behind, and where they are. */
export async function writeOutputs(trace: Trace, dir: string, opts: { report?: boolean; jsonWritten?: boolean | string } = {}): Promise<void> {
  const files: Array<[string, string]> = [];
  // The advisor's findings travel with the trace: the dashboard's summary and the report show them.
  if (readAdvice(trace.meta) === null) trace.meta.advice = advise(trace);
  // jsonWritten as a path: the trace is already saved there (the preload's trace.rank-N.json).
  const json = typeof opts.jsonWritten === 'string' ? opts.jsonWritten : join(dir, 'trace.json');
  if (!opts.jsonWritten) saveTrace(trace, json);
  files.push([json, 'the trace (mlx-trace view / html / convert / compare)']);
  const chrome = join(dir, `trace${CHROME_TRACE_EXT}`);
  await writeOutput(chrome, [], () => exportChromeTrace(trace, chrome));
  files.push([chrome, 'open in https://ui.perfetto.dev, chrome://tracing or speedscope']);
  const html = join(dir, 'report.html');
  await writeOutput(html, [], () => exportHtml(trace, html));
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
