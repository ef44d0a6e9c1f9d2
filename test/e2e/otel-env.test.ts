/**
 * The preload and `mlx-trace run` configured by the OpenTelemetry environment variables only, sending
 * to a real OTLP/HTTP receiver on 127.0.0.1: endpoint, headers, protocol, compression, service name,
 * resource attributes and sampler are honoured as the OTel SDK honours them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrace } from '../../src/core/io/persist';
import { buildCli, FIXTURES, runCli, runProcess } from '../helpers/cli';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp-receiver';

const APP = join(FIXTURES, 'mlx-requests.js');
const SEMCONV_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };
let dist: string;
let tmp: string;
let receiver: OtlpReceiver;

beforeAll(async () => {
  dist = await buildCli('otel-env');
  tmp = mkdtempSync(join(tmpdir(), 'mlx-trace-otel-env-'));
}, 240_000);

afterAll(async () => {
  await receiver?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  if (dist) rmSync(dist, { recursive: true, force: true });
});

async function fresh(): Promise<OtlpReceiver> {
  await receiver?.close();
  receiver = await startOtlpReceiver();
  return receiver;
}

const preload = (out: string, env: Record<string, string>) =>
  runProcess(process.execPath, ['--require', join(dist, 'register.js'), APP], { env: { MLX_TRACE_OUT: out, MLX_TRACE_LIB: join(dist, 'index.js'), ...env } });

describe('OTEL_* environment variables', () => {
  it('the preload sends live spans to OTEL_EXPORTER_OTLP_ENDPOINT with the headers, JSON protocol, gzip and resource asked for', async () => {
    const r0 = await fresh();
    const out = join(tmp, 'preload');
    const r = await preload(out, {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${r0.port}`,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=secret%20one,x-team=mlx',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_SERVICE_NAME: 'inference-api',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.version=1.2.3',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r0.errors).toEqual([]);
    expect(r0.requests.length).toBeGreaterThan(0);
    for (const q of r0.requests) {
      expect(q.encoding).toBe('json');
      expect(q.headers['x-api-key']).toBe('secret one');
      expect(q.headers['x-team']).toBe('mlx');
      expect(q.headers['content-encoding']).toBe('gzip');
    }
    const spans = r0.spans();
    const names = new Set(spans.map((s) => s.name));
    for (const n of ['request 0', 'request 2', 'eval', 'fc1 (Linear)', 'AddMM']) expect(names, n).toContain(n);
    const res = spans[0].resource;
    expect(res['service.name']).toBe('inference-api');
    expect(res['service.version']).toBe('1.2.3');
    expect(res['deployment.environment.name']).toBe('test');
    expect(res['host.arch']).toBe(SEMCONV_ARCH[arch()] ?? arch());
    expect(res['os.type']).toBe(process.platform);
    // Nesting: an eval under its request, a primitive under its eval.
    const req = spans.find((s) => s.name === 'request 1')!;
    const ev = spans.find((s) => s.name === 'eval' && s.parentSpanId === req.spanId)!;
    expect(ev).toBeDefined();
    expect(spans.some((s) => s.name === 'AddMM' && s.parentSpanId === ev.spanId)).toBe(true);
    // A throwing span: status ERROR with the message, live and in the saved trace.
    const bad = spans.find((s) => s.name === 'bad request')!;
    expect(bad.status).toEqual({ code: 2, message: 'bad input: shape [3]' });
    const saved = loadTrace(join(out, 'trace.mlxtrace')).spans.find((s) => s.name === 'bad request')!;
    expect(saved.attrs?.error).toBe('bad input: shape [3]');
  }, 60_000);

  it('mlx-trace run sends to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, in protobuf by default', async () => {
    const r0 = await fresh();
    const r = await runCli(dist, ['run', '--no-report', '--out', join(tmp, 'run'), APP], {
      env: { MLX_TRACE_LIB: join(dist, 'index.js'), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: r0.url, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r0.errors).toEqual([]);
    expect(r0.requests.length).toBeGreaterThan(0);
    expect(r0.requests.every((q) => q.encoding === 'protobuf')).toBe(true);
    expect(r0.spans().some((s) => s.name === 'request 0')).toBe(true);
    expect(r0.spans()[0].resource['service.name']).toMatch(/^unknown_service/);
  }, 60_000);

  it('OTEL_TRACES_SAMPLER: an unsampled request is neither sent nor recorded, down to its primitives', async () => {
    const r0 = await fresh();
    const out = join(tmp, 'sampled-out');
    const r = await preload(out, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${r0.port}`, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('handled: bad input');
    expect(r0.spans()).toEqual([]);
    const t = loadTrace(join(out, 'trace.mlxtrace'));
    expect(t.spans.map((s) => `${s.kind} ${s.name}`)).toEqual([]);
  }, 60_000);
});
