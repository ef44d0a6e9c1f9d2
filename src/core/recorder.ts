/**
 * The recorder: collects spans (evals, layers, sync points, user regions) and the native layer's
 * primitive and memory events, and hands them out as a plain Trace. It knows the trace model and the
 * hook layer; the patching of MLX lives in src/instrumentations/mlx.
 */
import { arch, cpus, hostname, platform, totalmem } from 'node:os';
import { estimateCost } from './cost';
import { decodeBatch, FAST_FUNCTIONS, type PrimitiveEvent } from './decode';
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
  /** Called for every primitive as it is drained (the OTel bridge uses it). */
  onPrimitive?: (span: LiveSpan, evalSpan: LiveSpan | null) => void;
}

// performance.now() reads the same monotonic clock as process.hrtime without allocating a BigInt;
// one offset turns it into absolute monotonic ns (sub-microsecond precision is kept by the double).
const perfOffsetNs = Number(process.hrtime.bigint()) - performance.now() * 1e6;
const hrNow = () => performance.now() * 1e6 + perfOffsetNs;

export class Recorder {
  readonly timing: TimingMode;
  readonly now: () => number;
  readonly jsThread: number;
  private spans: LiveSpan[] = [];
  private memRaw = new MemoryLog();
  private dropped = 0;
  private nextId = 1;
  private origin: number;
  private originEpochNs: bigint;
  /** Layers by span id, so a primitive's tag can be turned into a layer path. */
  private layerNames = new Map<number, string>();
  /** The latest asyncEval, parent of primitives that ran outside a synchronous eval. */
  private pendingAsync: LiveSpan | null = null;

  constructor(private readonly opts: RecorderOptions) {
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

  private push(s: LiveSpan): void {
    if (this.spans.length >= this.opts.maxSpans) {
      this.dropped++;
      return;
    }
    this.spans.push(s);
  }

  /** Takes over what an earlier recorder holds (re-enable after disable keeps recorded spans). */
  adopt(old: Recorder): void {
    old.drain(null);
    this.spans = old.spans.concat(this.spans);
    old.memRaw.appendTo(this.memRaw);
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
    const batch = hook.binding.drain();
    this.dropped += batch.dropped;
    if (batch.count === 0) return;
    decodeBatch(
      batch,
      hook.classes,
      (e) => this.addPrimitive(e, evalSpan),
      (t, delta, live, cls) => this.memRaw.push(t, delta, live, cls),
    );
  }

  private addPrimitive(e: PrimitiveEvent, evalSpan: LiveSpan | null): void {
    if (e.op === 'Synchronizer') return; // eval's own completion marker, not work the program asked for
    const parent = evalSpan && e.t0 >= evalSpan.start ? evalSpan : this.pendingAsync ?? evalSpan;
    const span: LiveSpan = {
      id: this.nextId++,
      parentId: parent ? parent.id : null,
      kind: 'primitive',
      name: e.op,
      start: e.t0,
      end: e.t1,
      thread: e.thread,
      device: e.device,
      inputs: e.inputs,
      outputs: e.outputs,
      layerId: e.layerTag > 0 && this.layerNames.has(e.layerTag) ? e.layerTag : null,
    };
    if (span.layerId) span.layer = this.layerNames.get(span.layerId)!;
    if (e.truncated) span.attrs = { truncated: true };
    // On a backend without the fused kernel, mx.fast.* runs a plain fallback graph; say so, so the
    // advisor does not mistake it for hand-composed code.
    if (e.fast) (span.attrs ??= {}).fast = FAST_FUNCTIONS[e.fast] ?? 'unknown';
    this.push(span);
    this.opts.onPrimitive?.(span, parent);
  }

  /** A point to take from later, leaving what came before for the next full take. */
  mark(): { spans: number; memory: number } {
    this.drain(null);
    return { spans: this.spans.length, memory: this.memRaw.length };
  }

  /**
   * Everything recorded since the last take (or since `from`), as a Trace. What is taken is removed;
   * with `from`, what came before it stays for the next take.
   */
  take(name: string, extraMeta: Record<string, unknown> = {}, from?: { spans: number; memory: number }, keep = false): Trace {
    this.drain(null);
    const origin = this.origin;
    // What is taken: everything, or what came after `from`; with `keep`, a copy that stays recorded.
    const takenSpans = from ? this.spans.slice(from.spans) : this.spans;
    const mem = from ? this.memRaw.slice(from.memory) : this.memRaw;
    const spans: Span[] = takenSpans.map((s) => {
      const cost = s.kind === 'primitive' && s.flops === undefined ? estimateCost(String(s.attrs?.costOp ?? s.name), s.inputs, s.outputs) : null;
      const out: Span = {
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
        out.layerId = s.layerId ?? null;
        out.layer = s.layer ?? null;
      }
      if (s.attrs) out.attrs = s.attrs;
      return out;
    });
    const classes = this.opts.hook?.classes ?? [];
    const memory: MemoryEvent[] = [];
    for (let i = 0; i < mem.length; i++) {
      const c = mem.cls[i];
      memory.push({ t: mem.t[i] - origin, delta: mem.delta[i], live: mem.live[i], op: c >= 0 ? classes[c] ?? null : null });
    }
    memory.sort((a, b) => a.t - b.t);
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
      this.memRaw = this.memRaw.slice(0, from.memory);
      return trace;
    }
    this.spans = [];
    this.memRaw = new MemoryLog();
    this.layerNames = new Map();
    this.pendingAsync = null;
    this.origin = this.now();
    this.originEpochNs = epochNsNow();
    return trace;
  }
}

/** Allocator events as columns: millions of them cost no objects until a trace is taken. */
class MemoryLog {
  t = new Float64Array(1024);
  delta = new Float64Array(1024);
  live = new Float64Array(1024);
  cls = new Int16Array(1024);
  length = 0;

  push(t: number, delta: number, live: number, cls: number): void {
    if (this.length === this.t.length) this.grow(this.length * 2);
    const i = this.length++;
    this.t[i] = t;
    this.delta[i] = delta;
    this.live[i] = live;
    this.cls[i] = cls;
  }

  slice(from: number, to = this.length): MemoryLog {
    const m = new MemoryLog();
    for (let i = from; i < to; i++) m.push(this.t[i], this.delta[i], this.live[i], this.cls[i]);
    return m;
  }

  appendTo(other: MemoryLog): void {
    for (let i = 0; i < this.length; i++) other.push(this.t[i], this.delta[i], this.live[i], this.cls[i]);
  }

  private grow(n: number): void {
    const g = <T extends Float64Array | Int16Array>(a: T, C: new (n: number) => T): T => {
      const b = new C(n);
      b.set(a);
      return b;
    };
    this.t = g(this.t, Float64Array);
    this.delta = g(this.delta, Float64Array);
    this.live = g(this.live, Float64Array);
    this.cls = g(this.cls, Int16Array);
  }
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
