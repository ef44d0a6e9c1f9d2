/**
 * The recorder: collects spans (evals, layers, sync points, user regions) and the native layer's
 * primitive and memory events, and hands them out as a plain Trace. It knows the trace model and the
 * hook layer; the patching of MLX lives in src/instrumentations/mlx.
 */
import { arch, cpus, hostname, platform, totalmem } from 'node:os';
import { signatureOfNumber, useSignatureGeneration } from './decode';
import { MemoryLog, PrimitiveLog } from './event-log';
import { lazyTrace, primitiveSpan, TakenColumns } from './taken-trace';
import type { HookLayer } from './native';
import type { RowSource } from '../io/binary';
import { TRACE_SCHEMA, type Peaks, type Span, type SpanKind, type Trace, type TimingMode } from '../model/trace';
import { VERSION } from './version';
import { CoreWaitReader, coreWaits, waitedBetween } from './core-wait';
import { LayerNames } from './layer-names';
import { LayerLog, mergeLayers, PendingSpans, type LayerFrame, type MakeLayerSpan } from './layer-log';
import { objectArray } from './arrays';

/**
 * A span while it is recorded: the trace model's Span with absolute monotonic times, and cost fields left
 * undefined until take() prices it (or the OTel bridge did already).
 */
export type LiveSpan = Omit<Span, 'flops' | 'bytes' | 'pass' | 'warmup'> & { flops?: number | null; bytes?: number | null };

export interface RecorderOptions {
  hook: HookLayer | null;
  fallbackReason?: string;
  mlxVersion: string;
  peaks: Peaks;
  /** Upper bound on spans kept between takes; beyond it spans are dropped and counted. */
  maxSpans: number;
  /** Upper bound on memory events kept between takes; beyond it they are dropped and counted. */
  maxMemoryEvents: number;
  /**
   * Asked once per drain for a function to call with every drained primitive (the OTel bridge's);
   * without one, no span object is made while recording.
   */
  primitiveListener?: () => ((span: LiveSpan, evalSpan: LiveSpan | null) => void) | null;
}

// performance.now() reads the same monotonic clock as process.hrtime without allocating a BigInt;
// one offset turns it into absolute monotonic ns (sub-microsecond precision is kept by the double).
const perfOffsetNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
const hrNow = () => performance.now() * 1e6 + perfOffsetNs;

/** The native clock, read through its cell (HookLayer nowInto): no heap number is made per reading. */
function nativeNow(b: HookLayer['binding']): () => number {
  const cell = new Float64Array(b.nowCell());
  return () => {
    b.nowInto();
    return cell[0];
  };
}

export class Recorder {
  readonly timing: TimingMode;
  readonly now: () => number;
  readonly jsThread: number;
  /**
   * The core waits when the window began: what the threads that run primitives waited for a core
   * since goes in the trace. The first window reads every thread; later ones, the threads that ran
   * primitives in windows taken so far (`waitThreads`), each through a descriptor kept open.
   */
  private windowWaits = coreWaits();
  private windowWaitsReadAll = true;
  private readonly waitThreads = new Set<number>();
  /**
   * JS-side spans (evals, layers, sync points, user regions, JS-level ops), in id order, but for the
   * layers still in `layers` (materializeLayers() merges them in before the spans are read).
   */
  private spans: LiveSpan[] = objectArray();
  /** Layer calls begun through beginLayer() since the spans were last read. */
  private layers = new LayerLog();
  /** The native layer's primitives, in id order. */
  private prims = new PrimitiveLog();
  private memRaw = new MemoryLog();
  private dropped = 0;
  /** Memory events dropped at maxMemoryEvents (also counted in the trace's `dropped`). */
  private memDropped = 0;
  private nextId = 1;
  private origin: number;
  private originEpochNs: bigint;
  /** Layers by span id, so a primitive's tag can be turned into a layer path. */
  private layerNames = new LayerNames();
  /** The first span id of this window (ids below it were taken with an earlier trace). */
  private layerFloor = 1;
  /**
   * asyncEval spans whose work has not been seen to complete, oldest first. MLX runs the work of
   * each eval call in call order on its stream and ends it with a Synchronizer: a Synchronizer
   * completes the oldest, and a primitive that ran outside a synchronous span belongs to it.
   */
  private launched: LiveSpan[] = objectArray();
  private launchedHead = 0;
  /** The latest asyncEval, owner of such a primitive when no launch is pending (no Synchronizer class). */
  private lastAsync: LiveSpan | null = null;
  private readonly asyncSpans = new WeakSet<LiveSpan>();
  /** Listeners of drains (the live view's feed); none in the common case, and then no work is done. */
  private drainListeners: ((rows: DrainedRows) => void)[] = [];
  /** JS-side spans already handed to drain listeners. */
  private listenedSpans = 0;

  /** Class index of MLX's Synchronizer (eval's completion marker), -1 if the hook layer has none. */
  private readonly synchronizerClass: number;

  constructor(private readonly opts: RecorderOptions) {
    this.synchronizerClass = opts.hook ? opts.hook.classes.indexOf('Synchronizer') : -1;
    this.timing = opts.hook ? 'native' : 'js';
    const b = opts.hook?.binding;
    this.now = b ? nativeNow(b) : hrNow;
    this.jsThread = opts.hook?.jsThread ?? process.pid;
    this.origin = this.now();
    this.originEpochNs = epochNsNow();
  }

  get hook(): HookLayer | null {
    return this.opts.hook;
  }

  /** Monotonic ns -> epoch ns, for OpenTelemetry. */
  toEpochNs(t: number): bigint {
    return this.originEpochNs + BigInt(Math.round(t - this.origin));
  }

  begin(kind: SpanKind, name: string, parentId: number | null, attrs?: LiveSpan['attrs']): LiveSpan {
    const s = new BegunSpan(this.nextId++, parentId, kind, name, this.now(), this.jsThread) as LiveSpan;
    if (attrs) s.attrs = attrs;
    this.push(s);
    if (kind === 'layer') this.layerNames.add(s.id, name);
    return s;
  }

  end(s: LiveSpan): void {
    s.end = this.now();
  }

  /** Begins a layer span kept as a row of the layer log (the hot path of layer calls); `f` says where. */
  beginLayer(f: LayerFrame, name: string, parentId: number | null): void {
    f.id = this.nextId++;
    f.name = name;
    this.layerNames.add(f.id, name);
    if (this.full()) {
      this.dropped++;
      f.log = null;
      return;
    }
    f.log = this.layers;
    f.row = this.layers.add(f.id, parentId, name, this.now());
  }

  endLayer(f: LayerFrame): void {
    if (f.log !== null) f.log.end(f.row, this.now());
  }

  /**
   * Merges the layer log's rows into `spans` as span objects. The log keeps its room for the next
   * rows, unless a layer is still open: its frame ends its span through the log it began in, and a
   * fresh log takes the next rows.
   */
  private materializeLayers(): void {
    const layers = this.layers;
    if (layers.length === 0) return;
    const open = layers.hasOpenRow();
    mergeLayers(this.spans, layers, this.makeLayerSpan);
    if (open) this.layers = new LayerLog();
    else layers.reset();
  }

  /** A layer row as the span begin() would have made. */
  private readonly makeLayerSpan: MakeLayerSpan = (id, parentId, name, start, end) => {
    const s = new BegunSpan(id, parentId, 'layer', name, start, this.jsThread) as LiveSpan;
    s.end = end;
    return s;
  };

  /** JS-side spans held now, the layer log's included. */
  private get jsSpans(): number {
    return this.spans.length + this.layers.length;
  }

  /** Spans held now (JS-side and primitives drained so far), without draining. */
  get held(): number {
    return this.jsSpans + this.prims.length;
  }

  /** Forgets `s`, the span begun last (one its OTel sampler left out): nothing of it is kept. */
  discard(s: LiveSpan): void {
    if (this.spans[this.spans.length - 1] === s) this.spans.pop();
    this.layerNames.dropLast(s.id);
  }

  /** Adds a finished span (used by JS-level op timing and manual timers); takes ownership of `s`. */
  add(s: Omit<LiveSpan, 'id'>): LiveSpan {
    const span = s as LiveSpan;
    span.id = this.nextId++;
    this.push(span);
    return span;
  }

  /** Whether maxSpans spans are held (JS-side and primitives together). */
  private full(): boolean {
    return this.held >= this.opts.maxSpans;
  }

  private push(s: LiveSpan): void {
    if (this.full()) {
      this.dropped++;
      return;
    }
    this.spans.push(s);
  }

  /** Takes over what an earlier recorder holds (re-enable after disable keeps recorded spans). */
  adopt(old: Recorder): void {
    old.drain(null);
    old.materializeLayers();
    this.materializeLayers();
    this.spans = old.spans.concat(this.spans);
    const prims = this.prims;
    this.prims = old.prims;
    prims.appendTo(this.prims);
    const mem = this.memRaw;
    this.memRaw = old.memRaw;
    mem.appendTo(this.memRaw);
    this.dropped += old.dropped;
    this.memDropped += old.memDropped;
    this.nextId = Math.max(this.nextId, old.nextId);
    this.origin = old.origin;
    this.originEpochNs = old.originEpochNs;
    this.layerNames.prepend(old.layerNames);
    this.layerFloor = Math.min(this.layerFloor, old.layerFloor);
    if (old.drainListeners.length > 0) {
      old.drainListeners.push(...this.drainListeners);
      this.drainListeners = old.drainListeners;
      old.drainListeners = [];
      this.listenedSpans = old.listenedSpans;
    }
  }

  /**
   * Calls `listener` after each drain with the rows it added (and the JS-side spans begun since the
   * previous call), read-only and valid only during the call. Returns the function that removes it.
   */
  onDrain(listener: (rows: DrainedRows) => void): () => void {
    this.materializeLayers();
    if (this.drainListeners.length === 0) this.listenedSpans = this.spans.length;
    // The list moves to the recorder that adopts this one (re-enable), the remover with it.
    const list = this.drainListeners;
    list.push(listener);
    return () => {
      const i = list.indexOf(listener);
      if (i >= 0) list.splice(i, 1);
    };
  }

  private notifyDrain(primFrom: number, memFrom: number): void {
    this.materializeLayers();
    const spanFrom = Math.min(this.listenedSpans, this.spans.length);
    this.listenedSpans = this.spans.length;
    const rows: DrainedRows = {
      prims: this.prims, primFrom, memory: this.memRaw, memFrom, spans: this.spans, spanFrom,
      classes: this.opts.hook?.classes ?? [], dropped: this.dropped,
    };
    for (const f of this.drainListeners) f(rows);
  }

  /** `s` is an asyncEval: its span ends when the work it launched completes (known at drain). */
  markAsync(s: LiveSpan): void {
    this.asyncSpans.add(s);
    this.lastAsync = s;
    if (this.launched.length - this.launchedHead >= MAX_LAUNCHED) this.launchedHead++;
    if (this.launchedHead > 0 && this.launchedHead * 2 >= this.launched.length) {
      this.launched = this.launched.slice(this.launchedHead);
      this.launchedHead = 0;
    }
    this.launched.push(s);
  }

  /**
   * The span that owns a primitive that ran over [t0, t1]: the synchronous eval or sync point being
   * drained if it ran inside it (the program waited for it there), else the asyncEval that launched
   * it, whose end then reaches the primitive's.
   */
  private owner(t0: number, t1: number, sync: LiveSpan | null, evalSpan: LiveSpan | null): LiveSpan | null {
    if (sync && t0 >= sync.start && t1 <= sync.end) return sync;
    const head = this.launchedHead < this.launched.length ? this.launched[this.launchedHead] : null;
    const owner = head && head.start <= t0 ? head : this.lastAsync && this.lastAsync.start <= t0 ? this.lastAsync : null;
    if (!owner) return evalSpan;
    if (t1 > owner.end) owner.end = t1;
    return owner;
  }

  /** A Synchronizer ran over [t0, t1]: the oldest launched asyncEval's work is complete. */
  private completed(t0: number, t1: number): void {
    const head = this.launchedHead < this.launched.length ? this.launched[this.launchedHead] : null;
    if (!head || head.start > t0) return; // a synchronous eval's own
    if (t1 > head.end) head.end = t1;
    this.launchedHead++;
    if (this.launchedHead === this.launched.length) {
      this.launched.length = 0;
      this.launchedHead = 0;
    }
  }

  /** Pulls the native layer's events; see owner() for the span each primitive goes under. */
  drain(evalSpan: LiveSpan | null): void {
    const hook = this.opts.hook;
    const primFrom = this.prims.length;
    const memFrom = this.memRaw.length;
    if (hook) this.drainNative(hook, evalSpan);
    if (this.drainListeners.length > 0) this.notifyDrain(primFrom, memFrom);
  }

  /**
   * The native drain writes times, layers, threads, classes, flags and signature numbers straight
   * into the columns (native/drain.h Columns); what needs the recorder's state is done here, per
   * row: its id, its owner span, a layer of a window taken already, and the signature number turned
   * into the Signature's.
   */
  private drainNative(hook: HookLayer, evalSpan: LiveSpan | null): void {
    const io = drainIo;
    const sync = evalSpan && !this.asyncSpans.has(evalSpan) ? evalSpan : null;
    const listener = this.opts.primitiveListener?.() ?? null;
    const keyOf = hook.binding.signatureKey;
    for (let idle = 0; ; ) {
      const p = this.prims;
      const m = this.memRaw;
      const from = p.length;
      const memFrom = m.length;
      io[0] = from;
      io[1] = Math.max(from, this.opts.maxSpans - this.jsSpans);
      io[2] = m.length;
      io[3] = Math.max(m.length, this.opts.maxMemoryEvents);
      io[4] = this.synchronizerClass < 0 ? 0x10000 : this.synchronizerClass;
      // A log's columns are made and grown all at once, and belong to that log alone: its first
      // column says which set is bound.
      if (p.t0 !== bound.primT0 || m.t !== bound.memT) {
        hook.binding.bindColumns([p.t0, p.t1, p.layer, p.thread, p.cls, p.flags, p.sigId], [m.t, m.delta, m.live, m.cls], drainSyncs);
        bound.primT0 = p.t0;
        bound.memT = m.t;
      }
      hook.binding.drainColumns(io);
      const to = io[5];
      const nsync = io[7];
      m.length = io[6];
      this.dropped += io[8];
      this.memDropped += io[9];
      useSignatureGeneration(io[11]);
      const { id, parent, t0, t1, layer, sigId } = p;
      const floor = this.layerFloor;
      let k = 0;
      for (let i = from; i < to; i++) {
        for (; k < nsync && drainSyncs[3 * k] <= i; k++) this.completed(drainSyncs[3 * k + 1], drainSyncs[3 * k + 2]);
        const owner = this.owner(t0[i], t1[i], sync, evalSpan);
        id[i] = this.nextId++;
        parent[i] = owner ? owner.id : 0;
        // Tags are layer span ids; one below the window's first id is a layer of a window taken already.
        if (layer[i] < floor) layer[i] = 0;
        sigId[i] = signatureOfNumber(sigId[i], keyOf).id;
        if (listener) listener(primitiveSpan(p, i, hook.classes, 0, null, layer[i] === 0 ? null : this.layerNames.get(layer[i]) ?? null), owner);
      }
      for (; k < nsync; k++) this.completed(drainSyncs[3 * k + 1], drainSyncs[3 * k + 2]);
      p.length = to;
      if (!io[10]) break;
      // More: the columns filled up (grow them), the markers did, or the signature table did (the
      // next call starts a new generation). Two calls in a row that move nothing would go on forever.
      if (to === p.id.length) p.reserve(to * 2);
      if (m.length === m.t.length) m.reserve(m.length * 2);
      idle = to === from && nsync === 0 && m.length === memFrom ? idle + 1 : 0;
      if (idle === 2) break;
    }
  }

  /** Span ids below this began before the flush before the last: their layer names may go (flush()). */
  private namesFloor = 0;
  private nextNamesFloor = 0;

  /**
   * Streaming: hands what is finished (spans that ended, every primitive and memory event drained)
   * to `write` as a RowSource, on the recorder's one time origin, then lets it go; spans still open
   * stay for a later flush. The columns are reused, so memory stays flat between flushes. Layer
   * names live for two flushes (a primitive runs at the eval after the forward that built it) and
   * as long as their layer is open. With `all`, open spans go too (ending where they began, as in
   * take()): the recording's last flush. Returns the spans and memory events written and the drops counted
   * since the last flush.
   */
  flush(write: (source: RowSource) => void, all = false): { spans: number; memory: number; dropped: number } {
    this.drain(null);
    this.materializeLayers();
    const done: LiveSpan[] = [];
    const open: LiveSpan[] = objectArray();
    for (const s of this.spans) (s.end === 0 && !all ? open : done).push(s);
    const cols = new TakenColumns(done, this.prims, this.memRaw, this.layerNames, this.opts.hook?.classes ?? [], this.origin);
    const out = { spans: cols.spanCount, memory: cols.memoryCount, dropped: this.dropped + this.memDropped };
    if (out.spans + out.memory > 0) write(cols);
    this.spans = open;
    this.prims.reset();
    this.memRaw.reset();
    this.dropped = 0;
    this.memDropped = 0;
    const floor = this.namesFloor;
    const openIds = new Set(open.map((s) => s.id));
    this.layerNames.retain((id) => id >= floor || openIds.has(id));
    this.namesFloor = this.nextNamesFloor;
    this.nextNamesFloor = this.nextId;
    return out;
  }

  /** The recording's time origin (monotonic ns and epoch ns), which flush() keeps. */
  get originInfo(): { monotonicNs: number; epochNs: string } {
    return { monotonicNs: this.origin, epochNs: this.originEpochNs.toString() };
  }

  /** The trace's top-level keys but spans and memory, as take() makes them (dropped: those counted so far). */
  traceHead(name: string, extraMeta: Record<string, unknown> = {}): Omit<Trace, 'spans' | 'memory'> {
    return {
      schema: TRACE_SCHEMA,
      name,
      meta: {
        timing: this.timing,
        createdAt: new Date().toISOString(),
        origin: this.originInfo,
        host: hostInfo(),
        versions: { mlx: this.opts.mlxVersion, node: process.version, mlxTrace: VERSION },
        peaks: this.opts.peaks,
        ...(this.opts.fallbackReason ? { fallbackReason: this.opts.fallbackReason } : {}),
        ...(this.memDropped ? { droppedMemoryEvents: this.memDropped } : {}),
        ...this.coreWaitMeta(),
        ...extraMeta,
      },
      dropped: this.dropped + this.memDropped,
    };
  }

  /** meta.coreWaitNs: how long the threads that ran this window's primitives waited for a core (Linux). */
  private coreWaitMeta(): { coreWaitNs?: number } {
    const threads = new Set<number>();
    const col = this.prims.thread;
    for (let i = 0, n = this.prims.length, last = -1; i < n; i++) if (col[i] !== last) threads.add((last = col[i]));
    for (const tid of threads) this.waitThreads.add(tid);
    const ns = threads.size ? waitedBetween(this.windowWaits, waitReader.read(threads), threads, this.windowWaitsReadAll) : null;
    return ns === null ? {} : { coreWaitNs: ns };
  }

  /** A point to take from later, leaving what came before for the next full take. */
  mark(): Mark {
    this.drain(null);
    this.materializeLayers();
    return { spans: this.spans.length, prims: this.prims.length, memory: this.memRaw.length };
  }

  /**
   * Everything recorded since the last take (or since `from`), as a Trace. What is taken is removed;
   * with `from`, what came before it stays for the next take.
   */
  take(name: string, extraMeta: Record<string, unknown> = {}, from?: Mark, keep = false): Trace {
    this.drain(null);
    const classes = this.opts.hook?.classes ?? [];
    const head = this.traceHead(name, extraMeta);
    if (keep || from) {
      this.materializeLayers();
      const cols = new TakenColumns(this.spans, this.prims, this.memRaw, this.layerNames, classes, this.origin, from?.spans, from?.prims, from?.memory);
      const trace: Trace = { schema: head.schema, name, meta: head.meta, spans: cols.spans(), memory: cols.memory(), dropped: head.dropped };
      if (keep) return trace;
      this.dropped = 0;
      this.memDropped = 0;
      // The trace's arrays are made: the rows after the mark go, and the columns stay for what follows.
      this.spans = this.spans.slice(0, from!.spans);
      this.prims.length = from!.prims;
      this.memRaw.length = from!.memory;
      return trace;
    }
    // The trace gets a copy of the window's rows and makes its arrays when they are first read; the
    // next window is written into the same columns. New columns would cost a page fault per fresh
    // page as the next window fills them, on the program's thread while it runs; the copy's pages
    // are faulted here, in the take. Layer rows become span objects only if the trace's spans are
    // read. They go as a copy and the log keeps its room for the next window, unless a layer is still
    // open: its frame ends its row in the log it began in, which then goes with the trace.
    const layers = this.layers;
    let js: LiveSpan[] | PendingSpans = this.spans;
    if (layers.length > 0 && !layers.hasOpenRow()) {
      js = new PendingSpans(this.spans, layers.slice(), this.makeLayerSpan);
      layers.reset();
    } else if (layers.length > 0) {
      js = new PendingSpans(this.spans, layers, this.makeLayerSpan);
      this.layers = new LayerLog();
    }
    const taken = new TakenColumns(js, this.prims.slice(), this.memRaw.slice(), this.layerNames.copy(), classes, this.origin);
    const trace = lazyTrace(head, taken);
    this.dropped = 0;
    this.memDropped = 0;
    this.spans = objectArray();
    this.listenedSpans = 0;
    this.prims = this.prims.nextWindow();
    this.memRaw = this.memRaw.nextWindow();
    this.layerNames.reset();
    this.layerFloor = this.nextId;
    this.launched = objectArray();
    this.launchedHead = 0;
    this.lastAsync = null;
    this.origin = this.now();
    this.windowWaits = waitReader.read(this.waitThreads);
    this.windowWaitsReadAll = false;
    this.originEpochNs = epochNsNow();
    return trace;
  }
}

/** What one drain added, as drain listeners see it (the recorder's own columns: copy what you keep). */
export interface DrainedRows {
  /** Primitives added: rows primFrom .. prims.length. */
  readonly prims: PrimitiveLog;
  readonly primFrom: number;
  /** Memory events added: rows memFrom .. memory.length. */
  readonly memory: MemoryLog;
  readonly memFrom: number;
  /** JS-side spans begun since the previous call: spans[spanFrom ..] (some may still be open: end 0). */
  readonly spans: readonly LiveSpan[];
  readonly spanFrom: number;
  /** Primitive class names by the prims.cls column. */
  readonly classes: readonly string[];
  /** Spans dropped since the last take (the recorder was full). */
  readonly dropped: number;
}

export interface Mark {
  spans: number;
  prims: number;
  memory: number;
}

/** The arrays of an eval, layer, sync or user span: none, one list shared by all (readers do not write). */
const NO_TENSORS: Span['inputs'] = [];

/**
 * A span made by begin() (or a layer row made into one): a class rather than a literal, so that its
 * shape is one and no allocation site's tenuring decision, which V8 revisits as spans live and die
 * with each window, throws away the code that makes them.
 */
class BegunSpan {
  declare id: number;
  declare parentId: number | null;
  declare kind: SpanKind;
  declare name: string;
  declare start: number;
  declare end: number;
  declare thread: number;
  declare device: Span['device'];
  declare inputs: Span['inputs'];
  declare outputs: Span['outputs'];
  constructor(id: number, parentId: number | null, kind: SpanKind, name: string, start: number, thread: number) {
    // In the order the trace model lists them, which JSON keeps.
    this.id = id;
    this.parentId = parentId;
    this.kind = kind;
    this.name = name;
    this.start = start;
    this.end = 0;
    this.thread = thread;
    this.device = 'cpu';
    this.inputs = NO_TENSORS;
    this.outputs = NO_TENSORS;
  }
}

/** asyncEvals whose completion is awaited at most; an older one is taken as complete. */
const MAX_LAUNCHED = 1024;

/**
 * Drains run on the JS thread one at a time: one set serves every recorder. io: the native drain's
 * in and out slots (native/addon.cc DrainColumns); syncs: completion markers, [row, t0, t1] each.
 */
const drainIo = new Float64Array(12);
const drainSyncs = new Float64Array(3 * 1024);
/** The columns bound in the native layer for this thread's drains (bindColumns), as last bound. */
const bound: { primT0: Float64Array | null; memT: Float64Array | null } = { primT0: null, memT: null };
/** Core waits of the threads that run primitives, for every recorder of this JS thread. */
const waitReader = new CoreWaitReader();
function epochNsNow(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
}

let host: Trace['meta']['host'] | undefined;
export function hostInfo(): Trace['meta']['host'] {
  if (!host) {
    const c = cpus();
    host = { platform: platform(), arch: arch(), cpuModel: c[0]?.model ?? 'unknown', cpus: c.length, totalMemory: totalmem(), hostname: hostname() };
  }
  return host;
}
