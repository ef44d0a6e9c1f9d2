/**
 * exportHtml: a trace as one self-contained HTML dashboard (timeline, roofline, op table, category donut, summary).
 * All script, style and data are inline; the file makes no network request. The trace is not modified.
 */
import { TRACE_SCHEMA, type Trace } from '../../core/model/trace';
import { packTrace } from './pack';
import { renderDocument, writeDocument, type DocumentOptions } from './template';

export type HtmlOptions = DocumentOptions;

function checkTrace(trace: unknown, fn: string): asserts trace is Trace {
  if (!trace || typeof trace !== 'object' || !Array.isArray((trace as Trace).spans)) {
    const got = trace === null ? 'null' : Array.isArray(trace) ? 'an array' : typeof trace;
    throw new TypeError(`${fn}: expected an mlx-trace trace (an object with a spans array), got ${got}`);
  }
  const schema = (trace as Trace).schema;
  if (schema !== undefined && schema !== TRACE_SCHEMA) {
    throw new TypeError(`${fn}: unsupported trace schema ${JSON.stringify(schema)} (this version reads ${TRACE_SCHEMA})`);
  }
}

/** The report as a string. */
export function renderHtml(trace: Trace, options: HtmlOptions = {}): string {
  checkTrace(trace, 'renderHtml');
  return renderDocument(packTrace(trace), options);
}

/**
 * `exportHtml(trace)` returns the report as a string; `exportHtml(trace, 'report.html')` writes it to that file
 * and resolves when it is written.
 */
export function exportHtml(trace: Trace): string;
export function exportHtml(trace: Trace, path: string, options?: HtmlOptions): Promise<void>;
export function exportHtml(trace: Trace, path?: string, options?: HtmlOptions): string | Promise<void> {
  if (path === undefined) {
    checkTrace(trace, 'exportHtml');
    return renderDocument(packTrace(trace), options);
  }
  return (async () => {
    if (typeof path !== 'string' || path === '') throw new TypeError('exportHtml: the output path must be a non-empty string');
    checkTrace(trace, 'exportHtml');
    await writeDocument(path, packTrace(trace), options);
  })();
}
