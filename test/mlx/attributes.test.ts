// One attribute vocabulary: the live OTel bridge, the OTLP export of the saved trace, Chrome args and Perfetto
// annotations all read a span's attributes through forEachSpanAttribute, so they name and value them alike.
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import {
  ATTR_MLX_DTYPE, ATTR_MLX_SPAN_ID, SPAN_ATTR_LIST, shapesAttr, spanArgs, spanAttributes,
} from '../../src/instrumentations/mlx/attributes';
import { toChromeTraceEvents } from '../../src/exporters/chrome';
import type { Span, Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const inst = registerMlxInstrumentation({ tracerProvider: provider });
afterAll(() => inst.disable());

function record(): Trace {
  const model = new nn.Sequential(new nn.Linear(16, 32), new nn.ReLU(), new nn.Linear(32, 4));
  mx.eval(model.parameters());
  inst.takeTrace();
  exporter.reset();
  for (let i = 0; i < 3; i++) mx.eval(model.forward(mx.ones([4, 16])));
  return inst.takeTrace('attributes');
}

describe('one attribute vocabulary', () => {
  it('the live bridge sends each primitive with the attributes the OTLP export of the saved trace gives it', () => {
    const trace = record();
    const saved = new Map(trace.spans.map((s) => [s.id, s]));
    const live = exporter.getFinishedSpans().filter((s) => s.attributes['mlx.kind'] === 'primitive');
    expect(live.length).toBeGreaterThan(5);
    for (const o of live) {
      const s = saved.get(o.attributes[ATTR_MLX_SPAN_ID] as number);
      expect(s, `saved span ${o.attributes[ATTR_MLX_SPAN_ID]}`).toBeTruthy();
      expect(o.attributes).toEqual(spanAttributes(s!));
    }
  });

  it('Chrome args carry the same attributes as OTel, under their short keys, except which occurrence it is', () => {
    const trace = record();
    const byId = new Map(trace.spans.map((s) => [s.id, s]));
    let slices = 0;
    for (const ev of toChromeTraceEvents(trace)) {
      if (ev.ph !== 'X') continue;
      slices++;
      const args = ev.args!;
      const s = byId.get(ev.id as number)!;
      const otel = spanAttributes(s);
      for (const a of SPAN_ATTR_LIST) {
        if (a.key === null || a.otel === null) continue;
        const v = args[a.key];
        // Which occurrence a span is stays out of Chrome args (speedscope's frame key).
        if (a.instance) {
          expect(v).toBeUndefined();
          continue;
        }
        if (a.type === 'tensors') expect(v === undefined ? undefined : (v as string[]).join(' ')).toBe(otel[a.otel]);
        else expect(v).toBe(otel[a.otel]);
      }
    }
    expect(slices).toBe(trace.spans.length);
  });

  it('a body that throws ends its live span with ERROR status and the exception', () => {
    exporter.reset();
    expect(() => inst.withSpan('boom', () => {
      throw new Error('model failed');
    })).toThrow('model failed');
    const span = exporter.getFinishedSpans().find((s) => s.name === 'boom')!;
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'model failed' });
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('labels a span with its first output dtype, else its first input dtype, in every output', () => {
    const base: Span = {
      id: 3, parentId: null, kind: 'primitive', name: 'Reduce', start: 0, end: 10, thread: 1, device: 'cpu',
      inputs: [{ shape: [4], dtype: 'int32', bytes: 16 }], outputs: [], flops: null, bytes: null,
    };
    expect(spanAttributes(base)[ATTR_MLX_DTYPE]).toBe('int32');
    expect(spanArgs(base).dtype).toBe('int32');
    const out = { ...base, outputs: [{ shape: [1], dtype: 'float32', bytes: 4 }] };
    expect(spanAttributes(out)[ATTR_MLX_DTYPE]).toBe('float32');
    expect(spanAttributes(out)['mlx.shapes']).toBe(shapesAttr(out.outputs));
  });

  it('never lets span.attrs override a field of the span, in OTel and in Chrome args alike', () => {
    const s: Span = {
      id: 9, parentId: 2, kind: 'primitive', name: 'Add', start: 0, end: 1, thread: 7, device: 'cpu',
      inputs: [], outputs: [], flops: 4, bytes: 8,
      attrs: { kind: 'user', 'mlx.flops': 1, device: 'gpu', op: 'Mul', parent: 5, note: 'kept', 'mlx.extra': 2 },
    };
    expect(spanAttributes(s)).toMatchObject({ 'mlx.kind': 'primitive', 'mlx.flops': 4, 'mlx.device': 'cpu', 'mlx.op': 'Add', 'mlx.note': 'kept', 'mlx.extra': 2 });
    expect(spanArgs(s)).toEqual({ id: 9, kind: 'primitive', parent: 2, flops: 4, bytes: 8, intensity: 0.5, note: 'kept', 'mlx.extra': 2 });
  });
});
