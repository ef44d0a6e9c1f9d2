/**
 * The one sequential pass over the span objects (the expensive part at a million spans: each touch is a cache miss),
 * copying what later passes need into typed arrays: times, lane, sig, layer and pass. Spans without finite times are
 * counted and left out; the rest get compact indexes 0..n-1 in trace order.
 */
import type { Span } from '../../../core/model/trace';
import { layerResolver, NO_LAYER } from '../../../core/model/span-facts';
import { KIND_CODES } from '../format';
import { str, type Interner } from './common';
import type { PointedSpans } from './pointers';
import { SignatureTable } from './signatures';

const KIND_INDEX = new Map<string, number>(KIND_CODES.map((k, i) => [k, i]));
/** Kind code of user spans (profile() passes, generation tokens), also used for unknown kinds. */
export const USER_KIND = KIND_INDEX.get('user')!;

/** Lanes (device + thread), numbered by first appearance, with the start of each lane's first span. */
export class LaneTable {
  readonly info: { device: string; thread: number; first: number }[] = [];
  private readonly map = new Map<string, Map<number, number>>();

  of(s: Span, st: number): number {
    const device = typeof s.device === 'string' ? s.device : str(s.device, 'unknown');
    const thread = typeof s.thread === 'number' && Number.isFinite(s.thread) ? s.thread : 0;
    let byThread = this.map.get(device);
    if (!byThread) this.map.set(device, (byThread = new Map()));
    let lane = byThread.get(thread);
    if (lane === undefined) {
      lane = this.info.length;
      byThread.set(thread, lane);
      this.info.push({ device, thread, first: st });
    } else if (st < this.info[lane].first) this.info[lane].first = st;
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

export function scanSpans(spans: Span[], strings: Interner, pointed: PointedSpans): SpanScan {
  const N = spans.length;
  const start = new Float64Array(N);
  const end = new Float64Array(N);
  const laneOf = new Int32Array(N);
  const sigOf = new Uint32Array(N);
  const layerOf = new Uint32Array(N);
  const lanes = new LaneTable();
  const sigs = new SignatureTable(strings);
  const layers = new LayerTable(strings);
  const passes = new PassTable(N);
  // A primitive's layer by the one rule (span-facts layerOf); other kinds have none.
  const layerName = layerResolver({ spans });
  const PRIMITIVE = KIND_INDEX.get('primitive')!;
  // Consecutive spans often share a name (the same string object): skip the hash lookup then.
  let lastName: unknown = undefined, lastNameId = 0;
  let n = 0;
  let skipped = 0;
  let t0 = Infinity, t1 = -Infinity;
  for (let i = 0; i < N; i++) {
    const s = spans[i];
    const st = s?.start, en = s?.end;
    if (typeof st !== 'number' || typeof en !== 'number' || !Number.isFinite(st) || !Number.isFinite(en)) { skipped++; continue; }
    const lane = lanes.of(s, st);
    const kind = KIND_INDEX.get(s.kind) ?? USER_KIND;
    if (s.name !== lastName || lastName === undefined) {
      lastNameId = strings.id(typeof s.name === 'string' ? s.name : str(s.name, '(unnamed)'));
      lastName = s.name;
    }
    sigOf[n] = sigs.of(s, kind, lastNameId);
    const ln = kind === PRIMITIVE ? layerName(s) : NO_LAYER;
    layerOf[n] = layers.of(ln === NO_LAYER ? undefined : ln);
    passes.note(s, n, kind, st, en);
    pointed.note(s, n, kind, st);
    start[n] = st;
    end[n] = Math.max(st, en);
    laneOf[n] = lane;
    if (st < t0) t0 = st;
    if (en > t1) t1 = en;
    n++;
  }
  if (n === 0) { t0 = 0; t1 = 0; }
  return { n, skipped, t0, t1, start, end, lane: laneOf, sig: sigOf, layer: layerOf, lanes, sigs, layers, passes };
}
