/**
 * OpenTelemetry from the standard environment variables, for the preload (and so `mlx-trace run`).
 * Each variable is read by the SDK package that owns it, as in any OTel-instrumented Node app:
 * - OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _COMPRESSION, _TIMEOUT: the OTLP exporters;
 * - OTEL_TRACES_SAMPLER, _ARG and the span limits: BasicTracerProvider;
 * - OTEL_BSP_MAX_QUEUE_SIZE, _MAX_EXPORT_BATCH_SIZE, _SCHEDULE_DELAY: MlxBatchSpanProcessor (otel-delivery.ts),
 *   whose defaults are sized for MLX's span rate, and which counts what it drops;
 * - OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES: the resources package's envDetector, merged over its
 *   host (host.arch amd64/arm64), os (os.type) and process detectors.
 * Only the exporter's choice is made here, from OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf by
 * default, http/json; grpc is not bundled), the one place the SDK leaves it to the distribution.
 * The provider is not registered globally: an app that sets up its own SDK keeps it, and the
 * instrumentation sends to the app's provider when there is one.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter as OTLPJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, hostDetector, osDetector, processDetector } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import type { OtlpLiveDelivery } from '../../core/model/meta';
import { MlxBatchSpanProcessor } from './otel-delivery';

export interface EnvOtel {
  provider: BasicTracerProvider;
  /** Sends what is queued; resolves within `timeoutMs` whatever the collector does (true when all was answered). */
  flush(timeoutMs: number): Promise<boolean>;
  /** The last flush before a signal ends the process: spans ending meanwhile are not queued, only counted. */
  close(timeoutMs: number): Promise<boolean>;
  /** What the live path delivered and lost so far (meta.otlpLive). */
  delivery(): OtlpLiveDelivery;
  /** One plain line saying what was sent and what was lost, and why. */
  summary(): string;
}

/**
 * The tracer provider the environment asks for, or null when it asks for none (no OTLP endpoint,
 * OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER without otlp). A setting this cannot honour is a
 * `problem` line for the caller to print.
 */
export function otelFromEnv(env: NodeJS.ProcessEnv = process.env): { otel: EnvOtel | null; problem?: string } {
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() && !env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) return { otel: null };
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return { otel: null };
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((s) => s.trim().toLowerCase());
  if (!exporters.includes('otlp')) return { otel: null };
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    return { otel: null, problem: `mlx-trace: OTLP protocol "${protocol}" is not supported here; set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or http/json` };
  }
  // A flush sends every queued batch at once: the exporter must accept that many requests together.
  const sizing = MlxBatchSpanProcessor.sizing(env);
  const exporterConfig = { concurrencyLimit: sizing.concurrencyLimit };
  const exporter = protocol === 'http/json' ? new OTLPJsonExporter(exporterConfig) : new OTLPProtoExporter(exporterConfig);
  const processor = new MlxBatchSpanProcessor(exporter, sizing);
  const resource = defaultResource().merge(detectResources({ detectors: [hostDetector, osDetector, processDetector, envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  // Parent and child spans find each other through the active context, which needs a manager; an
  // app's own SDK registering one later finds this equivalent one in place.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return { otel: { provider, flush: (ms) => processor.flush(ms), close: (ms) => processor.close(ms), delivery: () => processor.stats(), summary: () => processor.summary() } };
}
