/**
 * OTLP export of a saved trace: each span becomes an OpenTelemetry ReadableSpan with its real start and end time,
 * parent, `mlx.*` attributes, resource and status, sent by the official OTLPTraceExporter in bounded batches.
 *
 * Wire format: OTLP/HTTP protobuf by default (@opentelemetry/exporter-trace-otlp-proto; OTLP's default protocol),
 * JSON on request (exporter-trace-otlp-http). Protobuf encodes faster and writes fewer bytes per span than JSON
 * (bench/cases/otlp.mjs measures both). There is no hand-written OTLP encoding here.
 *
 * exportOtlp never throws: a collector that is down, slow or failing gives a result that says how many spans were
 * sent and dropped, in one line (`result.summary`).
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import type { Trace } from '../core/model/trace';
import { isEpochNs, traceProblem } from '../core/model/checks';
import { formatCount } from './terminal/format';
import { DeadlineError, describeExportError, type ExportCallback, HttpStatusWatch, positive } from './otlp/errors';
import { buildResource, isValidSpan, SpanFactory } from './otlp/spans';

export interface OtlpExportOptions {
  /**
   * Where to POST. @default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + '/v1/traces',
   * else 'http://localhost:4318/v1/traces'
   */
  url?: string;
  /** Extra HTTP headers (auth tokens...). OTEL_EXPORTER_OTLP_HEADERS is honoured by the exporter as well. */
  headers?: Record<string, string>;
  /** service.name of the resource. @default OTEL_SERVICE_NAME, else 'mlx-trace' */
  serviceName?: string;
  /**
   * Time allowed for one request, retries included; a collector that never answers costs at most this.
   * @default OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT, else 10000
   */
  timeoutMillis?: number;
  /**
   * Time allowed for the whole export. When it runs out nothing more is sent, requests still in flight are
   * abandoned, and the result counts every span not acknowledged as dropped. @default 60000
   */
  deadlineMillis?: number;
  /** Requests in flight at once. Memory held is about concurrency x batchSize spans. @default 4 */
  concurrency?: number;
  /** Spans per request. @default 1024 */
  batchSize?: number;
  /**
   * OTLP/HTTP encoding: protobuf (OTLP's default, smaller and faster to encode) or JSON.
   * @default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL, else 'http/protobuf'
   */
  protocol?: 'http/protobuf' | 'http/json';
  /** Add one span named after the trace that covers all of it, so a viewer shows one tree. @default true */
  rootSpan?: boolean;
}

export interface OtlpExportResult {
  /** Spans of the trace the collector accepted (the optional root span is not counted). */
  sent: number;
  /** Spans of the trace not delivered: failed, not attempted after a failure, or invalid. */
  dropped: number;
  /** Why not everything was sent, in plain words; absent on full success. */
  error?: string;
  url: string;
  /** One line for people: 'sent 1,234 spans to http://... (0 dropped)'. */
  summary: string;
}

const DEFAULT_URL = 'http://localhost:4318/v1/traces';
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_DEADLINE_MS = 60_000;
const DEFAULT_CONCURRENCY = 4;
const DEFAULT_BATCH = 1024;

/** The endpoint by the OTel spec's precedence: option, signal-specific env (as is), generic env (+ /v1/traces), default. */
export function resolveOtlpUrl(url?: string, env: Record<string, string | undefined> = process.env): string {
  if (url) return url;
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (base) return base.replace(/\/+$/, '') + '/v1/traces';
  return DEFAULT_URL;
}

/** Why `url` cannot be a collector endpoint ('invalid collector URL "x"'), or null. */
export function collectorUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `invalid collector URL ${JSON.stringify(url)}`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `collector URL must be http:// or https://, got ${JSON.stringify(url)}`;
  return null;
}

/** Option, else OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / OTEL_EXPORTER_OTLP_TIMEOUT (ms, as the spec says), else 10 s. */
function resolveTimeout(ms: number | undefined, env: Record<string, string | undefined> = process.env): number {
  for (const v of [ms, env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, env.OTEL_EXPORTER_OTLP_TIMEOUT]) {
    const n = typeof v === 'string' ? Number(v.trim()) : v;
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) return n;
  }
  return DEFAULT_TIMEOUT_MS;
}

type ExportOutcome = { ok: true } | { ok: false; error: unknown; timedOut?: boolean };

/** One exporter.export call as a promise that always settles: a guard timer covers an exporter that never calls back. */
function exportBatch(exporter: OTLPTraceExporter, batch: ReadableSpan[], guardMs: number): Promise<ExportOutcome> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (o: ExportOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => finish({ ok: false, error: new Error('timed out'), timedOut: true }), guardMs);
    const cb: ExportCallback = (r) => {
      // ExportResultCode.SUCCESS is 0 (@opentelemetry/core); compared by value to avoid importing core directly.
      if (r.code === 0) finish({ ok: true });
      else finish({ ok: false, error: r.error });
    };
    try {
      exporter.export(batch, cb);
    } catch (error) {
      finish({ ok: false, error });
    }
  });
}

/** Why `trace` cannot be sent: not a trace, or no wall-clock origin to date its spans by. */
function otlpProblem(trace: unknown): string | null {
  const p = traceProblem(trace);
  if (p) return p;
  if (!isEpochNs((trace as Trace).meta?.origin?.epochNs)) return 'the trace has no wall-clock origin (meta.origin.epochNs)';
  return null;
}

function result(url: string, sent: number, dropped: number, error?: string): OtlpExportResult {
  const spans = (n: number) => `${formatCount(n)} span${n === 1 ? '' : 's'}`;
  let summary: string;
  if (!error) summary = `sent ${spans(sent)} to ${url} (${formatCount(dropped)} dropped)`;
  else if (sent === 0) summary = `could not export to collector at ${url}: ${error}; ${spans(dropped)} dropped`;
  else summary = `export to collector at ${url} stopped: ${error}; sent ${spans(sent)}, ${formatCount(dropped)} dropped`;
  if (error && /connection refused|host not found|unreachable/.test(error)) summary = summary.replace('could not export to', 'could not reach');
  return error ? { sent, dropped, error, url, summary } : { sent, dropped, url, summary };
}

/**
 * Send a saved trace to an OTLP/HTTP collector (Jaeger, the OpenTelemetry Collector...). Batches go out
 * `concurrency` at a time; at the first failed batch nothing more is sent, so a dead collector costs one timeout
 * and no memory growth. (Within that timeout the exporter retries a refused connection, 429 and 502-504 with
 * backoff from 1 s; a 500 or other 4xx/5xx fails at once.) Never throws; the result counts sent and dropped spans.
 */
export async function exportOtlp(trace: Trace, opts: OtlpExportOptions = {}): Promise<OtlpExportResult> {
  let url = DEFAULT_URL;
  const total = Array.isArray((trace as Partial<Trace> | null)?.spans) ? trace.spans.length : 0;
  try {
    url = resolveOtlpUrl(opts.url);
    const bad = collectorUrlProblem(url);
    if (bad) return result(url, 0, total, bad);
    const parsed = new URL(url);
    const problem = otlpProblem(trace);
    if (problem) return result(url, 0, total, problem);

    const deadlineMillis = positive(opts.deadlineMillis) ?? DEFAULT_DEADLINE_MS;
    const deadline = Date.now() + deadlineMillis;
    // One request (retries included) never outlasts the whole export.
    const timeoutMillis = Math.min(resolveTimeout(opts.timeoutMillis), deadlineMillis);
    const concurrency = Math.max(1, Math.floor(opts.concurrency ?? DEFAULT_CONCURRENCY));
    const batchSize = Math.max(1, Math.floor(opts.batchSize ?? DEFAULT_BATCH));
    const serviceName = opts.serviceName || process.env.OTEL_SERVICE_NAME || 'mlx-trace';

    const valid = trace.spans.filter(isValidSpan);
    const invalid = total - valid.length;
    if (valid.length === 0) {
      return invalid > 0 ? result(url, 0, total, `no valid spans (${formatCount(invalid)} malformed)`) : result(url, 0, 0);
    }

    const factory = new SpanFactory(trace, buildResource(trace, serviceName), opts.rootSpan !== false);
    const protocol = opts.protocol ?? (process.env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || process.env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf');
    const Exporter = protocol === 'http/json' ? OTLPTraceExporter : OTLPTraceExporterProto;
    const statuses = new HttpStatusWatch(parsed.protocol);
    const exporter = new Exporter({
      url, headers: opts.headers, timeoutMillis, concurrencyLimit: concurrency + 1, httpAgentOptions: statuses.agentFactory,
    });
    let rootFirst = Infinity;
    let rootLast = -Infinity;
    for (const s of valid) {
      if (s.start < rootFirst) rootFirst = s.start;
      if (Math.max(s.end, s.start) > rootLast) rootLast = Math.max(s.end, s.start);
    }

    // Mutated by the workers below; an object so TypeScript does not narrow it to its initial value.
    const state: { sent: number; next: number; failure: Exclude<ExportOutcome, { ok: true }> | null } = { sent: 0, next: 0, failure: null };
    // Worker loop: each takes the next batch until spans run out, a batch fails or the deadline passes. Each
    // request has its own timeout inside the exporter (retries included); the guard adds a margin for an exporter
    // that hangs anyway, and never reaches past the deadline.
    const worker = async () => {
      while (state.failure === null && state.next < valid.length) {
        const left = deadline - Date.now();
        if (left <= 0) {
          state.failure ??= { ok: false, error: new DeadlineError(deadlineMillis), timedOut: true };
          break;
        }
        const guardMs = Math.min(timeoutMillis + 2_000, left);
        const from = state.next;
        const to = (state.next = Math.min(valid.length, from + batchSize));
        const batch: ReadableSpan[] = [];
        if (from === 0 && opts.rootSpan !== false) batch.push(factory.root(trace, rootFirst, rootLast));
        for (let i = from; i < to; i++) batch.push(factory.span(valid[i]));
        let outcome = await exportBatch(exporter, batch, guardMs);
        if (!outcome.ok && outcome.timedOut && guardMs < timeoutMillis + 2_000) outcome = { ...outcome, error: new DeadlineError(deadlineMillis) };
        if (outcome.ok) state.sent += to - from;
        else state.failure ??= outcome;
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, worker));
    } finally {
      statuses.close();
    }

    // Closing waits for requests still in flight, which only a guard timeout can leave behind; do not wait then.
    const closing = exporter.shutdown().catch(() => undefined);
    if (!state.failure?.timedOut) await closing;

    const sent = state.sent;
    const error = state.failure
      ? describeExportError(state.failure.error, timeoutMillis, statuses.last)
      : invalid > 0 ? `${formatCount(invalid)} malformed spans skipped` : undefined;
    return result(url, sent, total - sent, error);
  } catch (e) {
    // Anything unexpected (a bad option the exporter rejects, say) still ends as a result, never a throw.
    return result(url, 0, total, e instanceof Error ? e.message : String(e));
  }
}
