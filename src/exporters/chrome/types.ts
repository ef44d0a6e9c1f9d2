/** The Chrome exporter's public types and the fixed ids of its processes. */

/** One Trace Event Format record, as written. */
export interface ChromeTraceEvent {
  name: string;
  ph: 'X' | 'C' | 'M' | 's' | 'f';
  /** Microseconds since the trace origin (decimals keep ns). */
  ts?: number;
  /** Microseconds, ph 'X' only. */
  dur?: number;
  pid: number;
  tid?: number;
  cat?: string;
  /** Flow id for ph 's' / 'f'; the span id for a slice (ph 'X'). */
  id?: number;
  /** 'e': the flow end binds to the slice enclosing it. */
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface ChromeTraceOptions {
  /** Emit flow arrows from layers to the primitives they built. @default true */
  flows?: boolean;
  /** Emit the live-memory counter. @default true */
  memory?: boolean;
  /** Emit the trace's counter tracks (trace.counters). @default true */
  counters?: boolean;
}

export interface ChromeExportResult {
  /** Trace events written (metadata, slices, counters, flows). */
  events: number;
  /** JSON bytes written (before compression for '.gz'). */
  bytes: number;
  /** Spans written as slices. */
  spans: number;
  /** Layer-to-primitive flows written. */
  flows: number;
  /** Spans moved to an overflow thread because they partially overlapped another span. */
  overflowed: number;
  /** Spans left out because their times were not valid numbers or end < start. */
  skipped: number;
}

/** Stats filled while events are generated (read them after the iterator is done). */
export interface ChromeTraceStats {
  events: number;
  spans: number;
  flows: number;
  overflowed: number;
  skipped: number;
  /** ns added to every time so that none is negative (0 unless something precedes the trace origin). */
  shift: number;
}

/**
 * The file name ending for Chrome trace files. speedscope picks its importer by name and sends '.chrome.json'
 * to its DevTools-timeline importer, which cannot read this format; any other name reaches its trace-event importer.
 */
export const CHROME_TRACE_EXT = '.chrome-trace.json';

/** Process ids: one per device. */
export const CHROME_PID = { cpu: 1, gpu: 2 } as const;
