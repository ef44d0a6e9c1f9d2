/**
 * Packs a Trace into the columnar form an HTML report embeds (see format.ts).
 * Spans are grouped into flame rows (lane = device + thread, row = nesting depth in that lane) and laid out row
 * after row in start order, so the page can binary-search a row for the visible time range. Everything a span shares
 * with others of its kind (name, shapes, dtype, FLOPs, bytes) is interned once as a "sig"; a span then costs a start
 * (f64), a duration (f32), a sig index and a layer index.
 */
import type { Span, TensorInfo, Trace } from '../../core/trace';
import { OP_CATEGORIES, OP_CATEGORY_LABELS, opCategory } from '../../core/categories';
import { KIND_CODES, type ColumnDesc, type ColumnType, type Head, type HeadFinding, type HeadMemory } from './format';

export interface PackedColumn {
  desc: ColumnDesc;
  data: Float64Array | Float32Array | Uint32Array | Uint16Array | Uint8Array;
}

export interface PackedTrace {
  head: Head;
  columns: PackedColumn[];
}

/** Above this many memory events the curve is reduced to per-bucket extremes (the exact peak is kept). */
export const MEMORY_POINT_CAP = 120_000;

const KIND_INDEX = new Map<string, number>(KIND_CODES.map((k, i) => [k, i]));
const CATEGORY_INDEX = new Map<string, number>(OP_CATEGORIES.map((c, i) => [c, i]));
const KNOWN_META = new Set(['timing', 'createdAt', 'origin', 'host', 'versions', 'peaks', 'fallbackReason', 'advice']);

class Interner {
  readonly list: string[] = [];
  private readonly ids = new Map<string, number>();
  id(s: string): number {
    let id = this.ids.get(s);
    if (id === undefined) {
      id = this.list.length;
      this.list.push(s);
      this.ids.set(s, id);
    }
    return id;
  }
}

function shapeText(t: TensorInfo): string {
  const shape = Array.isArray(t?.shape) ? t.shape : [];
  return shape.length === 0 ? 'scalar' : shape.join('×');
}

function dtypeSet(ts: TensorInfo[]): string {
  const seen: string[] = [];
  for (const t of ts) {
    const d = typeof t?.dtype === 'string' ? t.dtype : '?';
    if (!seen.includes(d)) seen.push(d);
  }
  return seen.join(', ');
}

/** "512×4096, 4096×4096 → 512×4096" and "float16" (or "float32 → float16" when a cast happens). */
function describeTensors(inputs: TensorInfo[], outputs: TensorInfo[]): { shapes: string; dtype: string } {
  const ins = inputs.map(shapeText).join(', ');
  const outs = outputs.map(shapeText).join(', ');
  const shapes = ins && outs ? `${ins} → ${outs}` : ins || (outs ? `→ ${outs}` : '');
  const di = dtypeSet(inputs);
  const dout = dtypeSet(outputs);
  const dtype = !di ? dout : !dout || di === dout ? di : `${di} → ${dout}`;
  return { shapes, dtype };
}

function uintColumn(max: number, length: number): { type: ColumnType; data: Uint8Array | Uint16Array | Uint32Array } {
  if (max < 256) return { type: 'u8', data: new Uint8Array(length) };
  if (max < 65536) return { type: 'u16', data: new Uint16Array(length) };
  return { type: 'u32', data: new Uint32Array(length) };
}

function num(x: unknown): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

function str(x: unknown, fallback = ''): string {
  return typeof x === 'string' ? x : x == null ? fallback : String(x);
}

function packAdvice(advice: unknown): HeadFinding[] {
  if (!Array.isArray(advice)) return [];
  const out: HeadFinding[] = [];
  for (const a of advice.slice(0, 500)) {
    if (!a || typeof a !== 'object') continue;
    const r = a as Record<string, unknown>;
    out.push({ rule: str(r.rule), severity: str(r.severity, 'info'), message: str(r.message), suggestion: str(r.suggestion) });
  }
  return out;
}

function packFacts(meta: Record<string, unknown>): [string, string][] {
  const facts: [string, string][] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (KNOWN_META.has(k)) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') facts.push([k, String(v)]);
    if (facts.length >= 50) break;
  }
  return facts;
}

/** Memory curve: sorted by time; above the cap, each time bucket keeps its min, max and last point in time order. */
function packMemory(trace: Trace): { head: HeadMemory; t: Float64Array; live: Float64Array } | null {
  const events = Array.isArray(trace.memory) ? trace.memory : [];
  const ts: number[] = [];
  const lives: number[] = [];
  let sorted = true;
  for (const e of events) {
    const t = num(e?.t);
    const live = num(e?.live);
    if (t === null || live === null) continue;
    if (ts.length && t < ts[ts.length - 1]) sorted = false;
    ts.push(t);
    lives.push(live);
  }
  if (ts.length === 0) return null;
  let order: number[] | null = null;
  if (!sorted) order = ts.map((_, i) => i).sort((a, b) => ts[a] - ts[b]);
  const T = (i: number) => ts[order ? order[i] : i];
  const L = (i: number) => lives[order ? order[i] : i];
  const n = ts.length;
  let peak = -Infinity;
  let peakT = 0;
  for (let i = 0; i < n; i++) if (L(i) > peak) { peak = L(i); peakT = T(i); }

  const keep: number[] = [];
  const downsampled = n > MEMORY_POINT_CAP;
  if (!downsampled) {
    for (let i = 0; i < n; i++) keep.push(i);
  } else {
    const buckets = Math.floor(MEMORY_POINT_CAP / 3);
    const lo = T(0);
    const span = Math.max(T(n - 1) - lo, 1);
    let i = 0;
    while (i < n) {
      const b = Math.min(buckets - 1, Math.floor(((T(i) - lo) / span) * buckets));
      let mn = i, mx = i, j = i;
      while (j + 1 < n && Math.min(buckets - 1, Math.floor(((T(j + 1) - lo) / span) * buckets)) === b) {
        j++;
        if (L(j) < L(mn)) mn = j;
        if (L(j) > L(mx)) mx = j;
      }
      for (const k of [...new Set([mn, mx, j])].sort((a, c) => a - c)) keep.push(k);
      i = j + 1;
    }
  }
  const t = new Float64Array(keep.length);
  const live = new Float64Array(keep.length);
  keep.forEach((k, i) => { t[i] = T(k); live[i] = L(k); });
  return { head: { count: keep.length, sourceCount: n, downsampled, peak, peakT }, t, live };
}

export function packTrace(trace: Trace): PackedTrace {
  const strings = new Interner();
  const spans: Span[] = Array.isArray(trace.spans) ? trace.spans : [];

  // 1. Lanes: one per (device, thread), ordered by their first span.
  const valid: number[] = [];
  const laneMap = new Map<string, Map<number, number>>();
  const laneInfo: { device: string; thread: number; first: number }[] = [];
  const laneOfSpan = new Int32Array(spans.length);
  let skipped = 0;
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    if (!s || !Number.isFinite(s.start) || !Number.isFinite(s.end)) { skipped++; continue; }
    valid.push(i);
    const device = str(s.device, 'unknown');
    const thread = Number.isFinite(s.thread) ? s.thread : 0;
    let byThread = laneMap.get(device);
    if (!byThread) laneMap.set(device, (byThread = new Map()));
    let lane = byThread.get(thread);
    if (lane === undefined) {
      lane = laneInfo.length;
      byThread.set(thread, lane);
      laneInfo.push({ device, thread, first: s.start });
    } else if (s.start < laneInfo[lane].first) laneInfo[lane].first = s.start;
    laneOfSpan[i] = lane;
  }
  const laneOrder = laneInfo.map((_, i) => i).sort((a, b) => laneInfo[a].first - laneInfo[b].first || laneInfo[a].thread - laneInfo[b].thread);
  const laneRank = new Int32Array(laneInfo.length);
  laneOrder.forEach((l, rank) => { laneRank[l] = rank; });
  const perLane: number[][] = laneOrder.map(() => []);
  for (const i of valid) perLane[laneRank[laneOfSpan[i]]].push(i);

  // 2. Per lane: start order (parents before children on ties), then depth by interval nesting. Nesting in time,
  //    not parentId, decides the row, so a lane's rows never overlap even when parents live on another thread.
  const depth = new Uint16Array(spans.length);
  const laneRows: number[] = [];
  for (const idx of perLane) {
    let inOrder = true;
    for (let k = 1; k < idx.length && inOrder; k++) {
      const a = spans[idx[k - 1]], b = spans[idx[k]];
      if (a.start > b.start || (a.start === b.start && a.end < b.end)) inOrder = false;
    }
    if (!inOrder) idx.sort((x, y) => spans[x].start - spans[y].start || spans[y].end - spans[x].end);
    const stack: number[] = [];
    let maxDepth = 0;
    for (const i of idx) {
      const s = spans[i];
      while (stack.length && stack[stack.length - 1] <= s.start) stack.pop();
      const d = Math.min(stack.length, 65535);
      depth[i] = d;
      if (d > maxDepth) maxDepth = d;
      stack.push(Math.max(s.end, s.start));
    }
    laneRows.push(idx.length ? maxDepth + 1 : 0);
  }

  // 3. Rows: lane by lane, depth by depth; a stable counting sort keeps start order inside each row.
  const rowLane: number[] = [];
  const rowDepth: number[] = [];
  const rowBase: number[] = [];
  laneRows.forEach((rows, lane) => {
    rowBase.push(rowLane.length);
    for (let d = 0; d < rows; d++) { rowLane.push(lane); rowDepth.push(d); }
  });
  const rowCount = new Int32Array(rowLane.length + 1);
  perLane.forEach((idx, lane) => { for (const i of idx) rowCount[rowBase[lane] + depth[i] + 1]++; });
  const rowOffset: number[] = [0];
  for (let r = 1; r <= rowLane.length; r++) rowOffset.push(rowOffset[r - 1] + rowCount[r]);
  const fill = rowOffset.slice(0, rowLane.length);
  const n = valid.length;
  const order = new Uint32Array(n);
  perLane.forEach((idx, lane) => { for (const i of idx) order[fill[rowBase[lane] + depth[i]]++] = i; });

  // 4. Sigs and layers, interned in row order.
  const sigIds = new Map<string, number>();
  const sigKind: number[] = [], sigName: number[] = [], sigCat: number[] = [], sigShapes: number[] = [], sigDtype: number[] = [];
  const sigFlops: number[] = [], sigBytes: number[] = [];
  const catOfName = new Map<number, number>();
  const tensorCache = new WeakMap<object, WeakMap<object, { shapes: number; dtype: number }>>();
  const EMPTY: TensorInfo[] = [];
  const describe = (inputs: TensorInfo[], outputs: TensorInfo[]) => {
    let inner = tensorCache.get(inputs);
    if (!inner) tensorCache.set(inputs, (inner = new WeakMap()));
    let d = inner.get(outputs);
    if (!d) {
      const t = describeTensors(inputs, outputs);
      d = { shapes: strings.id(t.shapes), dtype: strings.id(t.dtype) };
      inner.set(outputs, d);
    }
    return d;
  };
  const layerIds = new Map<string, number>();
  const layers: number[] = [];
  const start = new Float64Array(n);
  const dur = new Float32Array(n);
  const sigOf = new Uint32Array(n);
  const layerOf = new Uint32Array(n);
  let t0 = Infinity, t1 = -Infinity;
  for (let p = 0; p < n; p++) {
    const s = spans[order[p]];
    start[p] = s.start;
    dur[p] = Math.max(0, s.end - s.start);
    if (s.start < t0) t0 = s.start;
    if (s.end > t1) t1 = s.end;
    const kind = KIND_INDEX.get(s.kind) ?? 4;
    const nameId = strings.id(str(s.name, '(unnamed)'));
    const { shapes, dtype } = describe(Array.isArray(s.inputs) ? s.inputs : EMPTY, Array.isArray(s.outputs) ? s.outputs : EMPTY);
    const flops = num(s.flops);
    const bytes = num(s.bytes);
    const key = `${kind}|${nameId}|${shapes}|${dtype}|${flops}|${bytes}`;
    let sig = sigIds.get(key);
    if (sig === undefined) {
      sig = sigKind.length;
      sigIds.set(key, sig);
      sigKind.push(kind);
      sigName.push(nameId);
      let cat = catOfName.get(nameId);
      if (cat === undefined) catOfName.set(nameId, (cat = CATEGORY_INDEX.get(opCategory(strings.list[nameId])) ?? 0));
      sigCat.push(cat);
      sigShapes.push(shapes);
      sigDtype.push(dtype);
      sigFlops.push(flops ?? NaN);
      sigBytes.push(bytes ?? NaN);
    }
    sigOf[p] = sig;
    if (typeof s.layer === 'string' && s.layer) {
      let l = layerIds.get(s.layer);
      if (l === undefined) {
        l = layers.length + 1;
        layerIds.set(s.layer, l);
        layers.push(strings.id(s.layer));
      }
      layerOf[p] = l;
    }
  }
  if (n === 0) { t0 = 0; t1 = 0; }

  const columns: PackedColumn[] = [];
  const col = (id: string, type: ColumnType, data: PackedColumn['data']) => columns.push({ desc: { id, type, length: data.length }, data });
  col('start', 'f64', start);
  col('dur', 'f32', dur);
  const sigCol = uintColumn(sigKind.length, n);
  sigCol.data.set(sigOf);
  col('sig', sigCol.type, sigCol.data);
  const layerCol = uintColumn(layers.length + 1, n);
  layerCol.data.set(layerOf);
  col('layer', layerCol.type, layerCol.data);
  col('sigKind', 'u8', Uint8Array.from(sigKind));
  col('sigCat', 'u8', Uint8Array.from(sigCat));
  col('sigName', 'u32', Uint32Array.from(sigName));
  col('sigShapes', 'u32', Uint32Array.from(sigShapes));
  col('sigDtype', 'u32', Uint32Array.from(sigDtype));
  col('sigFlops', 'f64', Float64Array.from(sigFlops));
  col('sigBytes', 'f64', Float64Array.from(sigBytes));

  const mem = packMemory(trace);
  if (mem) {
    col('memT', 'f64', mem.t);
    col('memLive', 'f64', mem.live);
    if (n === 0) { t0 = mem.t[0]; t1 = mem.t[mem.t.length - 1]; }
  }

  const meta = (trace.meta ?? {}) as Trace['meta'];
  const host: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(meta.host ?? {})) if (typeof v === 'string' || typeof v === 'number') host[k] = v;
  const versions: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta.versions ?? {})) versions[k] = str(v);

  const head: Head = {
    v: 1,
    name: str(trace.name, 'trace'),
    dropped: num(trace.dropped) ?? 0,
    skipped,
    meta: {
      timing: str(meta.timing, 'unknown'),
      createdAt: str(meta.createdAt),
      fallbackReason: typeof meta.fallbackReason === 'string' ? meta.fallbackReason : null,
      host,
      versions,
      peaks: {
        flops: num(meta.peaks?.flops) ?? 0,
        bandwidth: num(meta.peaks?.bandwidth) ?? 0,
        source: str(meta.peaks?.source, 'unknown'),
      },
      facts: packFacts(meta as Record<string, unknown>),
    },
    advice: packAdvice((meta as Record<string, unknown>).advice),
    strings: strings.list,
    t0,
    t1,
    spanCount: n,
    kinds: KIND_CODES,
    categories: OP_CATEGORIES.map((id) => ({ id, label: OP_CATEGORY_LABELS[id] })),
    lanes: laneOrder.map((l, rank) => ({ device: laneInfo[l].device, thread: laneInfo[l].thread, rows: laneRows[rank] })),
    rowLane,
    rowDepth,
    rowOffset,
    sigCount: sigKind.length,
    layers,
    memory: mem ? mem.head : null,
    columns: columns.map((c) => c.desc),
  };
  return { head, columns };
}
