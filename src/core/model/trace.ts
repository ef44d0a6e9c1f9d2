/**
 * The trace model: plain data that every importer writes and every exporter reads.
 * Nothing here knows about MLX; a Trace can be built by hand, loaded from disk or recorded live.
 */

export const TRACE_SCHEMA = 'mlx-trace/1';

export type SpanKind = 'eval' | 'layer' | 'primitive' | 'sync' | 'user';
export type Device = 'cpu' | 'gpu';
export type TimingMode = 'native' | 'js';

/** One array seen by a span: its shape, dtype name ('float32', 'bfloat16', ...) and size in bytes. */
export interface TensorInfo {
  shape: number[];
  dtype: string;
  bytes: number;
}

export interface Span {
  /** Unique within the trace, > 0. */
  id: number;
  /** The enclosing span (an eval for a primitive, the calling layer for a layer), or null at the top. */
  parentId: number | null;
  kind: SpanKind;
  /** 'Matmul', 'eval', 'layers.0.attention (Attention)', ... */
  name: string;
  /** Nanoseconds since meta.origin (monotonic clock). end >= start. */
  start: number;
  end: number;
  /** OS thread id where it ran (0 when unknown). */
  thread: number;
  device: Device;
  /** Read-only: spans with the same shapes may share one array (and TensorInfos are frozen). */
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Floating-point operations by the cost model; null when no formula exists for this op. */
  flops: number | null;
  /** Bytes read + written by the cost model; null when unknown. */
  bytes: number | null;
  /** For a primitive: the id of the layer span that built its output (lazy graphs run later than they are built). */
  layerId?: number | null;
  /** For a primitive: the path of that layer ('layers.0.attention'). */
  layer?: string | null;
  /** Multi-pass profiles: which pass this span belongs to, and whether it was a warm-up pass. */
  pass?: number;
  warmup?: boolean;
  /** Free-form extra attributes (OTel-style keys without the mlx. prefix). */
  attrs?: Record<string, string | number | boolean>;
}

/** One allocator event: a malloc (+bytes) or free (-bytes), with live bytes after it. */
export interface MemoryEvent {
  t: number;
  delta: number;
  live: number;
  /** The primitive running on the allocating thread, if any. */
  op?: string | null;
}

export interface HostInfo {
  platform: string;
  arch: string;
  cpuModel: string;
  cpus: number;
  totalMemory: number;
  hostname: string;
}

export interface Peaks {
  /** FLOP/s of the compute ceiling. */
  flops: number;
  /** Bytes/s of the bandwidth ceiling. */
  bandwidth: number;
  source: 'calibrated' | 'default';
}

export interface TraceMeta {
  timing: TimingMode;
  createdAt: string;
  /** Time zero of the spans: the monotonic clock (ns, as a number) and wall clock (ns since epoch, decimal string). */
  origin: { monotonicNs: number; epochNs: string };
  host: HostInfo;
  versions: { mlx: string; node: string; mlxTrace: string };
  peaks: Peaks;
  /** Why the native layer is not in use, when timing is 'js'. */
  fallbackReason?: string;
  /**
   * ns the threads that ran the primitives spent runnable but waiting for a CPU core during the
   * recording (Linux); busy time passes with no primitive while they do.
   */
  coreWaitNs?: number;
  /** Extra facts (passes, warmup, generation stats...). */
  [key: string]: unknown;
}

export interface Trace {
  schema: typeof TRACE_SCHEMA;
  name: string;
  meta: TraceMeta;
  spans: Span[];
  memory: MemoryEvent[];
  /** Events the recorder had to drop because a buffer was full. */
  dropped: number;
  /** Sampled counter tracks (CPU frequency, temperature...); sample times in ns since meta.origin, like spans. */
  counters?: Array<{ name: string; unit: string; samples: Array<[t: number, value: number]> }>;
}

export function spanDuration(s: Span): number {
  return s.end - s.start;
}

/**
 * Visit spans depth-first in start order, calling open on entry and close on exit (speedscope's
 * forEachCall). Every span is visited once, however deep the tree: spans caught in a cycle of
 * parents (no root above them) are visited as roots of their own, in start order, after the others.
 */
export function forEachSpan(
  trace: Trace,
  open: (s: Span, depth: number) => void,
  close?: (s: Span, depth: number) => void,
): void {
  const children = childrenIndex(trace);
  const seen = new Set<Span>();
  // An explicit stack of (span, index of its next child): no recursion, so depth is not bounded by the call stack.
  const stack: Span[] = [];
  const next: number[] = [];
  const walk = (root: Span) => {
    seen.add(root);
    open(root, 0);
    stack.push(root);
    next.push(0);
    while (stack.length > 0) {
      const top = stack.length - 1;
      const s = stack[top];
      const kids = children.get(s.id);
      const k = next[top]++;
      if (kids !== undefined && k < kids.length) {
        const c = kids[k];
        if (seen.has(c)) continue;
        seen.add(c);
        open(c, stack.length);
        stack.push(c);
        next.push(0);
      } else {
        stack.pop();
        next.pop();
        close?.(s, top);
      }
    }
  };
  for (const root of children.get(null) ?? []) walk(root);
  if (seen.size === trace.spans.length) return;
  const rest = trace.spans.filter((s) => !seen.has(s)).sort((a, b) => a.start - b.start || b.end - a.end);
  for (const s of rest) if (!seen.has(s)) walk(s);
}

/** Map parentId -> children sorted by start. Spans whose parent is missing count as roots. */
export function childrenIndex(trace: Trace): Map<number | null, Span[]> {
  const ids = new Set<number>();
  for (const s of trace.spans) ids.add(s.id);
  const m = new Map<number | null, Span[]>();
  for (const s of trace.spans) {
    const key = s.parentId != null && ids.has(s.parentId) ? s.parentId : null;
    let arr = m.get(key);
    if (!arr) m.set(key, (arr = []));
    arr.push(s);
  }
  for (const arr of m.values()) arr.sort((a, b) => a.start - b.start || b.end - a.end);
  return m;
}
