/**
 * A batch span processor sized for MLX's span rate that counts what it loses. MLX makes a span per
 * primitive, tens of thousands a second, so the SDK's defaults (a 2,048-span queue, a batch every 5 s)
 * drop most of them, and the SDK's BatchSpanProcessor drops silently. This one keeps the queue itself:
 * it knows exactly how many spans ended while the queue was full, how many were still queued or in an
 * unanswered export when the process ended, and how many were in exports the collector refused, so the
 * preload can put the count in the trace's meta (meta.otlpLive) and say it in one line at shutdown.
 * examples/jaeger uses it for its own provider.
 */
import { TraceFlags, type Context } from '@opentelemetry/api';
import { BatchSpanProcessor, type ReadableSpan, type Span, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { OtlpLiveDelivery } from '../../core/model/meta';
import { PACKAGE_NAME } from './version';

/** The batch settings, and the exporter's concurrency that a flush of the whole queue needs. */
export interface MlxBatchSizing {
  /** Spans held while the exporter is busy; more are dropped (and counted). */
  maxQueueSize: number;
  /** Spans per export request. */
  maxExportBatchSize: number;
  /** How long a partial batch waits before it is sent, in ms. */
  scheduledDelayMillis: number;
  /**
   * Exports an OTLP exporter must allow at once (its `concurrencyLimit`): a flush sends every queued batch
   * together, and an exporter that refuses the rest ("Concurrent export limit reached") loses them.
   */
  concurrencyLimit: number;
}

/**
 * The queue holds a few seconds of a fast MLX loop, and each request carries a large batch sent after a short
 * wait: the processor sends one batch at a time, so large batches are what keep up with the rate.
 */
const MLX_QUEUE = 131_072;
const MLX_BATCH = 4_096;
const MLX_DELAY_MS = 200;

/** Export results the SDK's exporters report (ExportResultCode.SUCCESS is 0). */
interface ExportResult {
  code: number;
  error?: Error;
}

const positive = (v: string | undefined): number | undefined => {
  const n = Number(v?.trim());
  return v?.trim() && Number.isInteger(n) && n > 0 ? n : undefined;
};

export class MlxBatchSpanProcessor implements SpanProcessor {
  /** MLX's sizing, with OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE and OTEL_BSP_SCHEDULE_DELAY where set. */
  static sizing(env: NodeJS.ProcessEnv = process.env): MlxBatchSizing {
    const maxQueueSize = positive(env.OTEL_BSP_MAX_QUEUE_SIZE) ?? MLX_QUEUE;
    const maxExportBatchSize = Math.min(maxQueueSize, positive(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE) ?? MLX_BATCH);
    const scheduledDelayMillis = positive(env.OTEL_BSP_SCHEDULE_DELAY) ?? MLX_DELAY_MS;
    return { maxQueueSize, maxExportBatchSize, scheduledDelayMillis, concurrencyLimit: Math.ceil(maxQueueSize / maxExportBatchSize) + 1 };
  }

  private readonly batch: BatchSpanProcessor;
  private readonly maxQueue: number;
  /** Every sampled span, whatever its scope: what the queue holds is forwarded - handed. */
  private forwarded = 0;
  private handed = 0;
  /** Spans of `scope` only: what the counts report. */
  private ended = 0;
  private queueFull = 0;
  private mineForwarded = 0;
  private mineHanded = 0;
  private delivered = 0;
  private failed = 0;
  private inFlight = 0;
  private lastError = '';
  /** Set by close(): spans ending from then on are counted as not sent, so the last flush can finish. */
  private closing = false;
  private endedClosing = 0;
  private idleWaiters: (() => void)[] = [];

  /**
   * @param exporter where the batches go (build an OTLP exporter with `sizing.concurrencyLimit`)
   * @param sizing MlxBatchSpanProcessor.sizing() by default
   * @param scope the instrumentation scope whose spans are counted; every span is queued and sent
   */
  constructor(exporter: SpanExporter, sizing: Partial<MlxBatchSizing> = MlxBatchSpanProcessor.sizing(), private readonly scope: string = PACKAGE_NAME) {
    const s = { ...MlxBatchSpanProcessor.sizing({}), ...sizing };
    this.maxQueue = s.maxQueueSize;
    this.batch = new BatchSpanProcessor(this.counting(exporter), {
      maxQueueSize: s.maxQueueSize,
      maxExportBatchSize: s.maxExportBatchSize,
      scheduledDelayMillis: s.scheduledDelayMillis,
    });
  }

  onStart(span: Span, parentContext: Context): void {
    this.batch.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    // The batch processor leaves unsampled spans out; so do the counts.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    const mine = span.instrumentationScope.name === this.scope;
    if (mine) this.ended++;
    if (this.closing) {
      if (mine) this.endedClosing++;
      return;
    }
    if (this.forwarded - this.handed >= this.maxQueue) {
      if (mine) this.queueFull++;
      return;
    }
    this.forwarded++;
    if (mine) this.mineForwarded++;
    this.batch.onEnd(span);
  }

  /** Sends everything queued and waits for every export to be answered. Never rejects: failures are counted. */
  async forceFlush(): Promise<void> {
    await this.batch.forceFlush().catch(() => undefined);
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** forceFlush, waiting at most `timeoutMs`; whether everything was answered in time. */
  flush(timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      // Not unref'd: the wait is bounded, and the process stays up for it.
      const timer = setTimeout(() => resolve(false), timeoutMs);
      void this.forceFlush().then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * The last flush of a process about to end (a signal): spans ending from now on are not queued (they are
   * counted as not sent), so no new export starts and the wait covers every one in flight.
   */
  close(timeoutMs: number): Promise<boolean> {
    this.closing = true;
    return this.flush(timeoutMs);
  }

  shutdown(): Promise<void> {
    return this.batch.shutdown();
  }

  /** What became of the spans of `scope` so far. */
  stats(): OtlpLiveDelivery {
    const exportFailed = this.failed;
    const unanswered = this.mineHanded - this.delivered - this.failed;
    const unsent = this.mineForwarded - this.mineHanded + this.endedClosing;
    return {
      spans: this.ended,
      sent: this.delivered,
      dropped: this.ended - this.delivered,
      queueFull: this.queueFull,
      unsent,
      exportFailed,
      unanswered,
      ...(this.lastError ? { error: this.lastError } : {}),
    };
  }

  /** One plain line: 'mlx-trace: sent 1,234 of 1,234 MLX spans (0 dropped)', with each reason when some were lost. */
  summary(): string {
    const s = this.stats();
    const n = (x: number) => x.toLocaleString('en-US');
    const why = [
      s.queueFull > 0 ? `${n(s.queueFull)} queue full` : '',
      s.unsent > 0 ? `${n(s.unsent)} not sent before exit` : '',
      s.exportFailed > 0 ? `${n(s.exportFailed)} in failed exports (${s.error})` : '',
      s.unanswered > 0 ? `${n(s.unanswered)} in exports unanswered at exit` : '',
    ].filter(Boolean);
    return `mlx-trace: sent ${n(s.sent)} of ${n(s.spans)} MLX spans (${n(s.dropped)} dropped${why.length ? `: ${why.join(', ')}` : ''})`;
  }

  /** The exporter, counting what each export carries and how it ends. */
  private counting(exporter: SpanExporter): SpanExporter {
    return {
      export: (spans: ReadableSpan[], done: (result: ExportResult) => void) => {
        let mine = 0;
        for (const s of spans) if (s.instrumentationScope.name === this.scope) mine++;
        this.handed += spans.length;
        this.mineHanded += mine;
        this.inFlight++;
        let answered = false;
        exporter.export(spans, (result: ExportResult) => {
          if (answered) return;
          answered = true;
          if (result.code === 0) this.delivered += mine;
          else {
            this.failed += mine;
            this.lastError = oneLine(result.error?.message || 'export failed');
          }
          if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
          done(result);
        });
      },
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
      shutdown: () => exporter.shutdown(),
    };
  }
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim().slice(0, 200);
