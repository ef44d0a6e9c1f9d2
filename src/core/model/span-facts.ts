/**
 * Facts about one span that several views show: which layer built a primitive, how a tensor reads as a label,
 * the arithmetic intensity. Each is decided here once, so the terminal report, pass statistics, compare, the
 * advisor, the HTML dashboard and the Chrome/Perfetto/OTLP attributes name the same thing the same way.
 */
import type { Span, TensorInfo, Trace } from './trace';

/** Row key of primitives no layer built. */
export const NO_LAYER = '(no layer)';

/**
 * The layer that built a span, as the recorder names layer spans ('layers.0.mlp (MLP)'):
 * - a layer span is its own layer (its name);
 * - a primitive's `layerId` comes first: it is the identity of the layer call that built it, and the layer span's
 *   name is the key its wall time is counted under, so a layer's compute and its wall time land in one row;
 * - else (that span was dropped by maxSpans, cut off by a window, or the trace was made by hand) the primitive's
 *   own `layer` text, which the recorder copies from the same span's name;
 * - else NO_LAYER.
 * `layerSpan` finds a span by id (only layer spans matter); without it the `layer` text is used.
 */
export function layerOf(s: Span, layerSpan?: (id: number) => Span | undefined): string {
  if (s.kind === 'layer') return s.name;
  if (s.layerId != null && layerSpan) {
    const l = layerSpan(s.layerId);
    if (l && l.kind === 'layer') return l.name;
  }
  return typeof s.layer === 'string' && s.layer !== '' ? s.layer : NO_LAYER;
}

/** layerOf for every span of one trace, with the layer spans indexed once. */
export function layerResolver(trace: Pick<Trace, 'spans'>): (s: Span) => string {
  const layers = new Map<number, Span>();
  // Readers of unchecked input (the HTML packer) pass arrays that may hold non-spans: skip them.
  const spans = trace.spans;
  if (Array.isArray(spans)) {
    for (let i = 0; i < spans.length; i++) {
      const t = spans[i];
      if (t != null && t.kind === 'layer') layers.set(t.id, t);
    }
  }
  const find = (id: number) => layers.get(id);
  // Primitives come in runs built by one layer: answer a run without a lookup.
  let lastId: number | null | undefined;
  let lastLayer: string | null | undefined;
  let last = NO_LAYER;
  return (s) => {
    if (s.kind !== 'primitive') return layerOf(s, find);
    if (s.layerId !== lastId || s.layer !== lastLayer) {
      last = layerOf(s, find);
      lastId = s.layerId;
      lastLayer = s.layer;
    }
    return last;
  };
}

/** 'float32[2,8,64]' */
export function tensorLabel(t: Pick<TensorInfo, 'shape' | 'dtype'>): string {
  return `${t.dtype}[${Array.isArray(t.shape) ? t.shape.join(',') : ''}]`;
}

/** FLOPs per byte moved, when both are known and bytes is a number other than 0; else undefined. */
export function intensityOf(s: { flops?: number | null; bytes?: number | null }): number | undefined {
  return s.flops != null && s.bytes ? s.flops / s.bytes : undefined;
}

/** Spans that force MLX to run work: eval and asyncEval (kind 'eval') and sync points such as item() (kind 'sync'). */
export function isForcing(s: Pick<Span, 'kind'>): boolean {
  return s.kind === 'eval' || s.kind === 'sync';
}
