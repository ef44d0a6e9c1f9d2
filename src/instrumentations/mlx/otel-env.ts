/**
 * OpenTelemetry from the standard environment variables, for the preload (and so `mlx-trace run`).
 * Each variable is read by the SDK package that owns it, as in any OTel-instrumented Node app:
 * - OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _COMPRESSION, _TIMEOUT: the OTLP exporters;
 * - OTEL_TRACES_SAMPLER, _ARG and the span limits: BasicTracerProvider; OTEL_BSP_*: BatchSpanProcessor;
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
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';

export interface EnvOtel {
  provider: BasicTracerProvider;
  /** Sends what is queued; resolves within `timeoutMs` whatever the collector does. */
  flush(timeoutMs: number): Promise<void>;
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
  const exporter = protocol === 'http/json' ? new OTLPJsonExporter() : new OTLPProtoExporter();
  const resource = defaultResource().merge(detectResources({ detectors: [hostDetector, osDetector, processDetector, envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter)] });
  // Parent and child spans find each other through the active context, which needs a manager; an
  // app's own SDK registering one later finds this equivalent one in place.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const flush = (timeoutMs: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      provider.forceFlush().then(
        () => (clearTimeout(timer), resolve()),
        () => (clearTimeout(timer), resolve()),
      );
    });
  return { otel: { provider, flush } };
}
