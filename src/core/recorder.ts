/**
 * The recorder: collects spans (evals, layers, sync points, user regions) and the native layer's
 * primitive and memory events, and hands them out as a plain Trace. It knows the trace model and the
 * hook layer; the patching of MLX lives in src/instrumentations/mlx.
 */
import { arch, cpus, hostname, platform, totalmem } from 'node:os';
import { estimateCost, type Cost } from './cost';
import { decodeColumns, DrainBuffers, FAST_FUNCTIONS } from './decode';
import { MemoryLog, PrimitiveLog, PRIM_FAST_SHIFT, PRIM_GPU, PRIM_TRUNCATED, timeOrder, type Signature } from './event-log';
import type { HookLayer } from './native';
import { TRACE_SCHEMA, type MemoryEvent, type Peaks, type Span, type SpanKind, type Trace, type TimingMode } from './trace';
import { VERSION } from './version';

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

export class Recorder {
  readonly timing: TimingMode;
  readonly now: () => number;
  readonly jsThread: number;
  /** JS-side spans (evals, layers, sync points, user regions, JS-level ops), in id order. */
  private spans: LiveSpan[] = [];
  /** The native layer's primitives, in id order. */
  private prims = new PrimitiveLog();
  private memRaw = new MemoryLog();
  private dropped = 0;
  private nextId = 1;
  private origin: number;
  private originEpochNs: bigint;
  /** Layers by span id, so a primitive's tag can be turned into a layer path. */
  private layerNames = new Map<number, string>();
  /** The latest asyncEval, parent of primitives that ran outside a synchronous eval. */
  private pendingAsync: LiveSpan | null = null;

  /** Class index of MLX's Synchronizer (eval's completion marker), -1 if the hook layer has none. */
  private readonly synchronizerClass: number;

  constructor(private readonly opts: RecorderOptions) {
    this.synchronizerClass = opts.hook ? opts.hook.classes.indexOf('Synchronizer') : -1;
    this.timing = opts.hook ? 'native' : 'js';
    const b = opts.hook?.binding;
    this.now = b ? () => b.now() : hrNow;
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
    const s: LiveSpan = {
      id: this.nextId++,
      parentId,
      kind,
      name,
      start: this.now(),
      end: 0,
      thread: this.jsThread,
      device: 'cpu',
      inputs: [],
      outputs: [],
    };
    if (attrs) s.attrs = attrs;
    this.push(s);
    if (kind === 'layer') this.layerNames.set(s.id, name);
    return s;
  }

  end(s: LiveSpan): void {
    s.end = this.now();
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
    return this.spans.length + this.prims.length >= this.opts.maxSpans;
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
    this.spans = old.spans.concat(this.spans);
    const prims = this.prims;
    this.prims = old.prims;
    prims.appendTo(this.prims);
    const mem = this.memRaw;
    this.memRaw = old.memRaw;
    mem.appendTo(this.memRaw);
    this.dropped += old.dropped;
    this.nextId = Math.max(this.nextId, old.nextId);
    this.origin = old.origin;
    this.originEpochNs = old.originEpochNs;
    for (const [k, v] of old.layerNames) this.layerNames.set(k, v);
  }

  markAsync(s: LiveSpan): void {
    this.pendingAsync = s;
  }

  /** Pulls the native layer's events; primitives that began inside `evalSpan` become its children. */
  drain(evalSpan: LiveSpan | null): void {
    const hook = this.opts.hook;
    if (!hook) return;
    const buf = (drainBuffers ??= new DrainBuffers());
    const prims = this.prims;
    const memRaw = this.memRaw;
    const sync = this.synchronizerClass;
    const onPrimitive = this.opts.primitiveListener?.() ?? null;
    const onPrim = (cls: number, t0: number, t1: number, thread: number, flags: number, layerTag: number, sig: Signature) => {
      if (cls === sync) return; // eval's own completion marker, not work the program asked for
      if (this.full()) {
        this.dropped++;
        return;
      }
      const parent = evalSpan && t0 >= evalSpan.start ? evalSpan : this.pendingAsync ?? evalSpan;
      const layer = layerTag > 0 && this.layerNames.has(layerTag) ? layerTag : 0;
      const id = this.nextId++;
      prims.push(id, parent ? parent.id : 0, t0, t1, layer, thread, cls, flags, sig);
      if (onPrimitive) onPrimitive(this.primitiveAt(prims.length - 1, hook.classes, 0, null, this.layerName(layer)), parent);
    };
    const onMem = (t: number, delta: number, live: number, cls: number) => memRaw.push(t, delta, live, cls);
    for (;;) {
      hook.binding.drainInto(buf.records, buf.words, buf.out);
      const count = buf.out[0];
      this.dropped += buf.out[2];
      if (count > 0) decodeColumns(buf.views, count, onPrim, onMem);
      if (!buf.out[3]) break;
      if (count === 0) buf.grow();
    }
  }

  /**
   * Primitive `p` of the log as a span: times relative to `origin` (0: absolute, for a live
   * listener), priced with `cost` (null: not yet), in the layer named `layer`.
   */
  private primitiveAt(p: number, classes: string[], origin: number, cost: Cost | null, layer: string | null): Span {
    const log = this.prims;
    const cls = log.cls[p];
    const parent = log.parent[p];
    const layerId = log.layer[p];
    const flags = log.flags[p];
    const sig = log.sig[p];
    const t0 = log.t0[p];
    const t1 = log.t1[p];
    const s: Span = {
      id: log.id[p],
      parentId: parent === 0 ? null : parent,
      kind: 'primitive',
      name: classes[cls] ?? `class#${cls}`,
      start: t0 - origin,
      end: (t1 > t0 ? t1 : t0) - origin,
      thread: log.thread[p],
      device: flags & PRIM_GPU ? 'gpu' : 'cpu',
      inputs: sig.inputs,
      outputs: sig.outputs,
      flops: cost ? cost.flops : null,
      bytes: cost ? cost.bytes : null,
      layerId: layerId === 0 ? null : layerId,
      layer,
    };
    const attrs = primitiveAttrs(flags);
    if (attrs) s.attrs = attrs;
    return s;
  }

  private layerName(id: number): string | null {
    return id === 0 ? null : this.layerNames.get(id) ?? null;
  }

  /** A point to take from later, leaving what came before for the next full take. */
  mark(): Mark {
    this.drain(null);
    return { spans: this.spans.length, prims: this.prims.length, memory: this.memRaw.length };
  }

  /**
   * Everything recorded since the last take (or since `from`), as a Trace. What is taken is removed;
   * with `from`, what came before it stays for the next take.
   */
  take(name: string, extraMeta: Record<string, unknown> = {}, from?: Mark, keep = false): Trace {
    this.drain(null);
    const origin = this.origin;
    const classes = this.opts.hook?.classes ?? [];
    const spans = this.materialise(from ? from.spans : 0, from ? from.prims : 0, classes);
    const memory = this.memoryEvents(from ? from.memory : 0, classes);
    const trace: Trace = {
      schema: TRACE_SCHEMA,
      name,
      meta: {
        timing: this.timing,
        createdAt: new Date().toISOString(),
        origin: { monotonicNs: origin, epochNs: this.originEpochNs.toString() },
        host: hostInfo(),
        versions: { mlx: this.opts.mlxVersion, node: process.version, mlxTrace: VERSION },
        peaks: this.opts.peaks,
        ...(this.opts.fallbackReason ? { fallbackReason: this.opts.fallbackReason } : {}),
        ...extraMeta,
      },
      spans,
      memory,
      dropped: this.dropped,
    };
    if (keep) return trace;
    this.dropped = 0;
    if (from) {
      this.spans = this.spans.slice(0, from.spans);
      this.prims = this.prims.slice(0, from.prims);
      this.memRaw = this.memRaw.slice(0, from.memory);
      return trace;
    }
    this.spans = [];
    this.prims.clear();
    this.memRaw.clear();
    this.layerNames = new Map();
    this.pendingAsync = null;
    this.origin = this.now();
    this.originEpochNs = epochNsNow();
    return trace;
  }

  /**
   * The spans from index `s0` of the JS-side spans and `p0` of the primitive log, as trace-model
   * Spans in id order (both lists are in id order: a merge), priced, times made relative to origin.
   */
  private materialise(s0: number, p0: number, classes: string[]): Span[] {
    const origin = this.origin;
    const js = this.spans;
    const log = this.prims;
    const out: Span[] = new Array(js.length - s0 + log.length - p0);
    let n = 0;
    let i = s0;
    let p = p0;
    // Cost per (class, signature): a trace repeats a few hundred of them.
    const costs = new Map<Signature, Map<number, Cost>>();
    let lastLayer = -1;
    let lastLayerName: string | null = null;
    while (i < js.length || p < log.length) {
      if (p < log.length && (i >= js.length || log.id[p] < js[i].id)) {
        const cls = log.cls[p];
        const sig = log.sig[p];
        let bySig = costs.get(sig);
        if (!bySig) costs.set(sig, (bySig = new Map()));
        const name = classes[cls] ?? `class#${cls}`;
        let cost = bySig.get(cls);
        if (!cost) bySig.set(cls, (cost = estimateCost(name, sig.inputs, sig.outputs)));
        const layer = log.layer[p];
        if (layer !== lastLayer) {
          lastLayer = layer;
          lastLayerName = this.layerName(layer);
        }
        out[n++] = this.primitiveAt(p++, classes, origin, cost, lastLayerName);
        continue;
      }
      const s = js[i++];
      const cost = s.kind === 'primitive' && s.flops === undefined ? estimateCost(String(s.attrs?.costOp ?? s.name), s.inputs, s.outputs) : null;
      const o: Span = {
        id: s.id,
        parentId: s.parentId,
        kind: s.kind,
        name: s.name,
        start: s.start - origin,
        end: Math.max(s.end, s.start) - origin,
        thread: s.thread,
        device: s.device,
        inputs: s.inputs,
        outputs: s.outputs,
        flops: cost ? cost.flops : s.flops ?? null,
        bytes: cost ? cost.bytes : s.bytes ?? null,
      };
      if (s.kind === 'primitive') {
        o.layerId = s.layerId ?? null;
        o.layer = s.layer ?? null;
      }
      if (s.attrs) o.attrs = s.attrs;
      out[n++] = o;
    }
    return out;
  }

  /** Allocator events from index `m0`, in time order (threads drain in turn, so they may interleave). */
  private memoryEvents(m0: number, classes: string[]): MemoryEvent[] {
    const origin = this.origin;
    const mem = this.memRaw;
    const order = timeOrder(mem.t, m0, mem.length);
    const memory: MemoryEvent[] = new Array(mem.length - m0);
    for (let k = 0; k < memory.length; k++) {
      const i = order ? order[k] : m0 + k;
      const c = mem.cls[i];
      memory[k] = { t: mem.t[i] - origin, delta: mem.delta[i], live: mem.live[i], op: c >= 0 ? classes[c] ?? null : null };
    }
    return memory;
  }
}

export interface Mark {
  spans: number;
  prims: number;
  memory: number;
}

/** Drains run on the JS thread one at a time: one set of buffers serves every recorder. */
let drainBuffers: DrainBuffers | undefined;

/** Attrs of a primitive with flags, shared by all spans with the same flags (they are never changed). */
const attrsByFlags = new Map<number, Readonly<Record<string, string | boolean>>>();
function primitiveAttrs(flags: number): Span['attrs'] | undefined {
  const f = flags & ~PRIM_GPU;
  if (f === 0) return undefined;
  let a = attrsByFlags.get(f);
  if (!a) {
    const o: Record<string, string | boolean> = {};
    if (f & PRIM_TRUNCATED) o.truncated = true;
    // On a backend without the fused kernel, mx.fast.* runs a plain fallback graph; say so, so the
    // advisor does not mistake it for hand-composed code.
    const fast = f >> PRIM_FAST_SHIFT;
    if (fast) o.fast = FAST_FUNCTIONS[fast] ?? 'unknown';
    attrsByFlags.set(f, (a = Object.freeze(o)));
  }
  return a as Span['attrs'];
}

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
