/**
 * MlxInstrumentation: patches node-mlx (evals, sync points, nn.Module forwards, and in JS-level mode
 * the op functions) and feeds a Recorder. All patching goes through one Patcher and is undone exactly
 * by disable().
 */
import type { TracerProvider } from '@opentelemetry/api';
import { InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { findMlx } from '../../core/record/load-mlx';
import { loadBinding, openHookLayer, type HookLayer } from '../../core/record/native';
import type { Recorder } from '../../core/record/recorder';
import { loadPeaks } from '../../core/cost/calibrate';
import { FAST_FUNCTIONS } from '../../core/record/decode';
import type { Trace } from '../../core/model/trace';
import { Patcher } from './patcher';
import type { MlxInstrumentationConfig } from './types';
import { PACKAGE_NAME, PACKAGE_VERSION, SUPPORTED_MLX } from './version';
import { argsOf, ArraySlots, callWith, errorMessage, mlxModuleFromCache, mlxVersion, sayNativeUnavailable } from './utils';
import { setMlxClasses } from './op-shapes';
import { patchOps } from './js-ops';
import { Layers } from './layers';
import { checkSchedule, StepSchedule } from './schedule';
import { checkFlight, FlightRing } from './flight';
import { checkStream, TraceStream } from './stream';
import { saveTrace } from '../../core/io/persist';
import { describeRecording, liveRecordingBound, startLive, type LiveHandle, type LiveOptions } from './live';
import { DEFAULT_CONFIG, SpanRuntime } from './span-runtime';

type AnyFn = (...args: any[]) => any;

/** The arrays an mx.fast call hands tagGraph (the native side reads them during the call and keeps none). */
const tagRoots = new ArraySlots();
const tagStops = new ArraySlots();

export class MlxInstrumentation extends SpanRuntime {
  /** Every patch this instrumentation made, undone by disable(). */
  _patcher = new Patcher();
  private _schedule: StepSchedule | null = null;
  /** Every class whose forward was wrapped, so a re-enable wraps them again (disable unwraps all). */
  _instrumentedClasses = new Set<Function>();
  private _layers = new Layers(this, this._patcher);
  _on = false;
  /** How many times takeTrace() was called (the preload tells an app that took its trace itself). */
  _takes = 0;
  /** [number of an ending signal the JS thread has not handled], written by the native handler. */
  private _pendingSignal: Int32Array | null = null;
  private _onPendingSignal: ((signo: number) => void) | null = null;

  constructor(config: MlxInstrumentationConfig = {}) {
    // Enabled below, once this class's own fields exist.
    super(PACKAGE_NAME, PACKAGE_VERSION, { ...DEFAULT_CONFIG, ...config, enabled: false });
    this._provider = config.tracerProvider;
    // A bad schedule is refused before anything is patched.
    if (config.schedule) {
      checkSchedule(config.schedule);
      if (typeof config.onTraceReady !== 'function') throw new TypeError('a schedule needs onTraceReady(trace), e.g. traceFiles("./traces")');
      if (config.flightRecorder) throw new TypeError('a schedule and flightRecorder are two ways of choosing what to keep: give one');
    }
    if (config.flightRecorder) checkFlight(config.flightRecorder);
    if (config.stream) {
      checkStream(config.stream);
      if (config.schedule || config.flightRecorder) throw new TypeError('stream writes the whole recording: not with a schedule or flightRecorder');
    }
    if (config.enabled !== false) this.enable();
  }

  override setConfig(config: MlxInstrumentationConfig = {}): void {
    super.setConfig({ ...DEFAULT_CONFIG, ...config });
  }

  override setTracerProvider(provider: TracerProvider): void {
    super.setTracerProvider(provider);
    this._provider = provider;
    this._bridge = null;
  }

  protected init() {
    return new InstrumentationNodeModuleDefinition(
      '@frost-beta/mlx',
      SUPPORTED_MLX,
      (exports: any) => {
        if (this._on) this._patch(exports);
        return exports;
      },
      () => this._unpatch(),
    );
  }

  override enable(): void {
    if (this._on) return;
    this._on = true;
    super.enable();
    // The app usually required MLX before registering us: patch the copy it already has.
    const mlx = mlxModuleFromCache() ?? findMlx();
    if (mlx) this._patch(mlx);
    this._startSchedule();
    this._startFlight();
    this._startStream();
  }

  override disable(): void {
    if (!this._on) return;
    this._on = false;
    super.disable();
    this._unpatch();
  }

  /** Whether primitives are timed by the native hook layer ('native') or only at JS level ('js'). */
  get timing(): 'native' | 'js' {
    return this._hook ? 'native' : 'js';
  }

  /** Why the native hook layer is not in use ('' when it is). */
  get fallbackReason(): string {
    return this._fallbackReason;
  }

  /** The hook layer, while attached (for tests and benchmarks). */
  get hookLayer(): HookLayer | null {
    return this._hook;
  }

  /**
   * Everything recorded since the last take, as a plain Trace. Its `spans` and `memory` arrays are
   * made the first time they are read (ordinary data properties from then on); saveTrace of a trace
   * never read, to .mlxtrace, writes the recorded columns without making them.
   */
  takeTrace(name = 'trace', meta: Record<string, unknown> = {}): Trace {
    const rec = this._ensureRecorder();
    this._bridge?.reset();
    this._takes++;
    return rec.take(name, meta);
  }

  /**
   * Serves a page on 127.0.0.1 that shows this app while it runs (timeline of the last seconds,
   * tokens/s, op and layer tables, memory, findings); returns its URL once it listens.
   */
  serveLive(options: LiveOptions = {}): LiveHandle {
    const cfg = this.getConfig();
    const bound = liveRecordingBound(cfg, options);
    if (bound) this._startFlight(bound);
    return startLive(this._ensureRecorder(), {
      name: options.name ?? (process.argv[1]?.split(/[\\/]/).pop() || 'app'),
      timing: this.timing,
      fallbackReason: this._fallbackReason,
      classes: [...(this._hook?.classes ?? [])],
      peaks: cfg.peaks ?? loadPeaks(),
      versions: { mlx: mlxVersion(this._mlx), mlxTrace: PACKAGE_VERSION },
      recording: describeRecording(cfg, bound),
    }, options);
  }

  /** Instruments the classes of a model built before registration (one call, whole tree). */
  instrumentModule(model: any): void {
    if (!model || typeof model.modules !== 'function') throw new TypeError('instrumentModule expects an nn.Module');
    for (const m of model.modules()) this._instrumentClass(m.constructor);
    this._layers.forget(model);
  }

  /**
   * Ends a step of the configured schedule (torch.profiler's prof.step()): recording turns on or off
   * as the schedule says, and a finished window goes to onTraceReady. Without a schedule, does nothing.
   */
  step(): void {
    this._schedule?.step();
  }

  private _startSchedule(): void {
    const cfg = this.getConfig();
    if (!cfg.schedule || this._schedule) return;
    const ready = cfg.onTraceReady!;
    this._schedule = new StepSchedule(
      cfg.schedule,
      {
        setRecording: (on) => {
          this._idle = !on;
          if (this._paused === 0) this._hook?.binding.setRecording(on);
        },
        discard: () => void this._take('discarded', {}),
        take: (name, meta) => this._take(name, meta),
      },
      ready,
    );
  }

  private _startFlight(options = this.getConfig().flightRecorder): void {
    if (!options || this._flight) return;
    const rec = () => this._ensureRecorder();
    this._flight = new FlightRing(options, { now: () => rec().now(), held: () => rec().held, take: (name) => this._take(name, {}) });
  }

  private _startStream(): void {
    const cfg = this.getConfig();
    if (!cfg.stream || this._stream) return;
    try {
      this._stream = new TraceStream(cfg.stream, () => this._ensureRecorder());
    } catch (e) {
      // Recording goes on in memory, as without a stream.
      process.stderr.write(`mlx-trace: cannot stream the trace to ${cfg.stream.path}: ${errorMessage(e)}\n`);
      return;
    }
    // A process that ends normally leaves a complete file (exit handlers are synchronous, as end() is).
    process.once('exit', () => this._endStreamQuietly());
  }

  private _endStreamQuietly(): void {
    try {
      this.endStream();
    } catch (e) {
      process.stderr.write(`mlx-trace: could not finish the trace stream: ${errorMessage(e)}\n`);
    }
  }

  /** The streamed trace's final path (config `stream`), or null when not streaming. */
  get streamPath(): string | null {
    return this._stream?.path ?? null;
  }

  /** Spans written to the stream so far (0 when not streaming). */
  get streamedSpans(): number {
    return this._stream?.spans ?? 0;
  }

  /**
   * Ends the stream (config `stream`): writes what is held and the end block (with `meta` added to
   * the trace's meta), and gives the file its final name. Returns the spans written, or -1 when not
   * streaming. Recording then goes on in memory, for takeTrace().
   */
  endStream(meta: Record<string, unknown> = {}): number {
    if (!this._stream) return -1;
    return this._stream.end(meta);
  }

  /**
   * Writes what is recorded to `path` (.mlxtrace or .json). In flight-recorder mode that is the ring
   * (the last seconds or spans), which then starts afresh; otherwise everything since the last take,
   * which stays for takeTrace(). Returns the number of spans written.
   */
  dump(path: string, name = 'dump'): number {
    const trace = this._flight ? this._flight.dump(name) : this._ensureRecorder().take(name, {}, undefined, true);
    saveTrace(trace, path);
    return trace.spans.length;
  }

  private _take(name: string, meta: Record<string, unknown>): Trace {
    this._bridge?.reset();
    return this._ensureRecorder().take(name, meta);
  }

  /** Runs fn inside a user span (torch's record_function). Works with async functions. */
  withSpan<T>(name: string, fn: () => T, attrs?: Record<string, string | number | boolean>): T {
    if (this._untracedNow()) return this._applyUnsampled(fn, undefined, []) as T;
    const rec = this._ensureRecorder();
    const span = rec.begin('user', name, this._parentId(), attrs);
    return this._runIn(span, fn);
  }

  /** The recorder, created on first use even when MLX is absent (manual op timing). */
  get recorder(): Recorder {
    return this._ensureRecorder();
  }

  /**
   * Has `onPending` called at the next eval or sync point after one of `signals` arrives, for an app
   * whose JS thread is too busy to run signal listeners (the preload's Ctrl-C handling). Returns a
   * function that marks the signal handled, or null when the native layer cannot watch signals.
   */
  _watchSignals(signals: number[], onPending: (signo: number) => void): (() => void) | null {
    const binding = loadBinding().binding;
    if (!binding || typeof binding.watchSignals !== 'function') return null;
    const pending = new Int32Array(binding.watchSignals(signals));
    this._pendingSignal = pending;
    this._onPendingSignal = onPending;
    return () => {
      pending[0] = 0;
    };
  }

  private _takePendingSignal(): void {
    const signo = this._pendingSignal![0];
    this._pendingSignal![0] = 0;
    this._onPendingSignal?.(signo);
  }

  // ---- patching -----------------------------------------------------------------------------

  private _patch(mlx: any): void {
    if (this._mlx === mlx && this._patcher.count > 0) return;
    if (this._patcher.count > 0) this._unpatch();
    const cfg = this.getConfig();
    this._mlx = mlx;
    const core = mlx.core;
    setMlxClasses(core);
    if (cfg.native !== false) {
      const h = openHookLayer(core, { memory: cfg.memory !== false, bufferEvents: cfg.bufferEvents });
      if ('reason' in h) {
        this._hook = null;
        this._fallbackReason = h.reason;
        this._diag.warn(`mlx-trace: JS-level timing only: ${h.reason}`);
        sayNativeUnavailable(h.reason);
      } else {
        this._hook = h;
        this._fallbackReason = '';
      }
    } else {
      this._hook = null;
      this._fallbackReason = 'native hook layer disabled by config (native: false)';
    }
    // A recorder from an earlier enable keeps its spans but must use the hook layer as it is now.
    const old = this._recorder;
    this._recorder = null;
    const rec = this._ensureRecorder();
    if (old) rec.adopt(old);
    this._hook?.binding.setRecording(!this._idle);
    const build = this._hook?.buildState;
    if (build) {
      build[1] = 0;
      build[2] = this._epoch;
      build[0] = cfg.layers !== false ? 1 : 0;
    }

    // Evals, and sync points (each forces the graph behind one array to run). Up to three arguments
    // are passed on as they are (callWith), more through an array.
    const self = this;
    const wrapCall = (target: any, name: string, kind: 'eval' | 'sync') =>
      this._patcher.wrap<AnyFn>(target, name, (orig) => {
        const call = (thisArg: unknown, n: number, a?: unknown, b?: unknown, c?: unknown): unknown => {
          if (self._untracedNow()) return self._untraced(orig, thisArg, argsOf(n, a, b, c));
          const span = rec.begin(kind, name, self._parentId());
          if (name === 'asyncEval') rec.markAsync(span);
          return self._call(span, orig, thisArg, n, a, b, c);
        };
        const withArray = function (this: unknown, ...args: unknown[]) {
          return call(this, -1, args);
        };
        return function (this: unknown, a?: unknown, b?: unknown, c?: unknown) {
          if (self._pendingSignal !== null && self._pendingSignal[0] !== 0) self._takePendingSignal();
          if (!self._on) return orig.apply(this, arguments as never);
          const n = arguments.length;
          return n > 3 ? withArray.apply(this, arguments as never) : call(this, n, a, b, c);
        };
      });
    wrapCall(core, 'eval', 'eval');
    wrapCall(core, 'asyncEval', 'eval');
    const proto = core.array?.prototype;
    if (proto) for (const name of ['item', 'tolist', 'toString']) wrapCall(proto, name, 'sync');

    if (this._hook && core.fast) this._patchFast(core.fast);
    if (cfg.layers !== false && mlx.nn) {
      this._layers.patch(mlx.nn);
      for (const c of [...this._instrumentedClasses]) this._instrumentClass(c);
    }
    if (!this._hook) patchOps(this, this._patcher, core, cfg.syncEachOp === true);
  }

  /**
   * Marks the graph each mx.fast call builds, so fallback primitives are known for what they are.
   * Up to six arguments are passed on as they are (callWith), more through an array.
   */
  private _patchFast(fast: any): void {
    const self = this;
    FAST_FUNCTIONS.forEach((name, marker) => {
      if (!marker || typeof fast[name] !== 'function') return;
      this._patcher.wrap<AnyFn>(fast, name, (orig) => {
        const withArray = function (this: unknown, ...args: unknown[]) {
          return self._fastCall(orig, marker, this, -1, args);
        };
        return function (this: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown) {
          if (!self._on || !self._hook) return orig.apply(this, arguments as never);
          const n = arguments.length;
          if (n > 6) return withArray.apply(this, arguments as never);
          return self._fastCall(orig, marker, this, n, a, b, c, d, e, f);
        };
      });
    });
  }

  /** An mx.fast call (function `marker` of FAST_FUNCTIONS) with n arguments a..f as callWith takes them. */
  private _fastCall(orig: AnyFn, marker: number, thisArg: unknown, n: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): unknown {
    const hook = this._hook!;
    const build = hook.buildState;
    const asMade = build !== null && build[0] !== 0;
    const layer = asMade ? build[1] : this._innermostLayer()?.id ?? 0;
    // The inputs' graphs are the caller's: tagged for this eval first, every node tagged for it
    // from here on is the fast call's (a lazy input left from an earlier eval would not be).
    try {
      hook.binding.tagGraph(tagRoots.fillArgs(n, a, b, c, d, e, f), layer, this._epoch);
    } finally {
      tagRoots.clear();
    }
    if (asMade) {
      // Arrays are tagged as node-mlx makes them: the nodes made meanwhile get the mark then.
      const outer = build[4];
      build[4] = marker;
      try {
        return callWith(orig, thisArg, n, a, b, c, d, e, f);
      } finally {
        build[4] = outer;
      }
    }
    const out = callWith(orig, thisArg, n, a, b, c, d, e, f);
    try {
      hook.binding.tagGraph(tagRoots.fill(out), layer, this._epoch, tagStops.fillArgs(n, a, b, c, d, e, f), marker);
    } finally {
      tagRoots.clear();
      tagStops.clear();
    }
    return out;
  }

  private _unpatch(): void {
    if (this._hook) {
      this._recorder?.drain(null);
      this._hook.binding.setRecording(false);
      this._hook.binding.detach();
      this._hook = null;
    }
    this._patcher.restoreAll();
  }

  /** Wraps `ctor`'s forward (and its ancestors' own) so each call is a layer span. */
  _instrumentClass(ctor: Function): void {
    this._layers.instrumentClass(ctor);
  }
}
