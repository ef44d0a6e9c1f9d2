/**
 * A saved trace's spans as OpenTelemetry ReadableSpans: deterministic ids, epoch times, parents, the `mlx.*`
 * attributes, the built-by link, status and resource. Built one batch at a time by exportOtlp.
 */
import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type Link, type SpanContext } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Span, Trace } from '../../core/model/trace';
import {
  ATTR_MLX_DROPPED_EVENTS, ATTR_MLX_FALLBACK_REASON, ATTR_MLX_KIND, ATTR_MLX_LINK, ATTR_MLX_PEAK_BANDWIDTH, ATTR_MLX_PEAK_FLOPS,
  ATTR_MLX_SPAN_COUNT, ATTR_MLX_TIMING, ATTR_MLX_TRACE_VERSION, ATTR_MLX_VERSION, MLX_LINK_BUILT_BY, spanAttributes,
} from '../../instrumentations/mlx/attributes';

/** Hex ids derived from the trace's identity, so exporting the same trace twice gives the same ids. */
export class IdMaker {
  readonly traceId: string;
  private readonly _saltHi: number;
  private readonly _saltLo: number;
  private readonly _saltHiHex: string;
  private readonly _salt: bigint;

  constructor(trace: Trace) {
    const h = createHash('sha256')
      .update(`${trace.name}\n${trace.meta?.origin?.epochNs}\n${trace.meta?.createdAt}\n${trace.spans.length}`)
      .digest();
    this.traceId = h.subarray(0, 16).toString('hex');
    // Top bit set: span id = salt XOR id can then never be zero for any id below 2^63 (ids are safe integers).
    this._saltHi = (h.readUInt32BE(16) | 0x80000000) >>> 0;
    this._saltLo = h.readUInt32BE(20);
    this._saltHiHex = this._saltHi.toString(16).padStart(8, '0');
    this._salt = (BigInt(this._saltHi) << 32n) | BigInt(this._saltLo);
  }

  /** 16 hex chars; XOR with a constant is one-to-one, so distinct span ids stay distinct. Id 0 is the root span. */
  spanId(id: number): string {
    if (Number.isInteger(id) && id >= 0 && id < 0x1_0000_0000) {
      return this._saltHiHex + ((id ^ this._saltLo) >>> 0).toString(16).padStart(8, '0');
    }
    return (BigInt.asUintN(64, BigInt(Math.trunc(id))) ^ this._salt).toString(16).padStart(16, '0');
  }
}

/** Epoch-ns HrTime of span-relative ns, without a BigInt per span: exact while offsets stay below 2^53 ns (104 days). */
export class Clock {
  private readonly _sec: number;
  private readonly _ns: number;

  constructor(epochNs: string) {
    const base = BigInt(epochNs);
    this._sec = Number(base / 1_000_000_000n);
    this._ns = Number(base % 1_000_000_000n);
  }

  at(relNs: number): HrTime {
    const ns = this._ns + Math.round(relNs);
    const carry = Math.floor(ns / 1e9);
    return [this._sec + carry, ns - carry * 1e9];
  }
}

function hrDiff(a: HrTime, b: HrTime): HrTime {
  let sec = b[0] - a[0];
  let ns = b[1] - a[1];
  if (ns < 0) {
    sec -= 1;
    ns += 1e9;
  }
  return [sec, ns];
}

export function isValidSpan(s: unknown): s is Span {
  if (s == null || typeof s !== 'object') return false;
  const x = s as Span;
  return Number.isFinite(x.id) && Number.isFinite(x.start) && Number.isFinite(x.end) && typeof x.name === 'string';
}

function spanStatus(s: Span): ReadableSpan['status'] {
  const err = s.attrs?.error ?? s.attrs?.['error.message'];
  if (err === undefined || err === false || err === '') return UNSET;
  return { code: SpanStatusCode.ERROR, message: typeof err === 'string' ? err : undefined };
}

const NO_LINKS: Link[] = [];
const NO_EVENTS: ReadableSpan['events'] = [];
const UNSET: ReadableSpan['status'] = Object.freeze({ code: SpanStatusCode.UNSET });

/**
 * A finished span as the exporter reads it. A class rather than object literals: one hidden class, methods on
 * the prototype and `duration` computed only if asked, because this is built for every span of the trace.
 */
class SavedSpan implements ReadableSpan {
  readonly kind = SpanKind.INTERNAL;
  readonly events = NO_EVENTS;
  readonly ended = true;
  readonly droppedAttributesCount = 0;
  readonly droppedEventsCount = 0;
  readonly droppedLinksCount = 0;

  constructor(
    readonly name: string,
    private readonly _ctx: SpanContext,
    readonly parentSpanContext: SpanContext | undefined,
    readonly startTime: HrTime,
    readonly endTime: HrTime,
    readonly attributes: Attributes,
    readonly status: ReadableSpan['status'],
    readonly links: Link[],
    readonly resource: Resource,
    readonly instrumentationScope: ReadableSpan['instrumentationScope'],
  ) {}

  spanContext(): SpanContext {
    return this._ctx;
  }

  get duration(): HrTime {
    return hrDiff(this.startTime, this.endTime);
  }
}

/** Builds ReadableSpans on demand, one batch at a time, so only the batches in flight are held in memory. */
export class SpanFactory {
  readonly ids: IdMaker;
  private readonly _clock: Clock;
  private readonly _known: Set<number>;
  private readonly _resource: Resource;
  private readonly _scope: ReadableSpan['instrumentationScope'];
  private readonly _rootParent: SpanContext | undefined;
  /** Contexts of parents and builder layers: the same few are used by long runs of primitives. Bounded. */
  private readonly _ctxCache = new Map<number, SpanContext>();

  constructor(trace: Trace, resource: Resource, withRoot: boolean) {
    this.ids = new IdMaker(trace);
    this._clock = new Clock(trace.meta.origin.epochNs);
    this._known = new Set();
    for (const s of trace.spans) if (isValidSpan(s)) this._known.add(s.id);
    this._resource = resource;
    this._scope = { name: 'mlx-trace', version: String(trace.meta.versions?.mlxTrace ?? '') };
    this._rootParent = withRoot ? this._ctx(0) : undefined;
  }

  private _ctx(id: number): SpanContext {
    return { traceId: this.ids.traceId, spanId: this.ids.spanId(id), traceFlags: TraceFlags.SAMPLED };
  }

  private _sharedCtx(id: number): SpanContext {
    let c = this._ctxCache.get(id);
    if (!c) {
      if (this._ctxCache.size >= 4096) this._ctxCache.clear();
      this._ctxCache.set(id, (c = this._ctx(id)));
    }
    return c;
  }

  span(s: Span): ReadableSpan {
    const parent = s.parentId != null && this._known.has(s.parentId) ? this._sharedCtx(s.parentId) : this._rootParent;
    const start = this._clock.at(s.start);
    const end = this._clock.at(Math.max(s.end, s.start));
    // A primitive runs inside an eval but was built by a layer earlier: link it to that layer, as flow arrows do.
    const links: Link[] =
      s.layerId != null && this._known.has(s.layerId) ? [{ context: this._sharedCtx(s.layerId), attributes: BUILT_BY }] : NO_LINKS;
    return new SavedSpan(s.name, this._ctx(s.id), parent, start, end, spanAttributes(s), spanStatus(s), links, this._resource, this._scope);
  }

  root(trace: Trace, first: number, last: number): ReadableSpan {
    const attrs: Attributes = {
      [ATTR_MLX_KIND]: 'trace',
      [ATTR_MLX_TIMING]: String(trace.meta.timing),
      [ATTR_MLX_DROPPED_EVENTS]: trace.dropped ?? 0,
      [ATTR_MLX_SPAN_COUNT]: trace.spans.length,
    };
    if (trace.meta.peaks) {
      attrs[ATTR_MLX_PEAK_FLOPS] = trace.meta.peaks.flops;
      attrs[ATTR_MLX_PEAK_BANDWIDTH] = trace.meta.peaks.bandwidth;
    }
    if (trace.meta.fallbackReason) attrs[ATTR_MLX_FALLBACK_REASON] = trace.meta.fallbackReason;
    const name = trace.name || 'mlx-trace';
    return new SavedSpan(name, this._ctx(0), undefined, this._clock.at(first), this._clock.at(last), attrs, UNSET, NO_LINKS, this._resource, this._scope);
  }
}

const BUILT_BY: Attributes = Object.freeze({ [ATTR_MLX_LINK]: MLX_LINK_BUILT_BY });

export function buildResource(trace: Trace, serviceName: string): Resource {
  const attrs: Attributes = {
    'service.name': serviceName,
    'process.runtime.name': 'nodejs',
  };
  const m = trace.meta;
  if (m.host?.hostname) attrs['host.name'] = m.host.hostname;
  if (m.host?.arch) attrs['host.arch'] = m.host.arch;
  if (m.host?.platform) attrs['os.type'] = m.host.platform;
  if (m.versions?.node) attrs['process.runtime.version'] = m.versions.node;
  if (m.versions?.mlx) attrs[ATTR_MLX_VERSION] = m.versions.mlx;
  if (m.versions?.mlxTrace) attrs[ATTR_MLX_TRACE_VERSION] = m.versions.mlxTrace;
  // defaultResource() adds telemetry.sdk.*; ours wins on conflicts (merge keeps the argument's values).
  return defaultResource().merge(resourceFromAttributes(attrs));
}
