/**
 * What Recorder.take() hands out: the recorder's columns for one window, turned into trace-model
 * spans and memory events, and the Trace around them whose two arrays are made the first time
 * they are read. Making span objects is most of the cost of a take (allocation and garbage
 * collection), so saveTrace writes a trace whose arrays were never read straight from the columns
 * (RowSource), to the same bytes as from objects. Read `trace.spans` or `trace.memory` and they are ordinary arrays from then on.
 */
import { inspect } from 'node:util';
import { estimateCost, type Cost } from '../cost';
import { FAST_FUNCTIONS } from './decode';
import { MemoryLog, PrimitiveLog, PRIM_FAST_SHIFT, PRIM_GPU, PRIM_TRUNCATED, timeOrder, type Signature } from './event-log';
import type { LiveSpan } from './recorder';
import type { MemoryEvent, Span, Trace } from '../model/trace';
import { primitiveRowSpan, type MemoryRows, type PrimitiveNames, type PrimitiveRows, type RowSource } from '../io/binary';
import { extras, SPAN_KEYS } from '../io/rows';
import type { LayerNames } from './layer-names';
import { PendingSpans } from './layer-log';

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
/** The other keys of a primitive span with these attrs, as the binary writer stores them (one per attrs object). */
const restByAttrs = new Map<object, string>();
function attrsRest(attrs: Span['attrs']): string {
  if (!attrs) return '';
  let r = restByAttrs.get(attrs);
  if (r === undefined) restByAttrs.set(attrs, (r = extras({ attrs }, SPAN_KEYS)));
  return r;
}

/** The names of the classes in `classes` and of primitive flags (one per classes array). */
class ClassNames implements PrimitiveNames {
  constructor(private readonly classes: readonly string[]) {}

  name(cls: number): string {
    return this.classes[cls] ?? `class#${cls}`;
  }

  device(flags: number): Span['device'] {
    return flags & PRIM_GPU ? 'gpu' : 'cpu';
  }

  attrs(flags: number): Span['attrs'] | undefined {
    return primitiveAttrs(flags);
  }
}
const namesByClasses = new WeakMap<readonly string[], ClassNames>();
function namesOf(classes: readonly string[]): ClassNames {
  let n = namesByClasses.get(classes);
  if (!n) namesByClasses.set(classes, (n = new ClassNames(classes)));
  return n;
}

/**
 * Primitive `p` of the log as a span: times relative to `origin` (0: absolute, for a live
 * listener), priced with `cost` (null: not yet), in the layer named `layer`.
 */
export function primitiveSpan(log: PrimitiveLog, p: number, classes: readonly string[], origin: number, cost: Cost | null, layer: string | null): Span {
  return primitiveRowSpan(log, p, origin, namesOf(classes), cost, layer);
}

/**
 * What the rows of a primitive log stand for, as the binary writer reads them. Methods of a class
 * rather than closures made per trace: the writer's loop then calls the same functions in every
 * save (new closures each time cost it a deoptimization and a recompile per save).
 */
class TakenPrimitives implements PrimitiveRows {
  /** Cost per (signature, class): a trace repeats a few hundred of them. */
  private costs = new Map<Signature, Map<number, Cost>>();
  private readonly names: ClassNames;

  constructor(
    readonly log: PrimitiveLog,
    readonly origin: number,
    classes: readonly string[],
    private readonly layerNames: Pick<LayerNames, 'get'>,
  ) {
    this.names = namesOf(classes);
  }

  name(cls: number): string {
    return this.names.name(cls);
  }

  device(flags: number): Span['device'] {
    return this.names.device(flags);
  }

  attrs(flags: number): Span['attrs'] | undefined {
    return this.names.attrs(flags);
  }

  rest(flags: number): string {
    return attrsRest(primitiveAttrs(flags));
  }

  cost(sig: Signature, cls: number): Cost {
    let bySig = this.costs.get(sig);
    if (!bySig) this.costs.set(sig, (bySig = new Map()));
    let cost = bySig.get(cls);
    if (!cost) bySig.set(cls, (cost = estimateCost(this.name(cls), sig.inputs, sig.outputs)));
    return cost;
  }

  layer(layerId: number): string | null {
    return layerId === 0 ? null : this.layerNames.get(layerId) ?? null;
  }
}

/** The memory events of a window as the binary writer reads them (a class for the reason above). */
class TakenMemory implements MemoryRows {
  constructor(
    readonly log: MemoryLog,
    readonly from: number,
    readonly order: Uint32Array | null,
    readonly origin: number,
    private readonly classes: readonly string[],
  ) {}

  op(cls: number): string | null {
    return cls >= 0 ? this.classes[cls] ?? null : null;
  }
}

/** One window of the recorder: its JS-side spans from s0, primitives from p0, memory events from m0. */
export class TakenColumns implements RowSource {
  constructor(
    private readonly js: readonly LiveSpan[] | PendingSpans,
    private readonly prims: PrimitiveLog,
    private readonly mem: MemoryLog,
    private readonly layerNames: Pick<LayerNames, 'get'>,
    private readonly classes: readonly string[],
    private readonly origin: number,
    private readonly s0 = 0,
    private readonly p0 = 0,
    private readonly m0 = 0,
  ) {}

  get spanCount(): number {
    return this.js.length - this.s0 + this.prims.length - this.p0;
  }

  get memoryCount(): number {
    return this.mem.length - this.m0;
  }

  /** The spans in id order (both lists are in id order: a merge), priced, times relative to origin. */
  spans(): Span[] {
    const out: Span[] = new Array(this.spanCount);
    let n = 0;
    const { prims: log, origin } = this;
    const rows = this.primitiveRows();
    let lastLayer = -1;
    let lastLayerName: string | null = null;
    this.eachSpan(
      (s) => (out[n++] = s),
      (_, from, to) => {
        for (let p = from; p < to; p++) {
          const layer = log.layer[p];
          if (layer !== lastLayer) {
            lastLayer = layer;
            lastLayerName = rows.layer(layer);
          }
          out[n++] = primitiveRowSpan(log, p, origin, rows, rows.cost(log.sigAt(p), log.cls[p]), lastLayerName);
        }
      },
    );
    return out;
  }

  private rows: TakenPrimitives | null = null;

  private primitiveRows(): TakenPrimitives {
    return (this.rows ??= new TakenPrimitives(this.prims, this.origin, this.classes, this.layerNames));
  }

  /** The merge of JS-side spans (as objects) and runs of primitives between them (rows from..to of the log). */
  eachSpan(object: (s: Span) => void, run: (rows: PrimitiveRows, from: number, to: number) => void): void {
    const { prims: log, origin } = this;
    const js = this.js instanceof PendingSpans ? this.js.list() : this.js;
    const rows = this.primitiveRows();
    const ids = log.id;
    let i = this.s0;
    let p = this.p0;
    while (i < js.length || p < log.length) {
      const next = i < js.length ? js[i].id : Infinity;
      let q = p;
      while (q < log.length && ids[q] < next) q++;
      if (q > p) {
        run(rows, p, q);
        p = q;
      }
      if (i === js.length) continue;
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
      object(o);
    }
  }

  /** Allocator events in time order (threads drain in turn, so they may interleave). */
  memory(): MemoryEvent[] {
    const rows = this.memoryRows();
    const { log, from, order, origin } = rows;
    const out: MemoryEvent[] = new Array(this.memoryCount);
    for (let k = 0; k < out.length; k++) {
      const i = order ? order[k] : from + k;
      out[k] = { t: log.t[i] - origin, delta: log.delta[i], live: log.live[i], op: rows.op(log.cls[i]) };
    }
    return out;
  }

  memoryRows(): MemoryRows {
    const { mem, m0 } = this;
    return new TakenMemory(mem, m0, timeOrder(mem.t, m0, mem.length), this.origin, this.classes);
  }
}

/** Taken traces whose arrays were never read, with the columns they would be made from. */
const untouched = new WeakMap<Trace, { columns: TakenColumns; spans: () => unknown; memory: () => unknown }>();

/**
 * `head` completed with spans and memory made from `columns` on first read. Each is an accessor
 * until then and a plain data property after (as after an assignment), in the usual key order.
 */
export function lazyTrace(head: Omit<Trace, 'spans' | 'memory'>, columns: TakenColumns): Trace {
  const { schema, name, meta, dropped, ...rest } = head;
  const trace = { schema, name, meta, spans: [] as Span[], memory: [] as MemoryEvent[], dropped, ...rest } as Trace;
  const settle = (key: 'spans' | 'memory', value: unknown) => {
    untouched.delete(trace);
    Object.defineProperty(trace, key, { value, writable: true, enumerable: true, configurable: true });
  };
  // A frozen trace keeps its accessors: the values are then kept here.
  const made: { spans?: Span[]; memory?: MemoryEvent[] } = {};
  const getter = (key: 'spans' | 'memory', make: () => Span[] | MemoryEvent[]) => () => {
    untouched.delete(trace);
    const v = (made[key] ??= make() as never);
    if (Object.isExtensible(trace)) settle(key, v);
    return v;
  };
  const getSpans = getter('spans', () => columns.spans());
  const getMemory = getter('memory', () => columns.memory());
  Object.defineProperty(trace, 'spans', { get: getSpans, set: (v) => settle('spans', v), enumerable: true, configurable: true });
  Object.defineProperty(trace, 'memory', { get: getMemory, set: (v) => settle('memory', v), enumerable: true, configurable: true });
  // console.log shows the data, not two accessors.
  Object.defineProperty(trace, inspect.custom, {
    value: (depth: number, options: object) => inspect({ ...trace }, { ...options, depth }),
  });
  untouched.set(trace, { columns, spans: getSpans, memory: getMemory });
  return trace;
}

/** The columns of a taken trace whose spans and memory were never read or replaced, else null. */
export function untouchedColumns(trace: Trace): RowSource | null {
  const u = untouched.get(trace);
  if (!u) return null;
  const s = Object.getOwnPropertyDescriptor(trace, 'spans');
  const m = Object.getOwnPropertyDescriptor(trace, 'memory');
  return s?.get === u.spans && m?.get === u.memory ? u.columns : null;
}
