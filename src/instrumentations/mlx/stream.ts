/**
 * Streaming recording: the recorder's finished spans and memory events go to a .mlxtrace file
 * (stream-writer.ts) every `flushMs` ms (an unref'd timer, so between the app's tasks, never inside
 * an eval) or as soon as `flushSpans` are held after an eval or sync point, and are then let go: what
 * the recorder holds stays bounded however long the app runs.
 */
import { TraceStreamWriter } from '../../core/io/binary/stream-writer';
import type { Recorder } from '../../core/record/recorder';

export interface StreamOptions {
  /** The trace file (.mlxtrace); it grows as `path + ".partial"` and is renamed when the stream ends. */
  path: string;
  /** Flush what is recorded at least this often, in ms. @default 500 */
  flushMs?: number;
  /** Flush once this many spans are held, at the next eval or sync point. @default 65536 */
  flushSpans?: number;
  /** The trace's name. @default 'trace' */
  name?: string;
  /** Keys added to the trace's meta. */
  meta?: Record<string, unknown>;
}

/** The streamed file's name for a whole-trace JSON name (trace.json -> trace.mlxtrace, trace.rank-N.json -> trace.rank-N.mlxtrace). */
export function streamTraceFile(jsonName: string): string {
  return jsonName.replace(/\.json$/, '') + '.mlxtrace';
}

export function checkStream(o: StreamOptions): void {
  if (!o || typeof o.path !== 'string' || o.path === '') throw new TypeError(`stream needs a path (got ${JSON.stringify(o)})`);
  if (o.flushMs !== undefined && !(o.flushMs > 0)) throw new TypeError(`stream.flushMs must be > 0 (got ${o.flushMs})`);
  if (o.flushSpans !== undefined && !(o.flushSpans >= 1)) throw new TypeError(`stream.flushSpans must be >= 1 (got ${o.flushSpans})`);
}

export class TraceStream {
  private readonly writer: TraceStreamWriter;
  private readonly timer: NodeJS.Timeout;
  private readonly flushSpans: number;
  private dropped = 0;
  private ended = false;
  /** Why the stream stopped early (a write failed): said once, recording goes on in memory. */
  failed: string | null = null;

  constructor(
    opts: StreamOptions,
    private readonly rec: () => Recorder,
  ) {
    checkStream(opts);
    this.flushSpans = opts.flushSpans ?? 65536;
    const head = rec().traceHead(opts.name ?? 'trace', { ...opts.meta, streamed: true });
    const { schema, name, meta, dropped, ...rest } = head;
    this.writer = new TraceStreamWriter(opts.path, JSON.stringify({ schema, name, meta, dropped, ...rest }));
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? 500);
    this.timer.unref();
  }

  get path(): string {
    return this.writer.path;
  }

  get partial(): string {
    return this.writer.partial;
  }

  get open(): boolean {
    return this.writer.open;
  }

  /** Rows written so far. */
  get spans(): number {
    return this.writer.spans;
  }

  /** After each eval or sync point: flushes once flushSpans are held. */
  tick(): void {
    if (this.rec().held >= this.flushSpans) this.flush();
  }

  /** Writes what is finished and lets it go. */
  flush(all = false): void {
    if (!this.writer.open) return;
    try {
      this.dropped += this.rec().flush((source) => this.writer.append(source), all).dropped;
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    clearInterval(this.timer);
    this.failed = (e as Error)?.message ?? String(e);
    this.writer.abandon();
    process.stderr.write(`mlx-trace: the trace stream to ${this.writer.partial} stopped: ${this.failed}\n`);
  }

  /** Writes everything still held and the end block; the file then has its final name. Returns the spans written. */
  end(meta: Record<string, unknown> = {}): number {
    if (this.ended) return this.writer.spans;
    this.ended = true;
    clearInterval(this.timer);
    this.flush(true);
    if (!this.writer.open) throw new Error(`the trace stream to ${this.writer.partial} stopped: ${this.failed}`);
    try {
      this.writer.finish(this.dropped, meta);
    } catch (e) {
      this.fail(e);
      throw e;
    }
    return this.writer.spans;
  }
}
