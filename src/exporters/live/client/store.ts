/**
 * The live page's store: the window's spans as columns that grow with each batch (appended, and let go once they end
 * before the window), the session's tables, memory points and findings; and the window laid out as the dashboard's
 * head and columns (with the packer's own lane grouping and nesting) for the model the views read.
 * Self-contained (no imports at run time): its source text is embedded in the page.
 */
import type { Head, HeadFinding, HeadGeneration, HeadLane } from '../../html/format';
import type { Util } from '../../html/client/types';
import type { groupByLane as GroupByLane, nestLanes as NestLanes } from '../../html/pack/rows';
import type { BatchMessage } from '../protocol';

export interface LiveStoreClient {
  /** Takes a batch in (a reset batch first drops everything). */
  append(msg: BatchMessage): void;
  /** The window as the dashboard's head and typed columns. */
  layout(): { head: Head; columns: Map<string, ArrayBufferView> };
  /** Spans held. */
  size(): number;
}

export interface RowParts {
  groupByLane: typeof GroupByLane;
  nestLanes: typeof NestLanes;
}

export function liveStore(rows: RowParts, util: Util): LiveStoreClient {
  type F64 = Float64Array;
  let n = 0, cap = 0, memN = 0, memCap = 0;
  let id: F64 = new Float64Array(0), start: F64 = new Float64Array(0), end: F64 = new Float64Array(0);
  let sig = new Uint32Array(0), layer = new Uint32Array(0), lane = new Uint16Array(0);
  let memT: F64 = new Float64Array(0), memLive: F64 = new Float64Array(0);
  let strings: string[] = [];
  let sigs = { kind: [] as number[], name: [] as number[], cat: [] as number[], shapes: [] as number[], dtype: [] as number[], flops: [] as number[], bytes: [] as number[] };
  let lanes: { device: string; thread: number }[] = [];
  let layers: number[] = [];
  let session: BatchMessage['session'] = null;
  let advice: BatchMessage['advice'] = null;
  let from = 0, to = 0, dropped = 0;

  const bytes = (s: string) => util.fromBase64(s).buffer as ArrayBuffer;
  const push = <T>(into: T[], items: T[]) => { for (const x of items) into.push(x); };
  const grown = <T extends F64 | Uint32Array | Uint16Array>(a: T, size: number, used: number): T => {
    const b = new (a.constructor as { new (k: number): T })(size);
    b.set(a.subarray(0, used) as never);
    return b;
  };

  function reset() {
    n = 0;
    memN = 0;
    strings = [];
    sigs = { kind: [], name: [], cat: [], shapes: [], dtype: [], flops: [], bytes: [] };
    lanes = [];
    layers = [];
    advice = null;
  }

  function append(msg: BatchMessage) {
    if (msg.reset) reset();
    if (msg.session) session = msg.session;
    const t = msg.tables;
    push(strings, t.strings);
    for (const k of ['kind', 'name', 'cat', 'shapes', 'dtype'] as const) push(sigs[k], t.sigs[k]);
    for (const v of t.sigs.flops) sigs.flops.push(v ?? NaN);
    for (const v of t.sigs.bytes) sigs.bytes.push(v ?? NaN);
    push(lanes, t.lanes);
    push(layers, t.layers);
    if (n + msg.n > cap) {
      cap = Math.max(2 * cap, n + msg.n, 4096);
      [id, start, end] = [grown(id, cap, n), grown(start, cap, n), grown(end, cap, n)];
      [sig, layer, lane] = [grown(sig, cap, n), grown(layer, cap, n), grown(lane, cap, n)];
    }
    if (msg.n > 0) {
      id.set(new Float64Array(bytes(msg.cols.id)), n);
      start.set(new Float64Array(bytes(msg.cols.start)), n);
      end.set(new Float64Array(bytes(msg.cols.end)), n);
      sig.set(new Uint32Array(bytes(msg.cols.sig)), n);
      layer.set(new Uint32Array(bytes(msg.cols.layer)), n);
      lane.set(new Uint16Array(bytes(msg.cols.lane)), n);
      n += msg.n;
    }
    if (memN + msg.memN > memCap) {
      memCap = Math.max(2 * memCap, memN + msg.memN, 4096);
      [memT, memLive] = [grown(memT, memCap, memN), grown(memLive, memCap, memN)];
    }
    if (msg.memN > 0) {
      memT.set(new Float64Array(bytes(msg.mem.t)), memN);
      memLive.set(new Float64Array(bytes(msg.mem.live)), memN);
      memN += msg.memN;
    }
    from = msg.from;
    to = msg.to;
    dropped = msg.dropped;
    if (msg.advice) advice = msg.advice;
    evict();
  }

  /** Lets go of the spans that ended before the window, and of the memory points before it but the last one. */
  function evict() {
    let w = 0;
    for (let i = 0; i < n; i++) {
      if (end[i] < from) continue;
      if (w !== i) {
        id[w] = id[i]; start[w] = start[i]; end[w] = end[i]; sig[w] = sig[i]; layer[w] = layer[i]; lane[w] = lane[i];
      }
      w++;
    }
    n = w;
    let k = 0;
    while (k + 1 < memN && memT[k + 1] < from) k++;
    if (k > 0) {
      memT.copyWithin(0, k, memN);
      memLive.copyWithin(0, k, memN);
      memN -= k;
    }
  }

  /** Token spans' positions and the generation statistics over them, as the dashboard's head has them. */
  function generation(sigCol: Uint32Array, dur: Float32Array): HeadGeneration | null {
    let tokenSig = -1;
    for (let s = 0; s < sigs.kind.length; s++) if (sigs.kind[s] === 4 && strings[sigs.name[s]] === 'token') tokenSig = s;
    if (tokenSig < 0) return null;
    const spans: number[] = [];
    for (let p = 0; p < sigCol.length; p++) if (sigCol[p] === tokenSig) spans.push(p);
    if (spans.length === 0) return null;
    const lat = Float64Array.from(spans, (p) => dur[p]).sort();
    let sum = 0;
    for (const v of lat) sum += v;
    const pct = (q: number) => {
      const pos = (lat.length - 1) * q, lo = Math.floor(pos), hi = Math.min(lat.length - 1, lo + 1);
      return (lat[lo] + (lat[hi] - lat[lo]) * (pos - lo)) / 1e6;
    };
    return {
      promptTokens: null, generatedTokens: spans.length + 1, timeToFirstTokenMs: null, prefillTokensPerSec: null,
      decodeTokensPerSec: sum > 0 ? spans.length / (sum / 1e9) : 0,
      tokenLatencyMs: { p50: pct(0.5), p95: pct(0.95), mean: sum / lat.length / 1e6, min: lat[0] / 1e6, max: lat[lat.length - 1] / 1e6 },
      prefill: -1, tokens: spans.map((_, k) => k + 1), tokenSpans: spans,
    };
  }

  /** The findings with their evidence located in the laid-out columns. */
  function findings(idCol: F64): HeadFinding[] {
    if (!advice) return [];
    const wanted = new Map<number, number>();
    let lo = Infinity, hi = -Infinity;
    for (const ids of advice.ids) for (const x of ids) { wanted.set(x, -1); if (x < lo) lo = x; if (x > hi) hi = x; }
    // A range test first: most spans are outside the evidence's ids.
    if (wanted.size) for (let p = 0; p < idCol.length; p++) { const x = idCol[p]; if (x >= lo && x <= hi && wanted.has(x)) wanted.set(x, p); }
    return advice.findings.map((f, k) => ({
      ...f, spans: advice!.ids[k].map((x) => wanted.get(x) ?? -1).filter((p) => p >= 0).sort((a, b) => a - b),
    }));
  }

  function layout(): { head: Head; columns: Map<string, ArrayBufferView> } {
    // Lanes that have spans in the window, numbered by first appearance, with their first start.
    const compact = new Int32Array(lanes.length).fill(-1);
    const info: { thread: number; first: number; lane: number }[] = [];
    const laneC = new Uint16Array(n);
    let t0 = Infinity, t1 = -Infinity;
    for (let i = 0; i < n; i++) {
      const l = lane[i];
      let c = compact[l];
      if (c < 0) {
        compact[l] = c = info.length;
        info.push({ thread: lanes[l].thread, first: start[i], lane: l });
      } else if (start[i] < info[c].first) info[c].first = start[i];
      laneC[i] = c;
      if (start[i] < t0) t0 = start[i];
      if (end[i] > t1) t1 = end[i];
    }
    const scan = { n, start: start.subarray(0, n), end: end.subarray(0, n), lane: laneC, lanes: { info } };
    const { laneOrder, laneStart, byLane } = rows.groupByLane(scan);
    const { depth, laneRows } = rows.nestLanes(scan, laneStart, byLane);
    const rowLane: number[] = [], rowDepth: number[] = [], rowBase: number[] = [];
    laneRows.forEach((r, l) => {
      rowBase.push(rowLane.length);
      for (let d = 0; d < r; d++) { rowLane.push(l); rowDepth.push(d); }
    });
    // Rows lane by lane, depth by depth, start order inside each row.
    const rowOffset: number[] = new Array(rowLane.length + 1).fill(0);
    for (let l = 0; l < laneOrder.length; l++) for (let k = laneStart[l]; k < laneStart[l + 1]; k++) rowOffset[rowBase[l] + depth[byLane[k]] + 1]++;
    for (let r = 1; r < rowOffset.length; r++) rowOffset[r] += rowOffset[r - 1];
    const fill = rowOffset.slice(0, rowLane.length);
    const cStart = new Float64Array(n), cDur = new Float32Array(n), cSig = new Uint32Array(n), cLayer = new Uint32Array(n), cId = new Float64Array(n);
    for (let l = 0; l < laneOrder.length; l++) {
      for (let k = laneStart[l]; k < laneStart[l + 1]; k++) {
        const v = byLane[k];
        const p = fill[rowBase[l] + depth[v]]++;
        cStart[p] = start[v];
        cDur[p] = end[v] - start[v];
        cSig[p] = sig[v];
        cLayer[p] = layer[v];
        cId[p] = id[v];
      }
    }
    const idPos = new Uint32Array(n);
    for (let p = 0; p < n; p++) idPos[p] = p;
    let peak = 0, peakT = 0;
    for (let i = 0; i < memN; i++) if (memLive[i] > peak) { peak = memLive[i]; peakT = memT[i]; }
    const columns = new Map<string, ArrayBufferView>([
      ['start', cStart], ['dur', cDur], ['sig', cSig], ['layer', cLayer],
      ['sigKind', Uint8Array.from(sigs.kind)], ['sigCat', Uint8Array.from(sigs.cat)], ['sigName', Uint32Array.from(sigs.name)],
      ['sigShapes', Uint32Array.from(sigs.shapes)], ['sigDtype', Uint32Array.from(sigs.dtype)], ['sigFlops', Float64Array.from(sigs.flops)],
      ['sigBytes', Float64Array.from(sigs.bytes)], ['memT', memT.slice(0, memN)], ['memLive', memLive.slice(0, memN)], ['idPos', idPos], ['idVal', cId],
    ]);
    const typeOf = (a: ArrayBufferView) => (a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : a instanceof Uint32Array ? 'u32' : a instanceof Uint16Array ? 'u16' : 'u8');
    const s = session!;
    const headLanes: HeadLane[] = laneOrder.map((c, rank) => ({ device: lanes[info[c].lane].device, thread: info[c].thread, rows: laneRows[rank] }));
    const head: Head = {
      v: 1, name: s.name, dropped, skipped: 0, meta: s.meta, advice: findings(cId), adviceRan: advice !== null, generation: generation(cSig, cDur), passes: null,
      busy: null, counters: [], strings, t0: n ? t0 : from, t1: Math.max(n ? t1 : to, to), spanCount: n, kinds: s.kinds, categories: s.categories,
      lanes: headLanes, rowLane, rowDepth, rowOffset, sigCount: sigs.kind.length, layers,
      memory: memN ? { count: memN, sourceCount: memN, downsampled: false, peak, peakT } : null,
      columns: [...columns].map(([cid, a]) => ({ id: cid, type: typeOf(a), length: (a as Float64Array).length })),
    };
    return { head, columns };
  }

  return { append, layout, size: () => n };
}
