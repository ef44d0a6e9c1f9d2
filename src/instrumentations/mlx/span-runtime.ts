/**
 * The span runtime MlxInstrumentation is built on: the stack of open JS-side spans, running a call
 * inside a span (the hot path of every traced eval, sync point and layer), sampling and the OTel
 * bridge, and the recorder they feed. Patching and the public surface live in instrumentation.ts.
 */
import { context, trace as otelTrace, TraceFlags, type Context, type TracerProvider } from '@opentelemetry/api';
import { InstrumentationBase } from '@opentelemetry/instrumentation';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { HookLayer } from '../../core/record/native';
import { loadPeaks } from '../../core/cost/calibrate';
import { Recorder, type LiveSpan } from '../../core/record/recorder';
import { LayerFrame, type OpenSpan } from '../../core/record/layer-log';
import { OtelBridge } from './otel-bridge';
import type { MlxInstrumentationConfig } from './types';
import { PACKAGE_NAME, PACKAGE_VERSION } from './version';
import { callWith, errorMessage, globalProvider, mlxVersion, sampled } from './utils';
import type { FlightRing } from './flight';
import type { TraceStream } from './stream';

export const DEFAULT_CONFIG: MlxInstrumentationConfig = {
  enabled: true,
  native: true,
  memory: true,
  layers: true,
  syncEachOp: false,
  bufferEvents: 1 << 16,
  maxSpans: 2_000_000,
  maxMemoryEvents: 2_000_000,
};

type AnyFn = (...args: any[]) => any;

export abstract class SpanRuntime extends InstrumentationBase<MlxInstrumentationConfig> {
  protected _mlx: any = null;
  /** The hook layer while attached (layers.ts reads it). */
  _hook: HookLayer | null = null;
  protected _fallbackReason = '';
  _recorder: Recorder | null = null;
  protected _bridge: OtelBridge | null = null;
  protected _provider: TracerProvider | undefined;
  /** The provider the OTEL_* environment asks for (preload), used when the app registers none. */
  private _envProvider: TracerProvider | undefined;
  private _envBridge: OtelBridge | null = null;
  /** Evals and sync points under unsampled spans in progress (native recording is off meanwhile). */
  protected _paused = 0;
  /** A schedule's step with recording off. */
  protected _idle = false;
  protected _flight: FlightRing | null = null;
  protected _stream: TraceStream | null = null;
  /** Open JS-side spans (user regions, layers, evals), innermost last, with the module of each layer. */
  _stack: OpenSpan[] = [];
  _stackModules: unknown[] = [];
  /** Layer frames whose calls have returned, for the next layer calls (_callLayer). */
  private _frames: LayerFrame[] = [];
  /** The current eval's epoch: graph tags made from now on belong to it (layers.ts reads it). */
  _epoch = 1;
  private _als = new AsyncLocalStorage<LiveSpan>();
  /** Unsampled stretches running now with arrays not tagged as made (_applyUnsampled). */
  private _untagged = 0;
  /** The context _untracedNow() last looked at, and its answer. */
  private _askedCtx: Context | undefined = undefined;
  private _askedUntraced = false;

  protected _ensureRecorder(): Recorder {
    if (!this._recorder) {
      const cfg = this.getConfig();
      this._recorder = new Recorder({
        hook: this._hook,
        fallbackReason: this._hook ? undefined : this._fallbackReason || undefined,
        mlxVersion: mlxVersion(this._mlx),
        peaks: cfg.peaks ?? loadPeaks(),
        maxSpans: cfg.maxSpans ?? DEFAULT_CONFIG.maxSpans!,
        maxMemoryEvents: cfg.maxMemoryEvents ?? DEFAULT_CONFIG.maxMemoryEvents!,
        primitiveListener: () => {
          const bridge = this._otel();
          return bridge ? (s, parent) => bridge.primitive(s, parent) : null;
        },
      });
    }
    return this._recorder;
  }

  protected _otel(): OtelBridge | null {
    // The environment's provider stands in until the app registers its own.
    if (this._bridge !== null && this._bridge !== this._envBridge) return this._bridge;
    const provider = this._provider ?? globalProvider();
    if (provider) {
      this._bridge = new OtelBridge(provider.getTracer(PACKAGE_NAME, PACKAGE_VERSION), this._ensureRecorder());
      return this._bridge;
    }
    if (!this._envProvider) return null;
    this._envBridge ??= new OtelBridge(this._envProvider.getTracer(PACKAGE_NAME, PACKAGE_VERSION), this._ensureRecorder());
    return (this._bridge = this._envBridge);
  }

  /** Sends spans to `provider` (the OTEL_* environment's) whenever neither config nor app names one. */
  _useEnvProvider(provider: TracerProvider): void {
    if (this._bridge !== null && this._bridge === this._envBridge) this._bridge = null;
    this._envProvider = provider;
    this._envBridge = null;
  }

  /**
   * Whether nothing is recorded now: a schedule's step with recording off, or an active OpenTelemetry
   * span its sampler left out (nothing under it is recorded).
   */
  _untracedNow(): boolean {
    if (this._idle) return true;
    if (this._bridge === null) return false;
    // Every eval and forward of a request asks under the same context: its answer is kept for it
    // (a Context is immutable, and so is its span's sampled flag).
    const active = context.active();
    if (active === this._askedCtx) return this._askedUntraced;
    const span = otelTrace.getSpan(active);
    this._askedCtx = active;
    return (this._askedUntraced = span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0);
  }

  /** Runs an eval or sync point, orig.apply(thisArg, args), unrecorded: the native layer records nothing meanwhile. */
  protected _untraced(orig: AnyFn, thisArg: unknown, args: unknown[]): unknown {
    const hook = this._hook;
    if (!hook) return orig.apply(thisArg, args);
    if (this._paused++ === 0) hook.binding.setRecording(false);
    try {
      return orig.apply(thisArg, args);
    } finally {
      if (--this._paused === 0 && this._hook === hook) hook.binding.setRecording(!this._idle);
    }
  }

  /**
   * Runs orig.apply(thisArg, args) under an unsampled span (a forward, an unsampled user region's body):
   * nothing made meanwhile is recorded, so arrays are not tagged with a layer as node-mlx makes them
   * either, which spares the native wrap hook's tag walk per array.
   * A schedule's idle step keeps tagging: the graph it builds may run in the next recorded step.
   */
  _applyUnsampled(orig: AnyFn, thisArg: unknown, args: unknown[]): unknown {
    const build = this._hook?.buildState;
    if (this._idle || !build || build[0] === 0) return orig.apply(thisArg, args);
    build[0] = 0;
    this._untagged++;
    try {
      return orig.apply(thisArg, args);
    } finally {
      this._untagged--;
      if (this._hook?.buildState === build) build[0] = 1;
    }
  }

  /** Runs fn with arrays tagged as made again: a span opened with its own sampled context inside an unsampled forward. */
  private _retagged<T>(fn: () => T): T {
    const build = this._hook?.buildState;
    const depth = this._untagged;
    if (!build) return fn();
    this._untagged = 0;
    build[0] = 1;
    try {
      return fn();
    } finally {
      this._untagged = depth;
      if (this._hook?.buildState === build) build[0] = 0;
    }
  }

  /** The innermost open layer span, if any. */
  _innermostLayer(): OpenSpan | undefined {
    const stack = this._stack;
    for (let i = stack.length - 1; i >= 0; i--) if (stack[i].kind === 'layer') return stack[i];
    return undefined;
  }

  _parentId(): number | null {
    const top = this._stack[this._stack.length - 1];
    if (top) return top.id;
    return this._als.getStore()?.id ?? null;
  }

  /** Runs fn with span open (and its OTel twin active); ends it when fn returns, throws or settles. */
  _runIn<T>(span: LiveSpan, fn: () => T, module?: unknown, after?: (out: T) => void): T {
    if (this._untagged !== 0) return this._retagged(() => this._runIn(span, fn, module, after));
    const rec = this._recorder!;
    const bridge = this._otel();
    this._stack.push(span);
    this._stackModules.push(module);
    let ended = false;
    const unstack = () => {
      const i = this._stack.lastIndexOf(span);
      if (i >= 0) {
        this._stack.splice(i, 1);
        this._stackModules.splice(i, 1);
      }
    };
    const finish = (err?: unknown) => {
      if (ended) return;
      ended = true;
      rec.end(span);
      if (err !== undefined && span.kind === 'user') span.attrs = { ...span.attrs, error: errorMessage(err) };
      unstack();
      if (span.kind === 'eval' || span.kind === 'sync') {
        rec.drain(span);
        this._nextEpoch();
        if (this._flight !== null) this._flight.tick();
        else if (this._stream !== null) this._stream.tick();
      }
      bridge?.end(span, err);
    };
    try {
      // User regions carry their span across awaits (AsyncLocalStorage); the rest are synchronous.
      const body = span.kind === 'user' ? () => this._als.run(span, fn) : fn;
      let out: T;
      if (bridge) {
        const ctx = bridge.start(span);
        if (!sampled(ctx)) {
          // Its sampler left this span out: the app runs as untraced, and so does all under it.
          ended = true;
          rec.discard(span);
          unstack();
          bridge.drop(span);
          const untraced = span.kind === 'eval' || span.kind === 'sync' ? this._untraced : this._applyUnsampled;
          return context.with(ctx, () => untraced.call(this, fn, undefined, []) as T);
        }
        out = context.with(ctx, body);
      } else {
        out = body();
      }
      if (span.kind === 'user' && out && typeof (out as any).then === 'function') {
        unstack();
        return (out as any).then(
          (v: unknown) => (finish(), v),
          (e: unknown) => {
            finish(e);
            throw e;
          },
        );
      }
      after?.(out);
      finish();
      return out;
    } catch (e) {
      finish(e);
      throw e;
    }
  }

  /**
   * Runs orig on thisArg (n arguments a, b, c, as callWith takes them) inside `span`, an eval or sync
   * point, synchronously: the hot path of every traced eval, so without an OTel bridge it makes no
   * closure (with one, _runIn does it all). It drains the hook layer as it returns.
   */
  _call(span: LiveSpan, orig: AnyFn, thisArg: unknown, n: number, a?: unknown, b?: unknown, c?: unknown): unknown {
    if (this._otel()) return this._runIn(span, () => callWith(orig, thisArg, n, a, b, c));
    const rec = this._recorder!;
    this._stack.push(span);
    this._stackModules.push(undefined);
    try {
      return callWith(orig, thisArg, n, a, b, c);
    } finally {
      rec.end(span);
      this._unstack(span);
      rec.drain(span);
      this._nextEpoch();
      if (this._flight !== null) this._flight.tick();
      else if (this._stream !== null) this._stream.tick();
    }
  }

  /**
   * A layer call (n arguments a, b, c, as callWith takes them) with the wrap hook on: arrays made
   * meanwhile are tagged with it (`build[1]`). Without an OTel bridge the layer is a row of the
   * recorder's layer log (no span object until the spans are read), on the stack as a reused frame;
   * with one, a span object run through _runIn, which its OTel twin needs.
   */
  _callLayer(name: string, orig: AnyFn, module: unknown, build: Uint32Array, n: number, a?: unknown, b?: unknown, c?: unknown): unknown {
    const rec = this._recorder!;
    if (this._otel()) {
      const span = rec.begin('layer', name, this._parentId());
      return this._runIn(span, () => {
        const outer = build[1];
        build[1] = span.id;
        try {
          return callWith(orig, module, n, a, b, c);
        } finally {
          build[1] = outer;
        }
      }, module);
    }
    const frame = this._frames.pop() ?? new LayerFrame();
    rec.beginLayer(frame, name, this._parentId());
    this._stack.push(frame);
    this._stackModules.push(module);
    const outer = build[1];
    build[1] = frame.id;
    try {
      return callWith(orig, module, n, a, b, c);
    } finally {
      build[1] = outer;
      rec.endLayer(frame);
      this._unstack(frame);
      this._frames.push(frame);
    }
  }

  /** Takes `span` off the stack: the top, unless the body left a span open (an async user region). */
  private _unstack(span: OpenSpan): void {
    const stack = this._stack;
    const i = stack[stack.length - 1] === span ? stack.length - 1 : stack.lastIndexOf(span);
    if (i === stack.length - 1) {
      stack.pop();
      this._stackModules.pop();
    } else if (i >= 0) {
      stack.splice(i, 1);
      this._stackModules.splice(i, 1);
    }
  }

  /** An eval or sync point ended: tags from now on belong to the next one. */
  protected _nextEpoch(): void {
    this._epoch++;
    const build = this._hook?.buildState;
    if (build) build[2] = this._epoch;
  }
}
