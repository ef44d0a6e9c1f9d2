// A server handling concurrent requests: each request's evals and primitives land under its own span.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, trace, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';

const require = createRequire(import.meta.url);
const { core: mx, nn } = require('@frost-beta/mlx');

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const inst = registerMlxInstrumentation({ tracerProvider: provider });
const tracer = provider.getTracer('server');
let server: Server;
let port = 0;

beforeAll(async () => {
  const model = new nn.Sequential(new nn.Linear(16, 32), new nn.ReLU(), new nn.Linear(32, 4));
  mx.eval(model.parameters());
  const tick = () => new Promise((r) => setTimeout(r, 2));
  server = createServer((req, res) => {
    const size = Number(new URL(req.url!, 'http://x').searchParams.get('rows'));
    tracer.startActiveSpan(`request rows=${size}`, async (span) => {
      try {
        await tick(); // requests interleave here
        const x = mx.ones([size, 16]);
        const y = model.forward(x);
        await tick();
        mx.eval(y);
        await tick();
        res.end(JSON.stringify(y.shape));
      } catch (e) {
        span.setStatus({ code: SpanStatusCode.ERROR });
        res.statusCode = 500;
        res.end(String(e));
      } finally {
        span.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
  inst.disable();
});

const get = (path: string) =>
  new Promise<string>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });

describe('serving', () => {
  it('puts each concurrent request’s eval, layers and primitives under that request', async () => {
    exporter.reset();
    const sizes = [1, 2, 3, 4, 5, 6, 7, 8];
    const bodies = await Promise.all(sizes.map((n) => get(`/?rows=${n}`)));
    expect(bodies).toEqual(sizes.map((n) => JSON.stringify([n, 4])));
    const spans = exporter.getFinishedSpans();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const rootOf = (s: (typeof spans)[number]): (typeof spans)[number] => {
      let cur = s;
      while (cur.parentSpanContext && byId.has(cur.parentSpanContext.spanId)) cur = byId.get(cur.parentSpanContext.spanId)!;
      return cur;
    };
    for (const n of sizes) {
      const reqSpan = spans.find((s) => s.name === `request rows=${n}`)!;
      expect(reqSpan).toBeTruthy();
      const evals = spans.filter((s) => s.name === 'eval' && rootOf(s) === reqSpan);
      expect(evals).toHaveLength(1);
      // the AddMM primitives of this request have this request's batch size in their output shape
      const prims = spans.filter((s) => s.attributes['mlx.op'] === 'AddMM' && rootOf(s) === reqSpan);
      expect(prims.length).toBe(2);
      for (const p of prims) expect(String(p.attributes['mlx.shapes'])).toMatch(new RegExp(`^float32\\[${n},`));
      const layers = spans.filter((s) => s.attributes['mlx.kind'] === 'layer' && rootOf(s) === reqSpan);
      expect(layers.map((l) => l.name).sort()).toEqual(['Sequential', 'layers.0 (Linear)', 'layers.1 (ReLU)', 'layers.2 (Linear)']);
    }
    void trace;
  });
});

describe('distributed rank', () => {
  it('puts mlx.distributed.rank on live spans when the process has a rank', async () => {
    const { OtelBridge } = await import('../../src/instrumentations/mlx/otel-bridge');
    process.env.MLX_TRACE_RANK = '3';
    try {
      const local = new InMemorySpanExporter();
      const p = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(local)] });
      const bridge = new OtelBridge(p.getTracer('t'), inst.recorder);
      const s = inst.recorder.begin('eval', 'eval', null);
      bridge.start(s);
      inst.recorder.end(s);
      bridge.end(s);
      expect(local.getFinishedSpans()[0].attributes['mlx.distributed.rank']).toBe(3);
    } finally {
      delete process.env.MLX_TRACE_RANK;
    }
  });
});
