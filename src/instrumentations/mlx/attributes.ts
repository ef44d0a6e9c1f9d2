/**
 * The attributes of a span, written once for every output: the `mlx.*` names of OpenTelemetry (live bridge and
 * OTLP export), and the short keys of Chrome's args and Perfetto's debug annotations.
 *
 * forEachSpanAttribute walks a span's attributes in one fixed order and hands each to a visitor with its typed
 * value; spanAttributes (OTel) and spanArgs (Chrome/Perfetto keys) build objects from it, and the exporters' byte
 * writers implement the visitor to write straight into their buffers. Adding a field means adding one entry to
 * SPAN_ATTRS and one line to forEachSpanAttribute.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Span, TensorInfo } from '../../core/model/trace';
import { RANK_ATTR } from '../../core/analysis/merge';
import { intensityOf, tensorLabel } from '../../core/model/span-facts';

export const ATTR_MLX_SPAN_ID = 'mlx.span_id';
export const ATTR_MLX_KIND = 'mlx.kind';
export const ATTR_MLX_DEVICE = 'mlx.device';
export const ATTR_MLX_THREAD = 'mlx.thread';
export const ATTR_MLX_OP = 'mlx.op';
export const ATTR_MLX_INPUT_SHAPES = 'mlx.input_shapes';
export const ATTR_MLX_SHAPES = 'mlx.shapes';
export const ATTR_MLX_DTYPE = 'mlx.dtype';
export const ATTR_MLX_FLOPS = 'mlx.flops';
export const ATTR_MLX_BYTES = 'mlx.bytes';
export const ATTR_MLX_INTENSITY = 'mlx.intensity';
export const ATTR_MLX_LAYER = 'mlx.layer';
export const ATTR_MLX_PASS = 'mlx.pass';
export const ATTR_MLX_WARMUP = 'mlx.warmup';
/** A merged trace's rank (span.attrs[RANK_ATTR]) or the live process's rank, under the mlx prefix. */
export const ATTR_MLX_DISTRIBUTED_RANK = `mlx.${RANK_ATTR}`;
/** On a primitive's link to the layer span that built it. */
export const ATTR_MLX_LINK = 'mlx.link';
export const MLX_LINK_BUILT_BY = 'built-by';
/** The root span of an OTLP export: the trace's own facts. */
export const ATTR_MLX_TIMING = 'mlx.timing';
export const ATTR_MLX_DROPPED_EVENTS = 'mlx.dropped_events';
export const ATTR_MLX_SPAN_COUNT = 'mlx.span_count';
export const ATTR_MLX_PEAK_FLOPS = 'mlx.peak.flops';
export const ATTR_MLX_PEAK_BANDWIDTH = 'mlx.peak.bandwidth';
export const ATTR_MLX_FALLBACK_REASON = 'mlx.fallback_reason';
/** Resource attributes. */
export const ATTR_MLX_VERSION = 'mlx.version';
export const ATTR_MLX_TRACE_VERSION = 'mlx.trace.version';

export type SpanAttrType = 'number' | 'string' | 'boolean' | 'tensors';

/** One built-in attribute of a span. */
export interface SpanAttr {
  /** Position in SPAN_ATTRS (exporters index their pre-encoded pieces by it). */
  readonly index: number;
  /** Key in Chrome args and Perfetto annotations; null where those formats show it otherwise (pid, tid, name). */
  readonly key: string | null;
  /** OpenTelemetry name; null where OTLP shows it otherwise (the parent span, a link). */
  readonly otel: string | null;
  readonly type: SpanAttrType;
  /**
   * Which occurrence this is (a span id, the pass it ran in) rather than what ran: spans of the same op with the
   * same shapes differ in it. Chrome args leave these out, so speedscope can aggregate (it keys frames by args).
   */
  readonly instance: boolean;
}

const attr = (index: number, key: string | null, otel: string | null, type: SpanAttrType, instance = false): SpanAttr =>
  Object.freeze({ index, key, otel, type, instance });

/** The built-in attributes, in the order forEachSpanAttribute visits them. */
export const SPAN_ATTRS = Object.freeze({
  id: attr(0, 'id', ATTR_MLX_SPAN_ID, 'number', true),
  kind: attr(1, 'kind', ATTR_MLX_KIND, 'string'),
  device: attr(2, null, ATTR_MLX_DEVICE, 'string'),
  thread: attr(3, null, ATTR_MLX_THREAD, 'number'),
  op: attr(4, null, ATTR_MLX_OP, 'string'),
  parent: attr(5, 'parent', null, 'number', true),
  inputs: attr(6, 'inputs', ATTR_MLX_INPUT_SHAPES, 'tensors'),
  outputs: attr(7, 'outputs', ATTR_MLX_SHAPES, 'tensors'),
  dtype: attr(8, 'dtype', ATTR_MLX_DTYPE, 'string'),
  flops: attr(9, 'flops', ATTR_MLX_FLOPS, 'number'),
  bytes: attr(10, 'bytes', ATTR_MLX_BYTES, 'number'),
  intensity: attr(11, 'intensity', ATTR_MLX_INTENSITY, 'number'),
  layer: attr(12, 'layer', ATTR_MLX_LAYER, 'string'),
  layerId: attr(13, 'layerId', null, 'number', true),
  pass: attr(14, 'pass', ATTR_MLX_PASS, 'number', true),
  warmup: attr(15, 'warmup', ATTR_MLX_WARMUP, 'boolean', true),
});
const A = SPAN_ATTRS;
export const SPAN_ATTR_LIST: readonly SpanAttr[] = Object.values(SPAN_ATTRS).sort((a, b) => a.index - b.index);

/** Receives a span's attributes in order; `extra` gets span.attrs entries that no built-in attribute covers. */
export interface SpanAttributeVisitor {
  number(a: SpanAttr, v: number): void;
  string(a: SpanAttr, v: string): void;
  boolean(a: SpanAttr, v: boolean): void;
  tensors(a: SpanAttr, v: readonly TensorInfo[]): void;
  extra(key: string, v: unknown): void;
}

/** The span fields the attributes are read from: a saved Span, or a live one whose cost may not be known yet. */
export type AttributeSource = Omit<Span, 'flops' | 'bytes' | 'pass' | 'warmup'> & {
  flops?: number | null;
  bytes?: number | null;
  pass?: number;
  warmup?: boolean;
};

const NO_TENSORS: readonly TensorInfo[] = [];
/** A span's inputs/outputs, tolerating a hand-made trace that left them out. */
export function tensorList(x: readonly TensorInfo[] | undefined): readonly TensorInfo[] {
  return Array.isArray(x) ? x : NO_TENSORS;
}

/**
 * Visits the span's attributes: the built-in ones it has, then each span.attrs entry except those naming a
 * built-in attribute the span has (the span's own fields win, in every output alike).
 */
// One straight run over the fields, in output order: the list of attributes is this function.
export function forEachSpanAttribute(s: AttributeSource, v: SpanAttributeVisitor): void {
  // Bit i set: SPAN_ATTRS entry i was visited.
  let has = 0b11111; // id, kind, device, thread, op
  v.number(A.id, s.id);
  v.string(A.kind, String(s.kind));
  v.string(A.device, String(s.device));
  v.number(A.thread, s.thread);
  if (s.kind === 'primitive') v.string(A.op, String(s.name));
  else has &= ~(1 << A.op.index);
  if (s.parentId != null) {
    v.number(A.parent, s.parentId);
    has |= 1 << A.parent.index;
  }
  const inputs = tensorList(s.inputs);
  const outputs = tensorList(s.outputs);
  if (inputs.length > 0) {
    v.tensors(A.inputs, inputs);
    has |= 1 << A.inputs.index;
  }
  if (outputs.length > 0) {
    v.tensors(A.outputs, outputs);
    has |= 1 << A.outputs.index;
  }
  // The dtype a span is labelled with: its first output's, else its first input's (an op without outputs).
  const dtype = (outputs[0] ?? inputs[0])?.dtype;
  if (dtype) {
    v.string(A.dtype, String(dtype));
    has |= 1 << A.dtype.index;
  }
  const { flops, bytes } = s;
  if (flops != null) {
    v.number(A.flops, flops);
    has |= 1 << A.flops.index;
  }
  if (bytes != null) {
    v.number(A.bytes, bytes);
    has |= 1 << A.bytes.index;
  }
  const intensity = intensityOf(s);
  if (intensity !== undefined) {
    v.number(A.intensity, intensity);
    has |= 1 << A.intensity.index;
  }
  if (s.layer != null) {
    v.string(A.layer, String(s.layer));
    has |= 1 << A.layer.index;
  }
  if (s.layerId != null) {
    v.number(A.layerId, s.layerId);
    has |= 1 << A.layerId.index;
  }
  if (s.pass != null) {
    v.number(A.pass, s.pass);
    has |= 1 << A.pass.index;
  }
  if (s.warmup != null) {
    v.boolean(A.warmup, !!s.warmup);
    has |= 1 << A.warmup.index;
  }
  const attrs = s.attrs;
  if (attrs) {
    for (const k in attrs) {
      const own = builtInByName.get(k);
      if (own !== undefined && (has & (1 << own)) !== 0) continue;
      v.extra(k, attrs[k]);
    }
  }
}

/** Every name a span.attrs key could use for a built-in attribute: its short key, its OTel name, that name unprefixed. */
const builtInByName = new Map<string, number>();
for (const a of SPAN_ATTR_LIST) {
  if (a.key) builtInByName.set(a.key, a.index);
  if (a.otel) {
    builtInByName.set(a.otel, a.index);
    builtInByName.set(a.otel.slice('mlx.'.length), a.index);
  }
}

/** The OTel name of a span.attrs key: 'mlx.' prefixed unless it already is. */
export function otelName(key: string): string {
  return key.startsWith('mlx.') ? key : `mlx.${key}`;
}

/** 'float32[64,256] float32[256,256]': a tensor list as one OTel attribute value. */
export function shapesAttr(ts: readonly TensorInfo[]): string {
  let out = '';
  for (let i = 0; i < ts.length; i++) out += (i ? ' ' : '') + ts[i].dtype + '[' + (Array.isArray(ts[i].shape) ? ts[i].shape.join(',') : '') + ']';
  return out;
}

export { tensorLabel } from '../../core/model/span-facts';

/** Fills an OTel attribute object; one instance is reused, pointed at a fresh object per span. */
class OtelAttributes implements SpanAttributeVisitor {
  out: Attributes = {};
  number(a: SpanAttr, v: number): void {
    if (a.otel) this.out[a.otel] = v;
  }
  string(a: SpanAttr, v: string): void {
    if (a.otel) this.out[a.otel] = v;
  }
  boolean(a: SpanAttr, v: boolean): void {
    if (a.otel) this.out[a.otel] = v;
  }
  tensors(a: SpanAttr, v: readonly TensorInfo[]): void {
    if (a.otel) this.out[a.otel] = shapesAttr(v);
  }
  extra(key: string, v: unknown): void {
    this.out[otelName(key)] = v as Attributes[string];
  }
}
const otelAttributes = new OtelAttributes();

/** The `mlx.*` OpenTelemetry attributes of a span, for the live bridge and the OTLP export alike. */
export function spanAttributes(s: AttributeSource): Attributes {
  const out: Attributes = {};
  otelAttributes.out = out;
  forEachSpanAttribute(s, otelAttributes);
  otelAttributes.out = EMPTY;
  return out;
}
const EMPTY: Attributes = {};

/** Fills an args object (short keys); `instance` false leaves out the attributes that tell occurrences apart. */
class ArgsObject implements SpanAttributeVisitor {
  out: Record<string, unknown> = {};
  instance = true;
  number(a: SpanAttr, v: number): void {
    if (a.key && (this.instance || !a.instance)) this.out[a.key] = v;
  }
  string(a: SpanAttr, v: string): void {
    if (a.key && (this.instance || !a.instance)) this.out[a.key] = v;
  }
  boolean(a: SpanAttr, v: boolean): void {
    if (a.key && (this.instance || !a.instance)) this.out[a.key] = v;
  }
  tensors(a: SpanAttr, v: readonly TensorInfo[]): void {
    if (a.key) this.out[a.key] = v.map(tensorLabel);
  }
  extra(key: string, v: unknown): void {
    this.out[key] = v;
  }
}
const argsObject = new ArgsObject();

/** A span's attributes under their short keys (Chrome args, Perfetto annotation names). */
export function spanArgs(s: AttributeSource, { instance = true }: { instance?: boolean } = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  argsObject.out = out;
  argsObject.instance = instance;
  forEachSpanAttribute(s, argsObject);
  argsObject.out = {};
  return out;
}
