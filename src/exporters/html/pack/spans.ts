/**
 * The one sequential pass over the span objects (the expensive part at a million spans: each touch is a cache miss),
 * copying what later passes need into typed arrays: times, lane, sig, layer and pass. Spans without finite times are
 * counted and left out; the rest get compact indexes 0..n-1 in trace order.
 */
import type { Span } from '../../../core/model/trace';
import { layerResolver, NO_LAYER } from '../../../core/model/span-facts';
import { LayerIndex } from './layer-index';
import { KIND_CODES } from '../format';
import { str, type Interner } from './common';
import type { PointedSpans } from './pointers';
import { SignatureTable } from './signatures';

const KIND_INDEX = new Map<string, number>(KIND_CODES.map((k, i) => [k, i]));
/** Kind code of user spans (profile() passes, generation tokens), also used for unknown kinds. */
export const USER_KIND = KIND_INDEX.get('user')!;

/** Stands for "no span yet" in a last-value cache: equal to no field of any span. */
const NOT_YET = Symbol('not yet');

/** Lanes (device + thread), numbered by first appearance, with the earliest start of each lane's spans. */
export class LaneTable {
  readonly info: { device: string; thread: number; first: number }[] = [];
  private readonly map = new Map<string, Map<number, number>>();
  // Neighbouring spans mostly run on one lane: the last device and thread answer without the lookups.
  private lastDevice: unknown = NOT_YET;
  private lastThread: unknown = NOT_YET;
  private lastLane = 0;

  /** The lane of s, whose start is st. */
  of(s: Span, st: number): number {
    const lane = this.laneOf(s);
    const info = this.info[lane];
    if (st < info.first) info.first = st;
    return lane;
  }

  /**
   * The lane of s without its start: a caller on a hot path keeps `first` itself, since a start passed to a call
   * that is not inlined is boxed, an allocation per span.
   */
  laneOf(s: Span): number {
    if (s.device === this.lastDevice && s.thread === this.lastThread) return this.lastLane;
    const device = typeof s.device === 'string' ? s.device : str(s.device, 'unknown');
    const thread = typeof s.thread === 'number' && Number.isFinite(s.thread) ? s.thread : 0;
    let byThread = this.map.get(device);
    if (!byThread) this.map.set(device, (byThread = new Map()));
    let lane = byThread.get(thread);
    if (lane === undefined) {
      lane = this.info.length;
      byThread.set(thread, lane);
      this.info.push({ device, thread, first: Infinity });
    }
    // Only a device string and a finite thread stand for themselves (anything else is mapped first).
    if (device === s.device && thread === s.thread) {
      this.lastDevice = device;
      this.lastThread = thread;
      this.lastLane = lane;
    }
    return lane;
  }
}

/** Layer paths as string ids; a span's layer index is 1 + its place here, 0 for none. */
export class LayerTable {
  readonly list: number[] = [];
  private readonly ids = new Map<string, number>();
  // Consecutive spans often share a layer (the same string object): skip the hash lookup then.
  private last: unknown = undefined;
  private lastId = 0;

  constructor(private readonly strings: Interner) {}

  of(layer: unknown): number {
    if (layer === this.last) return this.lastId;
    if (typeof layer !== 'string' || !layer) return 0;
    let id = this.ids.get(layer);
    if (id === undefined) {
      id = this.list.length + 1;
      this.ids.set(layer, id);
      this.list.push(this.strings.id(layer));
    }
    this.last = layer;
    this.lastId = id;
    return id;
  }
}

/**
 * Multi-pass profiles: a code per (pass, warm-up) pair, and each measured pass's wall time. The column is allocated at
 * the first span that has a pass, so a trace without passes costs nothing.
 */
export class PassTable {
  column: Uint16Array | null = null;
  readonly codes: { pass: number; warmup: boolean }[] = [];
  /** Wall time per pass number, from the user spans profile() opens (one per pass, the pass number in attrs). */
  readonly wall = new Map<number, number>();
  private readonly codeOf = new Map<number, number>();
  private lastKey = NaN;
  private lastCode: number | undefined = undefined;

  constructor(private readonly length: number) {}

  note(s: Span, v: number, kind: number, st: number, en: number): void {
    const pass = s.pass;
    if (typeof pass !== 'number' || !Number.isFinite(pass)) return;
    this.column ??= new Uint16Array(this.length);
    // Spans of one pass come together: reuse the last code before hashing.
    const key = pass * 2 + (s.warmup ? 1 : 0);
    let code: number | undefined = key === this.lastKey ? this.lastCode : this.codeOf.get(key);
    if (code === undefined && this.codes.length < 65535) {
      code = this.codes.length + 1;
      this.codes.push({ pass, warmup: !!s.warmup });
      this.codeOf.set(key, code);
    }
    this.lastKey = key;
    this.lastCode = code;
    this.column[v] = code ?? 0;
    // A sweep that numbers its passes the same way in each setting (bench-model) adds them up per number, as the
    // op table's per-pass statistics do.
    if (kind === USER_KIND && !s.warmup && s.attrs?.pass === pass) this.wall.set(pass, (this.wall.get(pass) ?? 0) + (en - st));
  }
}

/** What the scan copies out of the span objects, by compact index. */
export interface SpanScan {
  n: number;
  skipped: number;
  /** Time range of the spans (0, 0 without spans). */
  t0: number;
  t1: number;
  start: Float64Array;
  end: Float64Array;
  lane: Int32Array;
  sig: Uint32Array;
  layer: Uint32Array;
  lanes: LaneTable;
  sigs: SignatureTable;
  layers: LayerTable;
  passes: PassTable;
}

/**
 * The scan, fed one span at a time in trace order (by the aggregation's pass over the spans, or by scanSpans).
 * `layerName` names a primitive's layer; without it a LayerIndex does.
 */
export class SpanScanner {
  private readonly N: number;
  private readonly start: Float64Array;
  private readonly end: Float64Array;
  private readonly laneOf: Int32Array;
  private readonly sigOf: Uint32Array;
  private readonly layerOf: Uint32Array;
  private readonly lanes = new LaneTable();
  private readonly sigs: SignatureTable;
  private readonly layers: LayerTable;
  private readonly passes: PassTable;
  private readonly index: LayerIndex | null;
  private readonly layerName: (s: Span) => string;
  private seen = 0;
  private n = 0;
  private skipped = 0;
  private t0 = Infinity;
  private t1 = -Infinity;

  constructor(
    spans: readonly Span[],
    private readonly strings: Interner,
    private readonly pointed: PointedSpans,
    layerName?: (s: Span) => string,
  ) {
    const N = (this.N = spans.length);
    this.start = new Float64Array(N);
    this.end = new Float64Array(N);
    this.laneOf = new Int32Array(N);
    this.sigOf = new Uint32Array(N);
    this.layerOf = new Uint32Array(N);
    this.sigs = new SignatureTable(strings);
    this.layers = new LayerTable(strings);
    this.passes = new PassTable(N);
    this.index = layerName ? null : new LayerIndex(spans);
    this.layerName = layerName ?? this.index!.of;
  }

  /** The next span of the trace. */
  readonly visit = (s: Span): void => {
    this.seen++;
    if (s == null) { this.skipped++; return; }
    if (this.index !== null && s.kind === 'layer') this.index.meet(s);
    const st = s.start, en = s.end;
    if (typeof st !== 'number' || typeof en !== 'number' || !Number.isFinite(st) || !Number.isFinite(en)) { this.skipped++; return; }
    const n = this.n;
    const lane = this.lanes.laneOf(s);
    const info = this.lanes.info[lane];
    if (st < info.first) info.first = st;
    const kind = s.kind === 'primitive' ? PRIMITIVE : KIND_INDEX.get(s.kind) ?? USER_KIND;
    this.sigOf[n] = this.sigs.of(s, kind);
    const ln = kind === PRIMITIVE ? this.layerName(s) : NO_LAYER;
    this.layerOf[n] = this.layers.of(ln === NO_LAYER ? undefined : ln);
    if (typeof s.pass === 'number') this.passes.note(s, n, kind, st, en);
    if (this.pointed.active) this.pointed.note(s, n, kind, st);
    this.start[n] = st;
    this.end[n] = Math.max(st, en);
    this.laneOf[n] = lane;
    if (st < this.t0) this.t0 = st;
    if (en > this.t1) this.t1 = en;
    this.n = n + 1;
  };

  /** The scan, or null when it did not see every span or its layer index was not exact. */
  finish(): SpanScan | null {
    if (this.seen !== this.N || (this.index !== null && !this.index.exact)) return null;
    const { n, skipped, start, end, laneOf, sigOf, layerOf, lanes, sigs, layers, passes } = this;
    const none = n === 0;
    return { n, skipped, t0: none ? 0 : this.t0, t1: none ? 0 : this.t1, start, end, lane: laneOf, sig: sigOf, layer: layerOf, lanes, sigs, layers, passes };
  }
}

const PRIMITIVE = KIND_INDEX.get('primitive')!;

/** The scan on its own, with layerResolver: for spans the aggregation's pass could not feed it. */
export function scanSpans(spans: Span[], strings: Interner, pointed: PointedSpans): SpanScan {
  const scanner = new SpanScanner(spans, strings, pointed, layerResolver({ spans }));
  for (let i = 0; i < spans.length; i++) scanner.visit(spans[i]);
  return scanner.finish()!;
}
