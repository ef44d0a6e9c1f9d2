import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { startProcess } from '../helpers/cli';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ROOT_CONTEXT, trace as otelTrace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { exportOtlp, resolveOtlpUrl } from '../../src/exporters/otlp';
import type { Span, Trace } from '../../src/core/model/trace';
import { syntheticTrace } from '../helpers/synthetic-trace';
import { recordRealOrMlp } from '../helpers/real-or-recorded';
import { closedPort, startOtlpReceiver, type DecodedSpan, type OtlpReceiver } from '../helpers/otlp-receiver';

const here = fileURLToPath(new URL('.', import.meta.url));
const OTEL_ENV = [
  'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_SERVICE_NAME', 'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TIMEOUT', 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT',
];

let receivers: OtlpReceiver[] = [];
const savedEnv: Record<string, string | undefined> = {};
beforeEach(() => {
  for (const k of OTEL_ENV) {
    savedEnv[k] = process.env[k];
    delete process.env[k];
  }
});
afterEach(async () => {
  for (const k of OTEL_ENV) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  await Promise.all(receivers.map((r) => r.close()));
  receivers = [];
});
const receiver = async (opts?: Parameters<typeof startOtlpReceiver>[0]) => {
  const r = await startOtlpReceiver(opts);
  receivers.push(r);
  return r;
};

/** Check decoded spans against the trace: names, parents, exact timestamps, nesting order, mlx.* attributes. */
function checkAgainstTrace(trace: Trace, got: DecodedSpan[]) {
  const epoch = BigInt(trace.meta.origin.epochNs);
  const root = got.filter((s) => s.parentSpanId === '');
  expect(root).toHaveLength(1);
  expect(root[0].name).toBe(trace.name);
  expect(root[0].attributes['mlx.kind']).toBe('trace');

  const bySpanId = new Map(got.map((s) => [s.spanId, s]));
  expect(bySpanId.size).toBe(got.length); // span ids are unique
  const traceIds = new Set(got.map((s) => s.traceId));
  expect(traceIds.size).toBe(1);
  expect([...traceIds][0]).toMatch(/^[0-9a-f]{32}$/);

  const byId = new Map(trace.spans.map((s) => [s.id, s]));
  const decodedById = new Map<number, DecodedSpan>();
  for (const d of got) if (d !== root[0]) decodedById.set(d.attributes['mlx.span_id'] as number, d);
  expect(decodedById.size).toBe(trace.spans.length);

  for (const s of trace.spans) {
    const d = decodedById.get(s.id)!;
    expect(d.name).toBe(s.name);
    expect(d.startTimeUnixNano).toBe(epoch + BigInt(s.start));
    expect(d.endTimeUnixNano).toBe(epoch + BigInt(s.end));
    expect(d.kind).toBe(1); // SPAN_KIND_INTERNAL
    const parent = bySpanId.get(d.parentSpanId)!;
    expect(parent, `parent of ${s.name}`).toBeDefined();
    if (s.parentId == null) expect(parent).toBe(root[0]);
    else expect(parent.attributes['mlx.span_id']).toBe(s.parentId);
    // Timestamps in order: a child lies inside its parent.
    expect(d.startTimeUnixNano >= parent.startTimeUnixNano && d.endTimeUnixNano <= parent.endTimeUnixNano).toBe(true);

    const a = d.attributes;
    expect(a['mlx.kind']).toBe(s.kind);
    expect(a['mlx.device']).toBe(s.device);
    expect(a['mlx.thread']).toBe(s.thread);
    if (s.kind === 'primitive') {
      expect(a['mlx.op']).toBe(s.name);
      expect(a['mlx.layer']).toBe(s.layer);
      const fmt = (ts: Span['inputs']) => ts.map((t) => `${t.dtype}[${t.shape.join(',')}]`).join(' ');
      expect(a['mlx.shapes']).toBe(fmt(s.outputs));
      expect(a['mlx.input_shapes']).toBe(fmt(s.inputs));
      expect(a['mlx.input_shapes']).toMatch(/^float32\[\d+,64\] float32\[\d+,64\]$/);
      expect(a['mlx.dtype']).toBe(s.outputs[0].dtype);
      if (s.flops === null) expect(a['mlx.flops']).toBeUndefined();
      else {
        expect(a['mlx.flops']).toBe(s.flops);
        expect(a['mlx.bytes']).toBe(s.bytes);
        expect(a['mlx.intensity']).toBeCloseTo(s.flops / s.bytes!, 12);
      }
      // Link to the layer that built it.
      const layer = byId.get(s.layerId!)!;
      expect(d.links).toHaveLength(1);
      expect(d.links[0].attributes).toEqual({ 'mlx.link': 'built-by' });
      expect(bySpanId.get(d.links[0].spanId)!.attributes['mlx.span_id']).toBe(layer.id);
    }
    expect(d.status.code).toBe(0);
  }

  const res = got[0].resource;
  expect(res['host.name']).toBe(trace.meta.host.hostname);
  expect(res['mlx.version']).toBe(trace.meta.versions.mlx);
  expect(res['process.runtime.version']).toBe(trace.meta.versions.node);
  expect(got[0].scope.name).toBe('mlx-trace');
}

describe('exportOtlp to a live receiver', () => {
  it('sends every span with parents, exact timestamps, mlx.* attributes and resource', async () => {
    const r = await receiver();
    const trace = syntheticTrace({ steps: 3, blocks: 2 });
    const res = await exportOtlp(trace, { url: r.url });
    expect(r.errors).toEqual([]);
    expect(res).toMatchObject({ sent: trace.spans.length, dropped: 0 });
    expect(res.error).toBeUndefined();
    expect(res.summary).toBe(`sent ${trace.spans.length} spans to ${r.url} (0 dropped)`);
    // protobuf by default (OTLP/HTTP's default), decoded here with OTLP's own .proto files
    expect(r.requests.every((q) => q.encoding === 'protobuf')).toBe(true);
    const got = r.spans();
    expect(got).toHaveLength(trace.spans.length + 1);
    checkAgainstTrace(trace, got);
    expect(got[0].resource['service.name']).toBe('mlx-trace');
  });

  it('sends the same spans as JSON with protocol http/json', async () => {
    const r = await receiver();
    const trace = syntheticTrace({ steps: 2, blocks: 2 });
    const res = await exportOtlp(trace, { url: r.url, protocol: 'http/json' });
    expect(res).toMatchObject({ sent: trace.spans.length, dropped: 0 });
    expect(r.requests.length).toBeGreaterThan(0);
    expect(r.requests.every((q) => q.encoding === 'json')).toBe(true);
    const got = r.spans();
    expect(got).toHaveLength(trace.spans.length + 1);
    checkAgainstTrace(trace, got);
  });

  it('sends in batches of batchSize and the same trace gets the same trace id', async () => {
    const r = await receiver();
    const trace = syntheticTrace({ steps: 4 });
    const n = trace.spans.length;
    const res = await exportOtlp(trace, { url: r.url, batchSize: 10, concurrency: 3 });
    expect(res.sent).toBe(n);
    expect(r.requests).toHaveLength(Math.ceil(n / 10));
    for (const q of r.requests) expect(q.spans.length).toBeLessThanOrEqual(11); // + the root span in one of them
    checkAgainstTrace(trace, r.spans());
    const again = await receiver();
    await exportOtlp(trace, { url: again.url });
    expect(again.spans()[0].traceId).toBe(r.spans()[0].traceId);
    const other = await receiver();
    await exportOtlp(syntheticTrace({ steps: 4, name: 'another run' }), { url: other.url });
    expect(other.spans()[0].traceId).not.toBe(r.spans()[0].traceId);
  });

  it('marks spans with an error attribute as ERROR status and passes headers and serviceName', async () => {
    const r = await receiver();
    const trace = syntheticTrace({ steps: 1 });
    const failing = trace.spans.find((s) => s.kind === 'eval')!;
    failing.attrs = { error: 'out of memory' };
    const res = await exportOtlp(trace, { url: r.url, headers: { authorization: 'Bearer t0ken' }, serviceName: 'my-model-server', rootSpan: false });
    expect(res.sent).toBe(trace.spans.length);
    expect(r.requests[0].headers.authorization).toBe('Bearer t0ken');
    const got = r.spans();
    expect(got).toHaveLength(trace.spans.length); // no root span
    const d = got.find((s) => s.attributes['mlx.span_id'] === failing.id)!;
    expect(d.status).toEqual({ code: 2, message: 'out of memory' });
    expect(d.attributes['mlx.error']).toBe('out of memory');
    expect(got[0].resource['service.name']).toBe('my-model-server');
    // Without a root span, top-level spans have no parent.
    const tops = trace.spans.filter((s) => s.parentId == null).map((s) => s.id).sort();
    expect(got.filter((s) => s.parentSpanId === '').map((s) => s.attributes['mlx.span_id']).sort()).toEqual(tops);
  });

  it('takes the endpoint and service name from the OTEL_* environment', async () => {
    const r = await receiver();
    const base = r.url.replace('/v1/traces', '');
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = base + '/';
    process.env.OTEL_SERVICE_NAME = 'from-env';
    const trace = syntheticTrace({ steps: 1 });
    const res = await exportOtlp(trace);
    expect(res.url).toBe(r.url);
    expect(res.sent).toBe(trace.spans.length);
    expect(r.spans()[0].resource['service.name']).toBe('from-env');

    // The traces-specific variable wins and is used as is.
    const r2 = await receiver();
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = r2.url;
    const res2 = await exportOtlp(trace);
    expect(res2.url).toBe(r2.url);
    expect(r2.spans()).toHaveLength(trace.spans.length + 1);
  });

  it('resolveOtlpUrl follows the spec precedence', () => {
    expect(resolveOtlpUrl(undefined, {})).toBe('http://localhost:4318/v1/traces');
    expect(resolveOtlpUrl(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBe('http://c:4318/v1/traces');
    expect(resolveOtlpUrl(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' })).toBe('http://t/x');
    expect(resolveOtlpUrl('http://o/v1/traces', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t/x' })).toBe('http://o/v1/traces');
  });
});

describe('exportOtlp when the collector misbehaves (real sockets)', () => {
  it('collector down: no throw, every span dropped, one clear line', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/v1/traces`;
    const trace = syntheticTrace({ steps: 3 });
    const res = await exportOtlp(trace, { url, timeoutMillis: 1_000 });
    expect(res).toMatchObject({ sent: 0, dropped: trace.spans.length, error: 'connection refused' });
    expect(res.summary).toBe(`could not reach collector at ${url}: connection refused; ${trace.spans.length} spans dropped`);
    expect(res.summary.split('\n')).toHaveLength(1);
  }, 15_000);

  it('collector that never answers: finishes after timeoutMillis with everything dropped', async () => {
    const r = await receiver({ mode: 'hang' });
    const trace = syntheticTrace({ steps: 3 });
    const res = await exportOtlp(trace, { url: r.url, timeoutMillis: 500, batchSize: 8, concurrency: 2 });
    expect(res).toMatchObject({ sent: 0, dropped: trace.spans.length, error: 'no answer within 500 ms' });
    expect(res.summary).toBe(`could not export to collector at ${r.url}: no answer within 500 ms; ${trace.spans.length} spans dropped`);
    // After the first failure nothing more is sent: at most one request per worker; no retry fits before the deadline.
    expect(r.hits).toBeLessThanOrEqual(2);

    // The timeout can come from the environment, as for any OTLP exporter.
    process.env.OTEL_EXPORTER_OTLP_TIMEOUT = '300';
    const res2 = await exportOtlp(trace, { url: r.url });
    expect(res2.error).toBe('no answer within 300 ms');
  }, 15_000);

  it('collector answering 500: stops at the first failed batch', async () => {
    const r = await receiver({ mode: 'error500' });
    const trace = syntheticTrace({ steps: 3 });
    const res = await exportOtlp(trace, { url: r.url, batchSize: 5, concurrency: 2 });
    expect(res).toMatchObject({ sent: 0, dropped: trace.spans.length });
    expect(res.error).toMatch(/^HTTP 500/);
    expect(res.summary).toMatch(new RegExp(`^could not export to collector at ${r.url}: HTTP 500.*; ${trace.spans.length} spans dropped$`));
    expect(r.hits).toBeLessThanOrEqual(2); // 500 is not retried, and no new batch starts after a failure
  });

  it('collector failing mid-export: counts what got through', async () => {
    const r = await receiver({ okRequests: 2 });
    const trace = syntheticTrace({ steps: 3 });
    const res = await exportOtlp(trace, { url: r.url, batchSize: 10, concurrency: 1 });
    expect(res.sent).toBe(20);
    expect(res.dropped).toBe(trace.spans.length - 20);
    expect(res.summary).toMatch(new RegExp(`^export to collector at ${r.url} stopped: HTTP 500.*; sent 20 spans, ${trace.spans.length - 20} dropped$`));
    expect(r.spans()).toHaveLength(21);
  });

  it('slow collector: one deadline for the whole export, then says what was not sent', async () => {
    const r = await receiver({ delayMs: 400 });
    const trace = syntheticTrace({ steps: 12 });
    const t0 = Date.now();
    const res = await exportOtlp(trace, { url: r.url, batchSize: 10, concurrency: 2, deadlineMillis: 1_500 });
    const took = Date.now() - t0;
    // Each request takes 400 ms: within 1.5 s two workers get 2-3 batches each through, not all of them.
    expect(took).toBeGreaterThanOrEqual(1_400);
    expect(took).toBeLessThan(3_000);
    expect(res.sent).toBeGreaterThan(0);
    expect(res.sent % 10).toBe(0);
    expect(res.sent).toBeLessThan(trace.spans.length);
    expect(res.dropped).toBe(trace.spans.length - res.sent);
    expect(res.error).toBe('deadline of 1,500 ms reached');
    expect(res.summary).toBe(`export to collector at ${r.url} stopped: deadline of 1,500 ms reached; sent ${res.sent} spans, ${res.dropped} dropped`);
  }, 15_000);

  it('the deadline bounds a collector that never answers as well, whatever the request timeout', async () => {
    const r = await receiver({ mode: 'hang' });
    const trace = syntheticTrace({ steps: 2 });
    const t0 = Date.now();
    const res = await exportOtlp(trace, { url: r.url, timeoutMillis: 10_000, deadlineMillis: 700 });
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(res).toMatchObject({ sent: 0, dropped: trace.spans.length, error: 'deadline of 700 ms reached' });
  }, 15_000);

  for (const status of [429, 503]) {
    it(`collector answering ${status}: says the HTTP status after the exporter's retries`, async () => {
      const r = await receiver({ status });
      const trace = syntheticTrace({ steps: 2 });
      const res = await exportOtlp(trace, { url: r.url, timeoutMillis: 1_500, concurrency: 1 });
      const text = status === 429 ? 'Too Many Requests' : 'Service Unavailable';
      expect(res).toMatchObject({ sent: 0, dropped: trace.spans.length, error: `HTTP ${status} (${text}), still after retrying for 1500 ms` });
      expect(res.summary).toBe(`could not export to collector at ${r.url}: HTTP ${status} (${text}), still after retrying for 1500 ms; ${trace.spans.length} spans dropped`);
      expect(r.hits).toBeGreaterThanOrEqual(2); // retried
    }, 15_000);
  }

  it('bad input and bad URLs give a result, never a throw', async () => {
    const t = syntheticTrace({ steps: 1 });
    const bad = await exportOtlp(null as unknown as Trace, { url: 'http://127.0.0.1:1/v1/traces' });
    expect(bad).toMatchObject({ sent: 0, dropped: 0, error: 'expected a Trace object, got null' });
    expect((await exportOtlp(t, { url: 'not a url' })).summary).toBe(
      `could not export to collector at not a url: invalid collector URL "not a url"; ${t.spans.length} spans dropped`,
    );
    expect((await exportOtlp(t, { url: 'ftp://x/v1/traces' })).error).toMatch(/must be http/);
    const noOrigin = { ...t, meta: { ...t.meta, origin: { monotonicNs: 0, epochNs: 'soon' } } };
    expect((await exportOtlp(noOrigin, { url: 'http://127.0.0.1:1/v1/traces' })).error).toMatch(/wall-clock origin/);

    const r = await receiver();
    const broken = structuredClone(t);
    (broken.spans as unknown[]).push({ nope: true }, null);
    const res = await exportOtlp(broken, { url: r.url });
    expect(res).toMatchObject({ sent: t.spans.length, dropped: 2, error: '2 malformed spans skipped' });
  });
});

describe('the test receiver decodes both OTLP encodings the same way', () => {
  it('protobuf and JSON bodies of the official serializers decode to equal spans', async () => {
    const memory = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'decoder-check' }),
      spanProcessors: [new SimpleSpanProcessor(memory)],
    });
    const tracer = provider.getTracer('decoder-test', '1.2.3');
    // Parent passed as an explicit context: no global context manager is registered in this test.
    const outerSpan = tracer.startSpan('outer');
    const attributes = { 'mlx.flops': 1e12, 'mlx.op': 'Matmul', 'mlx.ok': true, 'mlx.list': ['a', 'b'], 'mlx.n': 7 };
    tracer.startSpan('inner', { attributes }, otelTrace.setSpan(ROOT_CONTEXT, outerSpan)).end();
    outerSpan.end();
    const spans = memory.getFinishedSpans();
    expect(spans).toHaveLength(2);

    const r = await receiver();
    for (const [type, body] of [
      ['application/x-protobuf', ProtobufTraceSerializer.serializeRequest(spans)!],
      ['application/json', JsonTraceSerializer.serializeRequest(spans)!],
    ] as const) {
      const resp = await fetch(r.url, { method: 'POST', headers: { 'content-type': type }, body: Buffer.from(body) });
      expect(resp.status).toBe(200);
    }
    expect(r.errors).toEqual([]);
    const [pb, json] = r.requests;
    expect(pb.encoding).toBe('protobuf');
    expect(json.encoding).toBe('json');
    expect(json.spans).toEqual(pb.spans);
    const inner = pb.spans.find((s) => s.name === 'inner')!;
    const outer = pb.spans.find((s) => s.name === 'outer')!;
    expect(inner.parentSpanId).toBe(outer.spanId);
    expect(inner.attributes).toMatchObject({ 'mlx.flops': 1e12, 'mlx.op': 'Matmul', 'mlx.ok': true, 'mlx.list': ['a', 'b'], 'mlx.n': 7 });
    expect(inner.scope).toEqual({ name: 'decoder-test', version: '1.2.3' });
    expect(inner.resource['service.name']).toBe('decoder-check');

    // A body that breaks OTLP/JSON rules is refused with 400 and recorded.
    const badResp = await fetch(r.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'not-hex', name: 'x' }] }] }] }),
    });
    expect(badResp.status).toBe(400);
    expect(r.errors[0]).toMatch(/ids are hex/);
  });
});

// A real MLX model profiled natively (see helpers/real-or-recorded.ts).
describe('exportOtlp of a real recorded trace', () => {
  it('sends every span with parents, timestamps and attributes', async () => {
    const trace = await recordRealOrMlp();
    expect(trace.spans.some((s) => s.kind === 'primitive')).toBe(true);
    const r = await receiver();
    const res = await exportOtlp(trace, { url: r.url });
    expect(r.errors).toEqual([]);
    expect(res).toMatchObject({ sent: trace.spans.length, dropped: 0 });
    const got = r.spans();
    expect(got).toHaveLength(trace.spans.length + 1);
    const byId = new Map(got.map((d) => [d.attributes['mlx.span_id'], d]));
    const bySpanId = new Map(got.map((d) => [d.spanId, d]));
    const epoch = BigInt(trace.meta.origin.epochNs);
    const ids = new Set(trace.spans.map((s) => s.id));
    for (const s of trace.spans as Span[]) {
      const d = byId.get(s.id)!;
      expect(d.name).toBe(s.name);
      expect(d.startTimeUnixNano).toBe(epoch + BigInt(Math.round(s.start)));
      expect(d.endTimeUnixNano).toBe(epoch + BigInt(Math.round(s.end)));
      const parent = bySpanId.get(d.parentSpanId)!;
      if (s.parentId != null && ids.has(s.parentId)) expect(parent.attributes['mlx.span_id']).toBe(s.parentId);
      else expect(parent.attributes['mlx.kind']).toBe('trace');
      if (s.kind === 'primitive') {
        expect(d.attributes['mlx.op']).toBe(s.name);
        if (s.flops != null) expect(d.attributes['mlx.flops']).toBe(s.flops);
        if (s.layer) expect(d.attributes['mlx.layer']).toBe(s.layer);
      }
    }
    expect(got[0].resource['mlx.version']).toBe(trace.meta.versions.mlx);
  });
});

// examples/jaeger/server.js end to end, against the local receiver instead of Jaeger (which cannot run here).
// It needs the built package (require('mlx-trace') resolves to dist/) with the lead's registerMlxInstrumentation.
const distCjs = join(here, '../../dist/index.js');
const distHasInstrumentation = existsSync(distCjs) && readFileSync(distCjs, 'utf8').includes('registerMlxInstrumentation');
/** Start the example server with `env`, POST /predict `requests` times, stop it with SIGTERM; exit code and stderr. */
async function runExample(env: Record<string, string>, requests: number): Promise<{ code: number | null; stderr: string }> {
  const p = startProcess(process.execPath, [join(here, '../../examples/jaeger/server.js')], { env: { PORT: '0', ...env } });
  try {
    const [, url] = await p.until(/listening on (http:\/\/\S+)/);
    for (let i = 0; i < requests; i++) {
      const resp = await fetch(url + '?batch=4', { method: 'POST' });
      expect(resp.status).toBe(200);
      expect((await resp.json()).classes).toHaveLength(4);
    }
  } finally {
    p.child.kill('SIGTERM'); // the server's shutdown flushes the batch processor
  }
  const r = await p.ended;
  return { code: r.code, stderr: r.stderr };
}

describe('examples/jaeger/server.js', () => {
  // The example loads the built package (npm run build, as CI does before the tests).
  it('has a built package to load', () => expect(distHasInstrumentation).toBe(true));

  it('keeps serving and exits cleanly when the collector is down', async () => {
    const port = await closedPort();
    const { code, stderr } = await runExample({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_EXPORTER_OTLP_TIMEOUT: '500' }, 3);
    expect(code, stderr).toBe(0);
    // One line at shutdown says what the live path lost, and why.
    const m = /^mlx-trace: sent 0 of ([\d,]+) MLX spans \(([\d,]+) dropped: (.+)\)$/m.exec(stderr);
    expect(m, stderr).not.toBeNull();
    expect(Number(m![1].replace(/,/g, ''))).toBeGreaterThan(0);
    expect(m![2]).toBe(m![1]);
  }, 30_000);

  it('sends a request span with eval, layer and primitive spans beneath it', async () => {
    const r = await receiver();
    const { code, stderr } = await runExample({ OTEL_EXPORTER_OTLP_ENDPOINT: r.url.replace('/v1/traces', ''), OTEL_SERVICE_NAME: 'example-under-test' }, 1);
    expect(code, stderr).toBe(0);
    expect(r.errors).toEqual([]);
    // Flushed completely at shutdown: every MLX span that ended reached the receiver.
    const mlxSpans = r.requests.flatMap((q) => q.spans).filter((s) => s.attributes['mlx.kind'] !== undefined).length;
    expect(stderr).toContain(`mlx-trace: sent ${mlxSpans.toLocaleString('en-US')} of ${mlxSpans.toLocaleString('en-US')} MLX spans (0 dropped)`);

    const spans = r.spans();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const request = spans.find((s) => s.name === 'POST /predict')!;
    expect(request, spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(request.kind).toBe(2); // SPAN_KIND_SERVER
    expect(request.resource['service.name']).toBe('example-under-test');
    const under = (s: DecodedSpan, root: DecodedSpan) => {
      for (let p = byId.get(s.parentSpanId); p; p = byId.get(p.parentSpanId)) if (p === root) return true;
      return false;
    };
    const evals = spans.filter((s) => s.attributes['mlx.kind'] === 'eval' && under(s, request));
    const layers = spans.filter((s) => s.attributes['mlx.kind'] === 'layer' && under(s, request));
    const prims = spans.filter((s) => s.attributes['mlx.kind'] === 'primitive' && under(s, request));
    expect(evals.length).toBeGreaterThan(0);
    expect(layers.map((s) => s.name).join(' ')).toMatch(/fc1/);
    expect(prims.length).toBeGreaterThan(0);
    expect(prims.some((p) => p.attributes['mlx.layer'] === 'fc1 (Linear)')).toBe(true);
    for (const p of prims) {
      // Primitives run inside an eval, or inside a sync span when reading a result (tolist) runs the graph.
      expect(['eval', 'sync']).toContain(byId.get(p.parentSpanId)!.attributes['mlx.kind']);
      expect(p.startTimeUnixNano >= request.startTimeUnixNano && p.endTimeUnixNano <= request.endTimeUnixNano).toBe(true);
    }
  });
});
