/**
 * exportHtml: a trace as one self-contained HTML dashboard (timeline, roofline, op table, category donut, summary).
 * All script, style and data are inline; the file makes no network request. The trace is not modified.
 */
import type { Trace } from '../../core/model/trace';
import { assertTrace } from '../../core/model/checks';
import { packTrace } from './pack';
import { renderDocument, writeDocument, type DocumentOptions } from './template';

export type HtmlOptions = DocumentOptions;

/** The report as a string. */
export function renderHtml(trace: Trace, options: HtmlOptions = {}): string {
  assertTrace(trace, 'renderHtml');
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
    assertTrace(trace, 'exportHtml');
    return renderDocument(packTrace(trace), options);
  }
  return (async () => {
    if (typeof path !== 'string' || path === '') throw new TypeError('exportHtml: the output path must be a non-empty string');
    assertTrace(trace, 'exportHtml');
    await writeDocument(path, packTrace(trace), options);
  })();
}
