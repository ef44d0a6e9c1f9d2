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
  /** Flow id, ph 's' / 'f'. */
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
}

/** Process ids: one per device. */
export const CHROME_PID = { cpu: 1, gpu: 2 } as const;
