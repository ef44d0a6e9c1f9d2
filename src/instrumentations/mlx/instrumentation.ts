/**
 * MlxInstrumentation: patches node-mlx (evals, sync points, nn.Module forwards, and in JS-level mode
 * the op functions) and feeds a Recorder. All patching goes through one Patcher and is undone exactly
 * by disable().
 */
import { context, trace as otelTrace, TraceFlags, type TracerProvider } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition } from '@opentelemetry/instrumentation';
import { AsyncLocalStorage } from 'node:async_hooks';
import { findMlx } from '../../core/record/load-mlx';
import { loadBinding, openHookLayer, type HookLayer } from '../../core/record/native';
import { loadPeaks } from '../../core/cost/calibrate';
import { Recorder, type LiveSpan } from '../../core/record/recorder';
import { FAST_FUNCTIONS } from '../../core/record/decode';
import type { Trace } from '../../core/model/trace';
import { OtelBridge } from './otel-bridge';
import { Patcher } from './patcher';
import type { MlxInstrumentationConfig } from './types';
import { PACKAGE_NAME, PACKAGE_VERSION, SUPPORTED_MLX } from './version';
import { arraysIn, baseModuleExports, errorMessage, globalProvider, mlxModuleFromCache, mlxVersion, sampled, sayNativeUnavailable } from './utils';
import { setMlxClasses } from './op-shapes';
import { patchOps } from './js-ops';
import { LoadOrder } from './load-order';
import { checkSchedule, StepSchedule } from './schedule';
import { checkFlight, FlightRing } from './flight';
import { checkStream, TraceStream } from './stream';
import { saveTrace } from '../../core/io/persist';
import { startLive, type LiveHandle, type LiveOptions } from './live';

const DEFAULT_CONFIG: MlxInstrumentationConfig = {
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

/** The epoch tagGraph marks a launched graph with (native/tags.h kLaunched). */
const LAUNCHED_EPOCH = 0xffffffff;

export class MlxInstrumentation extends InstrumentationBase<MlxInstrumentationConfig> {
  private _patcher = new Patcher();
  private _mlx: any = null;
  private _hook: HookLayer | null = null;
  private _fallbackReason = '';
  _recorder: Recorder | null = null;
  private _bridge: OtelBridge | null = null;
  private _provider: TracerProvider | undefined;
  /** The provider the OTEL_* environment asks for (preload), used when the app registers none. */
  private _envProvider: TracerProvider | undefined;
  private _envBridge: OtelBridge | null = null;
  /** Evals and sync points under unsampled spans in progress (native recording is off meanwhile). */
  private _paused = 0;
  /** A schedule's step with recording off. */
  private _idle = false;
  private _schedule: StepSchedule | null = null;
  private _flight: FlightRing | null = null;
  private _stream: TraceStream | null = null;
  /** Open JS-side spans (user regions, layers, evals), innermost last, with the module of each layer. */
  _stack: LiveSpan[] = [];
  private _stackModules: unknown[] = [];
  private _epoch = 1;
  private _fastEpoch = 1;
  private _paths = new WeakMap<object, string>();
  /** Each layer's span name, made once (its path and class) until the paths change. */
  private _names = new WeakMap<object, string>();
  /** Every class whose forward was wrapped, so a re-enable wraps them again (disable unwraps all). */
  _instrumentedClasses = new Set<Function>();
  private _loadOrder = new LoadOrder(this);
  _on = false;
  private _als = new AsyncLocalStorage<LiveSpan>();
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
    return startLive(this._ensureRecorder(), {
      name: options.name ?? (process.argv[1]?.split(/[\\/]/).pop() || 'app'),
      timing: this.timing,
      fallbackReason: this._fallbackReason,
      classes: [...(this._hook?.classes ?? [])],
      peaks: cfg.peaks ?? loadPeaks(),
      versions: { mlx: mlxVersion(this._mlx), mlxTrace: PACKAGE_VERSION },
    }, options);
  }

  /** Instruments the classes of a model built before registration (one call, whole tree). */
  instrumentModule(model: any): void {
    if (!model || typeof model.modules !== 'function') throw new TypeError('instrumentModule expects an nn.Module');
    for (const m of model.modules()) this._instrumentClass(m.constructor);
    this._paths.delete(model);
    this._names = new WeakMap();
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

  private _startFlight(): void {
    const cfg = this.getConfig();
    if (!cfg.flightRecorder || this._flight) return;
    const rec = () => this._ensureRecorder();
    this._flight = new FlightRing(cfg.flightRecorder, { now: () => rec().now(), held: () => rec().held, take: (name) => this._take(name, {}) });
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
    if (this._untracedNow()) return fn();
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

  // ---- span plumbing ------------------------------------------------------------------------

  private _ensureRecorder(): Recorder {
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

  private _otel(): OtelBridge | null {
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
    const span = otelTrace.getSpan(context.active());
    return span !== undefined && (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0;
  }

  /** Runs an eval or sync point unrecorded: the native layer records nothing while it runs. */
  private _untraced<T>(fn: () => T): T {
    const hook = this._hook;
    if (!hook) return fn();
    if (this._paused++ === 0) hook.binding.setRecording(false);
    try {
      return fn();
    } finally {
      if (--this._paused === 0 && this._hook === hook) hook.binding.setRecording(!this._idle);
    }
  }

  _parentId(): number | null {
    const top = this._stack[this._stack.length - 1];
    if (top) return top.id;
    return this._als.getStore()?.id ?? null;
  }

  /** Runs fn with span open (and its OTel twin active); ends it when fn returns, throws or settles. */
  _runIn<T>(span: LiveSpan, fn: () => T, module?: unknown, after?: (out: T) => void): T {
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
          bridge.end(span);
          return context.with(ctx, span.kind === 'eval' || span.kind === 'sync' ? () => this._untraced(fn) : fn);
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
   * Runs orig.apply(thisArg, args) inside `span`, synchronously: evals, sync points and layers, the
   * hot path of every traced call, so without an OTel bridge it makes no closure (with one, _runIn
   * does it all). With `build` (the wrap hook's state), arrays made meanwhile are tagged with the
   * span (a layer). An eval or sync point drains the hook layer as it returns.
   */
  _call(span: LiveSpan, orig: AnyFn, thisArg: unknown, args: unknown[], module?: unknown, build?: Uint32Array): unknown {
    if (this._otel()) {
      if (!build) return this._runIn(span, () => orig.apply(thisArg, args), module);
      return this._runIn(span, () => {
        const outer = build[1];
        build[1] = span.id;
        try {
          return orig.apply(thisArg, args);
        } finally {
          build[1] = outer;
        }
      }, module);
    }
    const rec = this._recorder!;
    const stack = this._stack;
    stack.push(span);
    this._stackModules.push(module);
    const outer = build ? build[1] : 0;
    if (build) build[1] = span.id;
    try {
      return orig.apply(thisArg, args);
    } finally {
      if (build) build[1] = outer;
      rec.end(span);
      // Its own entry: the top, unless the body left a span open (an async user region).
      const i = stack[stack.length - 1] === span ? stack.length - 1 : stack.lastIndexOf(span);
      if (i === stack.length - 1) {
        stack.pop();
        this._stackModules.pop();
      } else if (i >= 0) {
        stack.splice(i, 1);
        this._stackModules.splice(i, 1);
      }
      if (span.kind !== 'layer') {
        rec.drain(span);
        this._nextEpoch();
        if (this._flight !== null) this._flight.tick();
        else if (this._stream !== null) this._stream.tick();
      }
    }
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

    const self = this;
    const tagLaunched = cfg.layers !== false;
    const wrapEval = (name: string) =>
      this._patcher.wrap<AnyFn>(core, name, (orig) =>
        function (this: unknown, ...args: unknown[]) {
          if (self._pendingSignal !== null && self._pendingSignal[0] !== 0) self._takePendingSignal();
          if (!self._on) return orig.apply(this, args);
          if (self._untracedNow()) return self._untraced(() => orig.apply(this, args));
          const span = rec.begin('eval', name, self._parentId());
          if (name === 'asyncEval') {
            rec.markAsync(span);
            // Its graph is about to run on the stream thread: no later walk may read or re-tag it.
            if (tagLaunched) self._hook?.binding.tagGraph(arraysIn(args), 0, LAUNCHED_EPOCH);
          }
          return self._call(span, orig, this, args);
        },
      );
    wrapEval('eval');
    wrapEval('asyncEval');

    // Sync points: each forces the graph behind one array to run.
    const proto = core.array?.prototype;
    for (const name of ['item', 'tolist', 'toString']) {
      if (!proto) break;
      this._patcher.wrap<AnyFn>(proto, name, (orig) =>
        function (this: unknown, ...args: unknown[]) {
          if (self._pendingSignal !== null && self._pendingSignal[0] !== 0) self._takePendingSignal();
          if (!self._on) return orig.apply(this, args);
          if (self._untracedNow()) return self._untraced(() => orig.apply(this, args));
          const span = rec.begin('sync', name, self._parentId());
          return self._call(span, orig, this, args);
        },
      );
    }

    if (this._hook && core.fast) this._patchFast(core.fast);
    if (cfg.layers !== false && mlx.nn) {
      this._patchLayers(mlx.nn);
      for (const c of [...this._instrumentedClasses]) this._instrumentClass(c);
    }
    if (!this._hook) patchOps(this, this._patcher, core, cfg.syncEachOp === true);
  }

  /** Marks the graph each mx.fast call builds, so fallback primitives are known for what they are. */
  private _patchFast(fast: any): void {
    const self = this;
    FAST_FUNCTIONS.forEach((name, marker) => {
      if (!marker || typeof fast[name] !== 'function') return;
      this._patcher.wrap<AnyFn>(fast, name, (orig) =>
        function (this: unknown, ...args: unknown[]) {
          const out = orig.apply(this, args);
          const hook = self._hook;
          if (self._on && hook) hook.binding.tagGraph(arraysIn(out), marker, self._fastEpoch++, arraysIn(args));
          return out;
        },
      );
    });
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

  private _patchLayers(nn: any): void {
    for (const key of Object.keys(nn)) {
      const v = nn[key];
      if (typeof v === 'function' && v.prototype instanceof nn.Module) this._instrumentClass(v);
    }
    // Classes the app defines from now on extend our subclass, which instruments them when the
    // first instance is built; a model built before registration takes instrumentModule().
    const base = baseModuleExports(nn.Module);
    if (!base) return;
    const Orig = base.Module;
    const self = this;
    this._loadOrder.patchEntries(this._patcher, Orig.prototype);
    class Module extends Orig {
      constructor(...args: unknown[]) {
        super(...args);
        if (self._on) self._instrumentClass(new.target);
      }
      static [Symbol.hasInstance](o: unknown): boolean {
        return this === Module ? o instanceof Orig : Function.prototype[Symbol.hasInstance].call(this, o);
      }
    }
    this._patcher.set(base, 'Module', Module);
  }

  _instrumentClass(ctor: Function): void {
    if (!ctor || (this._instrumentedClasses.has(ctor) && this._patcher.isWrapped(ctor.prototype?.forward))) return;
    this._instrumentedClasses.add(ctor);
    for (let p = ctor.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      if (Object.prototype.hasOwnProperty.call(p, 'forward')) this._wrapForward(p);
    }
  }

  private _wrapForward(proto: object): void {
    const self = this;
    this._patcher.wrap<AnyFn>(proto, 'forward', (orig) =>
      function (this: any, ...args: unknown[]) {
        if (!self._on || !self._recorder || self._untracedNow()) return orig.apply(this, args);
        return self._traceLayer(orig, this, args);
      },
    );
  }

  private _traceLayer(orig: AnyFn, module: any, args: unknown[]): unknown {
    const rec = this._recorder!;
    const depth = this._stack.length;
    // super.forward() from an overriding class: one layer, not two.
    if (depth && this._stackModules[depth - 1] === module) return orig.apply(module, args);
    let parentLayer: LiveSpan | undefined;
    for (let i = depth - 1; i >= 0; i--) if (this._stack[i].kind === 'layer') { parentLayer = this._stack[i]; break; }
    if (!parentLayer) {
      this._ensurePaths(module);
      if (!this._paths.get(module)) this._loadOrder.checkRoot(module);
    }
    const hook = this._hook;
    const build = hook?.buildState;
    // What the arguments' graphs hold was built by the caller, not by this layer (tagged as made
    // when the wrap hook is on; the walk at forward's return must not reach them otherwise).
    if (hook && !build) hook.binding.tagGraph(arraysIn(args), parentLayer ? parentLayer.id : 0, this._epoch);
    const span = rec.begin('layer', this._layerName(module), this._parentId());
    // Arrays are tagged with this layer as node-mlx makes them (native wrap hook).
    if (build) return this._call(span, orig, module, args, module, build);
    return this._runIn(span, () => orig.apply(module, args), module, (out) => {
      if (hook) hook.binding.tagGraph(arraysIn(out), span.id, this._epoch);
    });
  }

  /** An eval or sync point ended: tags from now on belong to the next one. */
  private _nextEpoch(): void {
    this._epoch++;
    const build = this._hook?.buildState;
    if (build) build[2] = this._epoch;
  }

  private _ensurePaths(root: any): void {
    if (this._paths.has(root) || typeof root.namedModules !== 'function') return;
    for (const [name, m] of root.namedModules()) if (!this._paths.has(m) || name) this._paths.set(m, name);
    this._paths.set(root, '');
    this._names = new WeakMap();
  }

  private _layerName(module: any): string {
    const known = this._names.get(module);
    if (known !== undefined) return known;
    const cls = module?.constructor?.name ?? 'Module';
    const path = this._paths.get(module);
    const name = path ? `${path} (${cls})` : cls;
    this._names.set(module, name);
    return name;
  }
}
