/**
 * Mirrors the recorder's spans into OpenTelemetry: evals, layers and user regions become real spans
 * under the app's active context; primitives become children of their eval with the times the hook
 * layer measured (monotonic ns mapped to epoch once per trace window).
 */
import { context, SpanStatusCode, trace, type Context, type Link, type Span as OtelSpan, type Tracer, type HrTime, type Attributes } from '@opentelemetry/api';
import { estimateCost } from '../../core/cost';
import { distributedRank } from '../../core/analysis/merge';
import type { LiveSpan, Recorder } from '../../core/record/recorder';
import { ATTR_MLX_DISTRIBUTED_RANK, ATTR_MLX_LINK, MLX_LINK_BUILT_BY, spanAttributes } from './attributes';

const MAX_LAYER_LINKS = 100_000;
const BUILT_BY: Attributes = Object.freeze({ [ATTR_MLX_LINK]: MLX_LINK_BUILT_BY });

function hr(ns: bigint): HrTime {
  return [Number(ns / 1_000_000_000n), Number(ns % 1_000_000_000n)];
}

export class OtelBridge {
  private open = new Map<number, OtelSpan>();
  private layers = new Map<number, OtelSpan>();

  /** The process's rank in a distributed job (MLX_TRACE_RANK, MLX_RANK, OMPI/PMI), on every span. */
  private readonly rank = distributedRank();

  constructor(private readonly tracer: Tracer, private readonly rec: Recorder) {}

  /** Starts the OTel twin of a JS-side span; returns the context to run its body in. */
  start(s: LiveSpan): Context {
    const parent = context.active();
    const span = this.tracer.startSpan(
      s.name,
      {
        startTime: hr(this.rec.toEpochNs(s.start)),
        attributes: this.attributes(s),
      },
      parent,
    );
    this.open.set(s.id, span);
    if (s.kind === 'layer') {
      if (this.layers.size >= MAX_LAYER_LINKS) this.layers.clear();
      this.layers.set(s.id, span);
    }
    return trace.setSpan(parent, span);
  }

  end(s: LiveSpan, error?: unknown): void {
    const span = this.open.get(s.id);
    if (!span) return;
    this.open.delete(s.id);
    if (error) {
      // A thrown body fails its span: the exception as an event, and ERROR status as OTel's spec asks.
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    }
    span.end(hr(this.rec.toEpochNs(s.end)));
  }

  /**
   * Ends the twin of a span its sampler left out, as its body starts (the recorder keeps nothing of it):
   * a span that records nothing ends with no time to work out, one that records (a RECORD_ONLY sampler) now.
   */
  drop(s: LiveSpan): void {
    const span = this.open.get(s.id);
    if (!span) return;
    this.open.delete(s.id);
    if (s.kind === 'layer') this.layers.delete(s.id);
    span.end();
  }

  primitive(s: LiveSpan, parent: LiveSpan | null): void {
    const cost = estimateCost(s.name, s.inputs, s.outputs);
    s.flops = cost.flops;
    s.bytes = cost.bytes;
    const attributes = this.attributes(s);
    const links: Link[] = [];
    const layer = s.layerId ? this.layers.get(s.layerId) : undefined;
    if (layer) links.push({ context: layer.spanContext(), attributes: BUILT_BY });
    const parentSpan = parent ? this.open.get(parent.id) : undefined;
    const ctx = parentSpan ? trace.setSpan(context.active(), parentSpan) : context.active();
    const span = this.tracer.startSpan(s.name, { startTime: hr(this.rec.toEpochNs(s.start)), attributes, links }, ctx);
    span.end(hr(this.rec.toEpochNs(s.end)));
  }

  /** The span's `mlx.*` attributes, as the OTLP export of the saved trace writes them, plus this process's rank. */
  private attributes(s: LiveSpan): Attributes {
    const a = spanAttributes(s);
    if (this.rank !== null && a[ATTR_MLX_DISTRIBUTED_RANK] === undefined) a[ATTR_MLX_DISTRIBUTED_RANK] = this.rank;
    return a;
  }

  reset(): void {
    this.layers.clear();
  }
}
