/**
 * Packs a Trace into the columnar form an HTML report embeds (see format.ts).
 * Spans are grouped into flame rows (lane = device + thread, row = nesting depth in that lane) and laid out row
 * after row in start order, so the page can binary-search a row for the visible time range. Everything a span shares
 * with others of its kind (name, shapes, dtype, FLOPs, bytes) is interned once as a "sig"; a span then costs a start
 * (f64), a duration (f32), a sig index and a layer index.
 */
import type { Span, TensorInfo, Trace } from '../../core/model/trace';
import { layerResolver, NO_LAYER } from '../../core/model/span-facts';
import { aggregate } from '../../core/analysis/aggregate';
import { OP_CATEGORIES, OP_CATEGORY_LABELS, opCategory } from '../../core/model/categories';
import {
  KIND_CODES, type ColumnDesc, type ColumnType, type Head, type HeadCounter, type HeadFinding, type HeadGeneration, type HeadMemory,
  type HeadPasses,
} from './format';

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
/** The same for each counter track (a sensor sampled at 100 Hz for an hour); and at most this many tracks. */
export const COUNTER_POINT_CAP = 30_000;
export const COUNTER_TRACK_CAP = 32;
/** Evidence spans located per finding (the advisor lists at most 500). */
const EVIDENCE_CAP = 2000;

const KIND_INDEX = new Map<string, number>(KIND_CODES.map((k, i) => [k, i]));
const CATEGORY_INDEX = new Map<string, number>(OP_CATEGORIES.map((c, i) => [c, i]));
const KNOWN_META = new Set(['timing', 'createdAt', 'origin', 'host', 'versions', 'peaks', 'fallbackReason', 'advice', 'generation', 'passStats']);

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

/** The findings as shown, and the ids of their evidence spans (left to locate in the span columns). */
function packAdvice(advice: unknown): { findings: HeadFinding[]; ids: number[][] } {
  const findings: HeadFinding[] = [];
  const ids: number[][] = [];
  if (!Array.isArray(advice)) return { findings, ids };
  for (const a of advice.slice(0, 500)) {
    if (!a || typeof a !== 'object') continue;
    const r = a as Record<string, unknown>;
    const ev = Array.isArray(r.evidence) ? r.evidence.filter(finiteNum).slice(0, EVIDENCE_CAP) : [];
    findings.push({ rule: str(r.rule), severity: str(r.severity, 'info'), message: str(r.message), suggestion: str(r.suggestion), timeAtStake: num(r.timeAtStake),
      evidence: Array.isArray(r.evidence) ? r.evidence.length : 0, spans: [] });
    ids.push(ev);
  }
  return { findings, ids };
}

/** trace.meta.generation as numbers (anything else becomes null), or null when the trace has none. */
function packGeneration(g: unknown): HeadGeneration | null {
  if (!g || typeof g !== 'object') return null;
  const r = g as Record<string, unknown>;
  const lat = (r.tokenLatencyMs && typeof r.tokenLatencyMs === 'object' ? r.tokenLatencyMs : {}) as Record<string, unknown>;
  return {
    promptTokens: num(r.promptTokens),
    generatedTokens: num(r.generatedTokens),
    timeToFirstTokenMs: num(r.timeToFirstTokenMs),
    prefillTokensPerSec: num(r.prefillTokensPerSec),
    decodeTokensPerSec: num(r.decodeTokensPerSec),
    tokenLatencyMs: { p50: num(lat.p50), p95: num(lat.p95), mean: num(lat.mean), min: num(lat.min), max: num(lat.max) },
    prefill: -1,
    tokens: [],
    tokenSpans: [],
  };
}

function packFacts(meta: Record<string, unknown>, multiPass: boolean): [string, string][] {
  const facts: [string, string][] = [];
  for (const [k, v] of Object.entries(meta)) {
    if (KNOWN_META.has(k)) continue;
    // The summary's Passes card says these.
    if (multiPass && (k === 'passes' || k === 'warmup')) continue;
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') facts.push([k, String(v)]);
    if (facts.length >= 50) break;
  }
  return facts;
}

const finiteNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/**
 * Memory curve: sorted by time; above the cap, each time bucket keeps its min, max and last point in time order.
 * Recorders write events in time order, so the common case is one pass over the event objects straight into the
 * buckets; out-of-order input is copied and sorted first.
 */
function packMemory(trace: Trace): { head: HeadMemory; t: Float64Array; live: Float64Array } | null {
  const events = Array.isArray(trace.memory) ? trace.memory : [];
  let first = -1, last = -1;
  for (let i = 0; i < events.length && first < 0; i++) if (finiteNum(events[i]?.t) && finiteNum(events[i]?.live)) first = i;
  for (let i = events.length - 1; i >= 0 && last < 0; i--) if (finiteNum(events[i]?.t) && finiteNum(events[i]?.live)) last = i;
  if (first < 0) return null;
  const big = events.length > MEMORY_POINT_CAP;
  const buckets = Math.floor(MEMORY_POINT_CAP / 3);
  const lo = events[first].t, hi = events[last].t;
  const width = Math.max(hi - lo, 1) / buckets;
  const outT = new Float64Array(big ? buckets * 3 : events.length);
  const outL = new Float64Array(big ? buckets * 3 : events.length);
  let m = 0;
  let count = 0;
  let peak = -Infinity, peakT = 0;
  // Current bucket: its min, max and last points.
  let cur = -1, minT = 0, minL = 0, maxT = 0, maxL = 0, lastT = 0, lastL = 0, minI = 0, maxI = 0, lastI = 0;
  const flush = () => {
    if (cur < 0) return;
    // Up to three distinct points, in time order.
    const pts: [number, number, number][] = [[minI, minT, minL], [maxI, maxT, maxL], [lastI, lastT, lastL]];
    pts.sort((x, y) => x[0] - y[0]);
    let prev = -1;
    for (const [i, t, l] of pts) {
      if (i === prev) continue;
      outT[m] = t;
      outL[m] = l;
      m++;
      prev = i;
    }
  };
  let prevT = -Infinity;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const t = e?.t, live = e?.live;
    if (!finiteNum(t) || !finiteNum(live)) continue;
    if (t < prevT || t > hi || t < lo) return packMemorySorted(events);
    prevT = t;
    count++;
    if (live > peak) { peak = live; peakT = t; }
    if (!big) { outT[m] = t; outL[m] = live; m++; continue; }
    const b = Math.min(buckets - 1, Math.floor((t - lo) / width));
    if (b !== cur) {
      flush();
      cur = b;
      minT = maxT = t; minL = maxL = live; minI = maxI = i;
    } else {
      if (live < minL) { minL = live; minT = t; minI = i; }
      if (live > maxL) { maxL = live; maxT = t; maxI = i; }
    }
    lastT = t; lastL = live; lastI = i;
  }
  if (big) flush();
  const downsampled = big && m < count;
  return { head: { count: m, sourceCount: count, downsampled, peak, peakT }, t: outT.slice(0, m), live: outL.slice(0, m) };
}

/** The rare out-of-order case: copy, sort by time (stable), then bucket as above. */
function packMemorySorted(events: Trace['memory']): { head: HeadMemory; t: Float64Array; live: Float64Array } | null {
  const valid = events.filter((e) => finiteNum(e?.t) && finiteNum(e?.live));
  const sorted = valid.map((e, i) => ({ t: e.t, live: e.live, i })).sort((a, b) => a.t - b.t || a.i - b.i);
  return packMemory({ memory: sorted } as unknown as Trace);
}

/**
 * Counter tracks (CPU frequency, temperature...): finite samples in time order, each track above the cap reduced to
 * its min and max per time bucket (in time order), like the memory curve. All tracks share two columns.
 */
function packCounters(trace: Trace): { heads: HeadCounter[]; t: Float64Array; v: Float64Array } | null {
  const tracks = Array.isArray(trace.counters) ? trace.counters.slice(0, COUNTER_TRACK_CAP) : [];
  const heads: HeadCounter[] = [];
  const ts: number[] = [];
  const vs: number[] = [];
  for (const c of tracks) {
    if (!c || typeof c !== 'object' || !Array.isArray(c.samples)) continue;
    let pts: [number, number][] = c.samples.filter((x): x is [number, number] => Array.isArray(x) && finiteNum(x[0]) && finiteNum(x[1]));
    if (pts.length === 0) continue;
    for (let i = 1; i < pts.length; i++) {
      if (pts[i][0] < pts[i - 1][0]) { pts = pts.slice().sort((a, b) => a[0] - b[0]); break; }
    }
    let min = Infinity, max = -Infinity;
    for (const [, v] of pts) { if (v < min) min = v; if (v > max) max = v; }
    const offset = ts.length;
    if (pts.length <= COUNTER_POINT_CAP) {
      for (const [t, v] of pts) { ts.push(t); vs.push(v); }
    } else {
      const buckets = COUNTER_POINT_CAP >> 1;
      const lo = pts[0][0], width = Math.max(pts[pts.length - 1][0] - lo, 1) / buckets;
      let k = 0;
      while (k < pts.length) {
        const b = Math.min(buckets - 1, Math.floor((pts[k][0] - lo) / width));
        let iMin = k, iMax = k, j = k;
        for (; j < pts.length && Math.min(buckets - 1, Math.floor((pts[j][0] - lo) / width)) === b; j++) {
          if (pts[j][1] < pts[iMin][1]) iMin = j;
          if (pts[j][1] > pts[iMax][1]) iMax = j;
        }
        for (const i of iMin === iMax ? [iMin] : [Math.min(iMin, iMax), Math.max(iMin, iMax)]) { ts.push(pts[i][0]); vs.push(pts[i][1]); }
        k = j;
      }
    }
    heads.push({ name: str(c.name, 'counter'), unit: str(c.unit), offset, count: ts.length - offset, sourceCount: pts.length, min, max });
  }
  return heads.length ? { heads, t: Float64Array.from(ts), v: Float64Array.from(vs) } : null;
}

/** Evidence ids of all findings, or null when there are none (the common case costs no lookup per span). */
function idSet(lists: number[][]): Set<number> | null {
  let set: Set<number> | null = null;
  for (const l of lists) for (const id of l) (set ??= new Set()).add(id);
  return set;
}

export function packTrace(trace: Trace): PackedTrace {
  const strings = new Interner();
  const spans: Span[] = Array.isArray(trace.spans) ? trace.spans : [];
  const N = spans.length;

  // 1. One sequential pass over the span objects (the expensive part at a million spans: each touch is a cache miss),
  //    copying what later passes need into typed arrays: times, lane, sig and layer.
  const vStart = new Float64Array(N);
  const vEnd = new Float64Array(N);
  const vLane = new Int32Array(N);
  const vSig = new Uint32Array(N);
  const vLayer = new Uint32Array(N);
  const laneMap = new Map<string, Map<number, number>>();
  const laneInfo: { device: string; thread: number; first: number }[] = [];
  // Sig lookup without building a key string per span: (shapes, dtype) -> name*8+kind -> flops -> bytes -> sig.
  type SigTree = Map<number, Map<number, Map<number, number>>>;
  interface Desc { shapes: number; dtype: number; sigs: SigTree }
  const sigKind: number[] = [], sigName: number[] = [], sigCat: number[] = [], sigShapes: number[] = [], sigDtype: number[] = [];
  const sigFlops: number[] = [], sigBytes: number[] = [];
  const catOfName = new Map<number, number>();
  const tensorCache = new WeakMap<object, WeakMap<object, Desc>>();
  const byText = new Map<string, Desc>();
  const EMPTY: TensorInfo[] = [];
  const describe = (inputs: TensorInfo[], outputs: TensorInfo[]) => {
    let inner = tensorCache.get(inputs);
    if (!inner) tensorCache.set(inputs, (inner = new WeakMap()));
    let d = inner.get(outputs);
    if (!d) {
      const t = describeTensors(inputs, outputs);
      const text = `${t.shapes}\u0000${t.dtype}`;
      d = byText.get(text);
      if (!d) byText.set(text, (d = { shapes: strings.id(t.shapes), dtype: strings.id(t.dtype), sigs: new Map() }));
      inner.set(outputs, d);
    }
    return d;
  };
  const layerIds = new Map<string, number>();
  const layers: number[] = [];
  const layerOf = layerResolver(trace);
  // Consecutive spans often share a name or layer (the same string object): skip the hash lookup then.
  let lastName: unknown = undefined, lastNameId = 0, lastLayer: unknown = undefined, lastLayerId = 0;
  let n = 0;
  let skipped = 0;
  let t0 = Infinity, t1 = -Infinity;

  const meta = (trace.meta ?? {}) as Trace['meta'];
  const advice = packAdvice((meta as Record<string, unknown>).advice);
  const generation = packGeneration((meta as Record<string, unknown>).generation);
  // Spans a view points at (evidence, generation tokens), by compact index: their positions are found while filling.
  const wantIds = idSet(advice.ids);
  const wanted: number[] = [];
  const wantedId: number[] = [];
  const genSpans: { v: number; decode: boolean; token: number; start: number }[] = [];
  // Multi-pass: a code per (pass, warmup) pair; the column is allocated at the first span that has a pass.
  let vPass: Uint16Array | null = null;
  const passCodeOf = new Map<number, number>();
  const passCodes: { pass: number; warmup: boolean }[] = [];
  const passWall = new Map<number, number>();
  let lastPassKey = NaN, lastPassCode: number | undefined = undefined;
  for (let i = 0; i < N; i++) {
    const s = spans[i];
    const st = s?.start, en = s?.end;
    if (typeof st !== 'number' || typeof en !== 'number' || !Number.isFinite(st) || !Number.isFinite(en)) { skipped++; continue; }
    const device = typeof s.device === 'string' ? s.device : str(s.device, 'unknown');
    const thread = typeof s.thread === 'number' && Number.isFinite(s.thread) ? s.thread : 0;
    let byThread = laneMap.get(device);
    if (!byThread) laneMap.set(device, (byThread = new Map()));
    let lane = byThread.get(thread);
    if (lane === undefined) {
      lane = laneInfo.length;
      byThread.set(thread, lane);
      laneInfo.push({ device, thread, first: st });
    } else if (st < laneInfo[lane].first) laneInfo[lane].first = st;

    const kind = KIND_INDEX.get(s.kind) ?? 4;
    let nameId = lastNameId;
    if (s.name !== lastName || lastName === undefined) {
      nameId = strings.id(typeof s.name === 'string' ? s.name : str(s.name, '(unnamed)'));
      lastName = s.name;
      lastNameId = nameId;
    }
    const d = describe(Array.isArray(s.inputs) ? s.inputs : EMPTY, Array.isArray(s.outputs) ? s.outputs : EMPTY);
    const flops = num(s.flops) ?? NaN;
    const bytes = num(s.bytes) ?? NaN;
    let byName = d.sigs.get(nameId * 8 + kind);
    if (!byName) d.sigs.set(nameId * 8 + kind, (byName = new Map()));
    let byFlops = byName.get(flops);
    if (!byFlops) byName.set(flops, (byFlops = new Map()));
    let sig = byFlops.get(bytes);
    if (sig === undefined) {
      sig = sigKind.length;
      byFlops.set(bytes, sig);
      sigKind.push(kind);
      sigName.push(nameId);
      let cat = catOfName.get(nameId);
      if (cat === undefined) catOfName.set(nameId, (cat = CATEGORY_INDEX.get(opCategory(strings.list[nameId])) ?? 0));
      sigCat.push(cat);
      sigShapes.push(d.shapes);
      sigDtype.push(d.dtype);
      sigFlops.push(flops);
      sigBytes.push(bytes);
    }
    let layer = 0;
    const layerName = kind === 2 ? layerOf(s) : NO_LAYER;
    if (layerName === lastLayer) layer = lastLayerId;
    else if (layerName !== NO_LAYER) {
      const l = layerIds.get(layerName);
      if (l === undefined) {
        layer = layers.length + 1;
        layerIds.set(layerName, layer);
        layers.push(strings.id(layerName));
      } else layer = l;
      lastLayer = layerName;
      lastLayerId = layer;
    }
    const pass = s.pass;
    if (typeof pass === 'number' && Number.isFinite(pass)) {
      vPass ??= new Uint16Array(N);
      // Spans of one pass come together: reuse the last code before hashing.
      const key = pass * 2 + (s.warmup ? 1 : 0);
      let code: number | undefined = key === lastPassKey ? lastPassCode : passCodeOf.get(key);
      if (code === undefined && passCodes.length < 65535) {
        code = passCodes.length + 1;
        passCodes.push({ pass, warmup: !!s.warmup });
        passCodeOf.set(key, code);
      }
      lastPassKey = key;
      lastPassCode = code;
      vPass[n] = code ?? 0;
      // profile() opens one user span per pass, with the pass number in attrs: its length is the pass's wall time.
      // A sweep that numbers its passes the same way in each setting (bench-model) adds them up per number, as the
      // op table's per-pass statistics do.
      if (kind === 4 && !s.warmup && s.attrs?.pass === pass) passWall.set(pass, (passWall.get(pass) ?? 0) + (en - st));
    }
    if (wantIds !== null && wantIds.has(s.id)) { wanted.push(n); wantedId.push(s.id); }
    if (generation !== null && kind === 4) {
      const phase = s.attrs?.phase;
      if (phase === 'decode' || phase === 'prefill') {
        const tok = s.attrs?.token;
        genSpans.push({ v: n, decode: phase === 'decode', token: typeof tok === 'number' ? tok : genSpans.length, start: st });
        if (wanted[wanted.length - 1] !== n) { wanted.push(n); wantedId.push(s.id); }
      }
    }
    vStart[n] = st;
    vEnd[n] = Math.max(st, en);
    vLane[n] = lane;
    vSig[n] = sig;
    vLayer[n] = layer;
    if (st < t0) t0 = st;
    if (en > t1) t1 = en;
    n++;
  }
  if (n === 0) { t0 = 0; t1 = 0; }

  // 2. Lanes ordered by their first span; spans grouped by lane (counting sort keeps trace order within a lane).
  const laneOrder = laneInfo.map((_, i) => i).sort((a, b) => laneInfo[a].first - laneInfo[b].first || laneInfo[a].thread - laneInfo[b].thread);
  const laneRank = new Int32Array(laneInfo.length);
  laneOrder.forEach((l, rank) => { laneRank[l] = rank; });
  const laneStart = new Int32Array(laneInfo.length + 1);
  for (let k = 0; k < n; k++) laneStart[laneRank[vLane[k]] + 1]++;
  for (let l = 0; l < laneInfo.length; l++) laneStart[l + 1] += laneStart[l];
  const byLane = new Int32Array(n);
  const cursor = laneStart.slice(0, laneInfo.length);
  for (let k = 0; k < n; k++) byLane[cursor[laneRank[vLane[k]]]++] = k;

  // 3. Per lane: start order (parents before children on ties), then depth by interval nesting. Nesting in time,
  //    not parentId, decides the row, so a lane's rows never overlap even when parents live on another thread.
  const depth = new Uint16Array(n);
  const laneRows: number[] = [];
  const stack = new Float64Array(65536);
  for (let l = 0; l < laneInfo.length; l++) {
    const lo = laneStart[l], hi = laneStart[l + 1];
    let inOrder = true;
    for (let k = lo + 1; k < hi; k++) {
      const a = byLane[k - 1], b = byLane[k];
      if (vStart[a] > vStart[b] || (vStart[a] === vStart[b] && vEnd[a] < vEnd[b])) { inOrder = false; break; }
    }
    if (!inOrder) {
      // A plain array sort (TimSort) is fast on the nearly sorted order recorders produce.
      const idx = Array.from(byLane.subarray(lo, hi));
      idx.sort((x, y) => vStart[x] - vStart[y] || vEnd[y] - vEnd[x] || x - y);
      byLane.set(idx, lo);
    }
    let top = 0;
    let maxDepth = 0;
    for (let k = lo; k < hi; k++) {
      const v = byLane[k];
      const st = vStart[v];
      while (top > 0 && stack[top - 1] <= st) top--;
      const d = Math.min(top, 65535);
      depth[v] = d;
      if (d > maxDepth) maxDepth = d;
      if (top < stack.length) stack[top++] = vEnd[v];
    }
    laneRows.push(hi > lo ? maxDepth + 1 : 0);
  }

  // 4. Rows: lane by lane, depth by depth; a stable counting sort keeps start order inside each row.
  const rowLane: number[] = [];
  const rowDepth: number[] = [];
  const rowBase: number[] = [];
  laneRows.forEach((rows, lane) => {
    rowBase.push(rowLane.length);
    for (let d = 0; d < rows; d++) { rowLane.push(lane); rowDepth.push(d); }
  });
  const rowOffset: number[] = new Array(rowLane.length + 1).fill(0);
  for (let l = 0; l < laneInfo.length; l++) {
    for (let k = laneStart[l]; k < laneStart[l + 1]; k++) rowOffset[rowBase[l] + depth[byLane[k]] + 1]++;
  }
  for (let r = 1; r <= rowLane.length; r++) rowOffset[r] += rowOffset[r - 1];
  const fill = rowOffset.slice(0, rowLane.length);
  const start = new Float64Array(n);
  const dur = new Float32Array(n);
  const sigCol = uintColumn(sigKind.length, n);
  const layerCol = uintColumn(layers.length + 1, n);
  const passCol = vPass ? uintColumn(passCodes.length + 1, n) : null;
  // Position of each compact index, only when some span is pointed at.
  const posOfV = wanted.length > 0 ? new Int32Array(n) : null;
  for (let l = 0; l < laneInfo.length; l++) {
    for (let k = laneStart[l]; k < laneStart[l + 1]; k++) {
      const v = byLane[k];
      const p = fill[rowBase[l] + depth[v]]++;
      start[p] = vStart[v];
      dur[p] = vEnd[v] - vStart[v];
      sigCol.data[p] = vSig[v];
      layerCol.data[p] = vLayer[v];
      if (passCol) passCol.data[p] = vPass![v];
      if (posOfV) posOfV[v] = p;
    }
  }

  const columns: PackedColumn[] = [];
  const col = (id: string, type: ColumnType, data: PackedColumn['data']) => columns.push({ desc: { id, type, length: data.length }, data });
  col('start', 'f64', start);
  col('dur', 'f32', dur);
  col('sig', sigCol.type, sigCol.data);
  col('layer', layerCol.type, layerCol.data);
  col('sigKind', 'u8', Uint8Array.from(sigKind));
  col('sigCat', 'u8', Uint8Array.from(sigCat));
  col('sigName', 'u32', Uint32Array.from(sigName));
  col('sigShapes', 'u32', Uint32Array.from(sigShapes));
  col('sigDtype', 'u32', Uint32Array.from(sigDtype));
  col('sigFlops', 'f64', Float64Array.from(sigFlops));
  col('sigBytes', 'f64', Float64Array.from(sigBytes));

  if (passCol) col('pass', passCol.type, passCol.data);

  const mem = packMemory(trace);
  if (mem) {
    col('memT', 'f64', mem.t);
    col('memLive', 'f64', mem.live);
    if (n === 0) { t0 = mem.t[0]; t1 = mem.t[mem.t.length - 1]; }
  }
  const counters = packCounters(trace);
  if (counters) {
    col('counterT', 'f64', counters.t);
    col('counterV', 'f64', counters.v);
    if (n === 0 && !mem) {
      t0 = Infinity; t1 = -Infinity;
      for (const c of counters.heads) {
        t0 = Math.min(t0, counters.t[c.offset]);
        t1 = Math.max(t1, counters.t[c.offset + c.count - 1]);
      }
    }
  }

  // Ids of the pointed-at spans, by position; then each finding's evidence and each token as positions.
  if (posOfV) {
    const pairs = wanted.map((v, k) => [posOfV[v], wantedId[k]] as [number, number]);
    pairs.sort((a, b) => a[0] - b[0]);
    const idPos = Uint32Array.from(pairs, (x) => x[0]);
    const ids = pairs.map((x) => (finiteNum(x[1]) ? x[1] : NaN));
    const small = ids.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    col('idPos', 'u32', idPos);
    col('idVal', small ? 'u32' : 'f64', small ? Uint32Array.from(ids) : Float64Array.from(ids));
    const posById = new Map<number, number[]>();
    pairs.forEach(([p, id]) => {
      const l = posById.get(id);
      if (l) l.push(p); else posById.set(id, [p]);
    });
    advice.findings.forEach((f, k) => {
      const found = new Set<number>();
      for (const id of advice.ids[k]) for (const p of posById.get(id) ?? []) found.add(p);
      f.spans = [...found].sort((a, b) => a - b);
    });
  }
  if (generation && posOfV) {
    const decode = genSpans.filter((g) => g.decode).sort((a, b) => a.token - b.token || a.start - b.start);
    const prefill = genSpans.find((g) => !g.decode);
    generation.prefill = prefill ? posOfV[prefill.v] : -1;
    generation.tokens = decode.map((g) => g.token);
    generation.tokenSpans = decode.map((g) => posOfV[g.v]);
  }

  const passes: HeadPasses | null = vPass
    ? {
        codes: passCodes,
        measured: [...new Set(passCodes.filter((c) => !c.warmup).map((c) => c.pass))].sort((a, b) => a - b),
        warmup: [...new Set(passCodes.filter((c) => c.warmup).map((c) => c.pass))].sort((a, b) => a - b),
        wall: [],
      }
    : null;
  if (passes && passes.measured.every((p) => passWall.has(p))) passes.wall = passes.measured.map((p) => passWall.get(p)!);
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
      facts: packFacts(meta as Record<string, unknown>, passes !== null),
    },
    advice: advice.findings,
    adviceRan: Array.isArray((meta as Record<string, unknown>).advice),
    generation,
    passes,
    busy: busyOf(trace),
    counters: counters ? counters.heads : [],
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

/** Busy time over the measured passes, as the terminal report and statistics compute it; null for input it cannot read. */
function busyOf(trace: Trace): Head['busy'] {
  try {
    const agg = aggregate(trace, { by: [], passes: 'measured' });
    return { ns: agg.busy.ns, coveredNs: agg.coveredNs };
  } catch {
    return null;
  }
}
