/**
 * The live page's store: the window's spans laid out as they come, the session's tables, memory points and findings;
 * and the window as the dashboard's head and columns for the model the views read.
 * The layout is kept, not redone: each lane (device and thread) holds its flame rows (one per nesting depth, spans in
 * start order, as the packer's groupByLane and nestLanes lay them out), a batch's spans are nested into their lane from
 * the last top-level span before the earliest of them (nothing before it can change), and spans that ended before the
 * window go from the front of each row (a row's spans do not overlap, so their ends grow along it). So a batch costs
 * what it brings, and showing the window is a copy of the rows into the columns.
 * Primitives come only from the batch's cut time on (the newest of the window, at most serveLive's pagePrimitives); those that
 * ended before a later cut are taken out of their rows (primitives are leaves: no span nests in one). The op and layer
 * tables count every primitive of the window from the batch's groups, which the layout passes on as grp* columns.
 * Self-contained (no imports at run time): its source text is embedded in the page.
 */
import type { Head, HeadFinding, HeadGeneration, HeadLane } from '../../html/format';
import type { Util } from '../../html/client/types';
import type { BatchMessage, WireColumn } from '../protocol';

export interface LiveStoreClient {
  /** Takes a batch in (a reset batch first drops everything). */
  append(msg: BatchMessage): void;
  /** The window as the dashboard's head and typed columns. */
  layout(): { head: Head; columns: Map<string, ArrayBufferView> };
  /** Spans held. */
  size(): number;
  /** Primitives held, how many the window has (the server's count), and the time since which the page has every one. */
  primitives(): { held: number; window: number; since: number };
}

export function liveStore(util: Util): LiveStoreClient {
  type F64 = Float64Array;
  /** One flame row: spans [head, len) of its columns, in start order, none overlapping the next. */
  interface Row { start: F64; end: F64; dur: Float32Array; id: F64; sig: Uint32Array; layer: Uint32Array; head: number; len: number }
  /** A batch's span columns. */
  interface Cols { start: F64; end: F64; id: F64; sig: F64; layer: F64 }
  /** Rows of each lane of the session's lane table (by its number), made when the lane first has a span. */
  let laneRows: Row[][] = [];
  let memN = 0, memCap = 0;
  let memT: F64 = new Float64Array(0), memLive: F64 = new Float64Array(0);
  let strings: string[] = [];
  let sigs = { kind: [] as number[], name: [] as number[], cat: [] as number[], shapes: [] as number[], dtype: [] as number[], flops: [] as number[], bytes: [] as number[] };
  let lanes: { device: string; thread: number }[] = [];
  let layers: number[] = [];
  let session: BatchMessage['session'] = null;
  let advice: BatchMessage['advice'] = null;
  let from = 0, to = 0, dropped = 0, memSource = 0;
  /** The batch's cut, the cut the rows were last trimmed to, the window's primitive count, and its groups. */
  let cut = -Infinity, trimmed = -Infinity, windowPrims = 0;
  let groups: BatchMessage['groups'] = { sig: [], layer: [], lane: [], calls: [], total: [] };
  let busy: BatchMessage['busy'] = { ns: 0, coveredNs: 0 };
  const PRIMITIVE = 2;
  const isPrim = (sig: number) => sigs.kind[sig] === PRIMITIVE;
  /** Arrival order, the last tie-break of the start order (as the packer's trace order). */
  let arrived = 0;
  /** The nesting stack (the ends of the open spans). */
  let stack = new Float64Array(256);

  const ARRAYS = { u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i8: Int8Array, i16: Int16Array, i32: Int32Array, f64: Float64Array };
  /** A wire column's n values (protocol's WireColumn): its type's values, the ones listed apart put in, then the base added or the differences summed. */
  function decode(c: WireColumn, n: number): F64 {
    const raw = util.fromBase64(c.data);
    const A = ARRAYS[c.type];
    const aligned = raw.byteOffset % A.BYTES_PER_ELEMENT === 0 ? raw : raw.slice();
    const src = new A(aligned.buffer as ArrayBuffer, aligned.byteOffset, n);
    const out = c.type === 'f64' ? (src as F64) : Float64Array.from(src);
    for (let k = 0; k < c.x.length; k += 2) out[c.x[k]] = c.x[k + 1];
    if (c.delta) {
      let acc = c.base;
      for (let i = 0; i < n; i++) out[i] = acc += out[i];
    } else if (c.base !== 0) for (let i = 0; i < n; i++) out[i] += c.base;
    return out;
  }
  const push = <T>(into: T[], items: T[]) => { for (const x of items) into.push(x); };
  const grown = <T extends F64 | Float32Array | Uint32Array | Uint16Array>(a: T, size: number, lo: number, hi: number): T => {
    const b = new (a.constructor as { new (k: number): T })(size);
    b.set(a.subarray(lo, hi) as never);
    return b;
  };
  const newRow = (): Row => ({
    start: new Float64Array(64), end: new Float64Array(64), dur: new Float32Array(64), id: new Float64Array(64), sig: new Uint32Array(64), layer: new Uint32Array(64), head: 0, len: 0,
  });

  function rowPush(r: Row, start: number, end: number, id: number, sig: number, layer: number) {
    if (r.len === r.start.length) {
      // The trimmed front goes when the row grows: its columns never hold more than twice what is live.
      const live = r.len - r.head, size = Math.max(64, 2 * live);
      r.start = grown(r.start, size, r.head, r.len); r.end = grown(r.end, size, r.head, r.len); r.dur = grown(r.dur, size, r.head, r.len);
      r.id = grown(r.id, size, r.head, r.len); r.sig = grown(r.sig, size, r.head, r.len); r.layer = grown(r.layer, size, r.head, r.len);
      r.head = 0;
      r.len = live;
    }
    const k = r.len++;
    r.start[k] = start; r.end[k] = end; r.dur[k] = end - start; r.id[k] = id; r.sig[k] = sig; r.layer[k] = layer;
  }

  /** First position in [lo, hi) of a row whose start is at least t. */
  function firstFrom(r: Row, t: number) {
    let lo = r.head, hi = r.len;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (r.start[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** Spans on their way into a lane's rows (a row used as columns), and their arrival (-1: taken off a row). */
  const staged = newRow();
  let order = new Float64Array(64);
  function stage(start: number, end: number, id: number, sig: number, layer: number, arrival: number) {
    if (staged.len === order.length) {
      const o = new Float64Array(2 * order.length);
      o.set(order);
      order = o;
    }
    order[staged.len] = arrival;
    rowPush(staged, start, end, id, sig, layer);
  }
  /** Start order: earlier first, then the longer (a parent before its child), then arrival. */
  const before = (a: number, b: number) => staged.start[a] - staged.start[b] || staged.end[b] - staged.end[a] || order[a] - order[b];

  /**
   * Nests a lane's new spans (batch positions idx[lo, hi)): the spans from the last top-level span that starts
   * before the earliest new one (the nesting stack is empty there) are taken off their rows, put in start order
   * with the new ones, and stacked again by interval nesting, as nestLanes does for the whole lane. A thread's
   * primitives come in start order after what the lane has: then nothing is sorted and one span is taken off.
   */
  function nest(rows: Row[], b: Cols, idx: Int32Array, lo: number, hi: number) {
    let tMin = Infinity;
    for (let k = lo; k < hi; k++) if (b.start[idx[k]] < tMin) tMin = b.start[idx[k]];
    const top = rows[0];
    const k0 = top ? firstFrom(top, tMin) - 1 : -1;
    const from0 = top && k0 >= top.head ? top.start[k0] : -Infinity;
    staged.len = 0;
    for (const r of rows) {
      const at = firstFrom(r, from0);
      for (let i = at; i < r.len; i++) stage(r.start[i], r.end[i], r.id[i], r.sig[i], r.layer[i], -1);
      r.len = at;
    }
    for (let k = lo; k < hi; k++) {
      const i = idx[k];
      stage(b.start[i], b.end[i], b.id[i], b.sig[i], b.layer[i], arrived++);
    }
    const m = staged.len;
    let perm: number[] | null = null;
    for (let q = 1; q < m; q++) {
      if (before(q - 1, q) > 0) {
        perm = Array.from({ length: m }, (_, v) => v).sort(before);
        break;
      }
    }
    let depth = 0;
    for (let q = 0; q < m; q++) {
      const v = perm ? perm[q] : q;
      const start = staged.start[v], end = staged.end[v];
      while (depth > 0 && stack[depth - 1] <= start) depth--;
      while (rows.length <= depth) rows.push(newRow());
      rowPush(rows[depth], start, end, staged.id[v], staged.sig[v], staged.layer[v]);
      if (depth === stack.length) {
        const grownStack = new Float64Array(2 * stack.length);
        grownStack.set(stack);
        stack = grownStack;
      }
      stack[depth++] = end;
    }
  }

  function reset() {
    laneRows = [];
    memN = 0;
    strings = [];
    sigs = { kind: [], name: [], cat: [], shapes: [], dtype: [], flops: [], bytes: [] };
    lanes = [];
    layers = [];
    advice = null;
    trimmed = -Infinity;
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
    from = msg.from;
    to = msg.to;
    cut = msg.cut;
    windowPrims = msg.primitives;
    groups = msg.groups;
    busy = msg.busy;
    if (msg.n > 0) {
      const n = msg.n;
      const cols: Cols = { id: decode(msg.cols.id, n), start: decode(msg.cols.start, n), end: decode(msg.cols.end, n), sig: decode(msg.cols.sig, n), layer: decode(msg.cols.layer, n) };
      const lane = decode(msg.cols.lane, n);
      // The batch's spans by lane (a counting sort keeps their order); one that ended before the window is left out.
      const at = new Int32Array(lanes.length + 1);
      const keep = (i: number) => cols.end[i] >= from && (cols.end[i] >= cut || !isPrim(cols.sig[i]));
      for (let i = 0; i < n; i++) if (keep(i)) at[lane[i] + 1]++;
      for (let l = 0; l < lanes.length; l++) at[l + 1] += at[l];
      const idx = new Int32Array(at[lanes.length]);
      const fill = at.slice(0, lanes.length);
      for (let i = 0; i < n; i++) if (keep(i)) idx[fill[lane[i]]++] = i;
      for (let l = 0; l < lanes.length; l++) if (at[l + 1] > at[l]) nest((laneRows[l] ??= []), cols, idx, at[l], at[l + 1]);
    }
    if (memN + msg.memN > memCap) {
      memCap = Math.max(2 * memCap, memN + msg.memN, 4096);
      [memT, memLive] = [grown(memT, memCap, 0, memN), grown(memLive, memCap, 0, memN)];
    }
    if (msg.memN > 0) {
      memT.set(decode(msg.mem.t, msg.memN), memN);
      memLive.set(decode(msg.mem.live, msg.memN), memN);
      memN += msg.memN;
    }
    dropped = msg.dropped;
    memSource = msg.memSource;
    if (msg.advice) advice = msg.advice;
    evict();
  }

  /** Takes the primitives that ended before the cut out of row r (order kept). */
  function trim(r: Row) {
    let w = r.head;
    for (let k = r.head; k < r.len; k++) {
      if (r.end[k] < cut && isPrim(r.sig[k])) continue;
      if (w !== k) { r.start[w] = r.start[k]; r.end[w] = r.end[k]; r.dur[w] = r.dur[k]; r.id[w] = r.id[k]; r.sig[w] = r.sig[k]; r.layer[w] = r.layer[k]; }
      w++;
    }
    r.len = w;
  }

  /**
   * Lets go of the spans that ended before the window (the front of each row) and of the primitives that ended before
   * the cut, and of the memory points before the window but the last one.
   */
  function evict() {
    const recut = cut > trimmed;
    trimmed = cut;
    for (const rows of laneRows) {
      if (!rows) continue;
      for (const r of rows) {
        while (r.head < r.len && r.end[r.head] < from) r.head++;
        if (recut) trim(r);
      }
      // Rows emptied at the bottom of a lane go; one emptied above a live row stays (its depth is the rows' order).
      while (rows.length > 0 && rows[rows.length - 1].head === rows[rows.length - 1].len) rows.pop();
    }
    let k = 0;
    while (k + 1 < memN && memT[k + 1] < from) k++;
    if (k > 0) {
      memT.copyWithin(0, k, memN);
      memLive.copyWithin(0, k, memN);
      memN -= k;
    }
  }

  function size() {
    let n = 0;
    for (const rows of laneRows) if (rows) for (const r of rows) n += r.len - r.head;
    return n;
  }

  function primitives() {
    let held = 0;
    for (const rows of laneRows) if (rows) for (const r of rows) for (let k = r.head; k < r.len; k++) if (isPrim(r.sig[k])) held++;
    return { held, window: windowPrims, since: Math.max(from, cut) };
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

  /**
   * Columns for a layout of n spans: two sets used in turn (the views read the previous layout until the next one is
   * shown), kept while big enough, so a refresh does not allocate the window anew. Positions are their own ids here.
   */
  interface LaidOut { start: F64; dur: Float32Array; sig: Uint32Array; layer: Uint32Array; id: F64; pos: Uint32Array }
  const sets: LaidOut[] = [];
  let turn = 0;
  function laidOut(n: number): LaidOut {
    turn ^= 1;
    let c = sets[turn];
    if (!c || c.start.length < n) {
      const k = Math.ceil(n * 1.25) + 1024;
      const pos = new Uint32Array(k);
      for (let q = 0; q < k; q++) pos[q] = q;
      c = sets[turn] = { start: new Float64Array(k), dur: new Float32Array(k), sig: new Uint32Array(k), layer: new Uint32Array(k), id: new Float64Array(k), pos };
    }
    return { start: c.start.subarray(0, n), dur: c.dur.subarray(0, n), sig: c.sig.subarray(0, n), layer: c.layer.subarray(0, n), id: c.id.subarray(0, n), pos: c.pos.subarray(0, n) };
  }

  function layout(): { head: Head; columns: Map<string, ArrayBufferView> } {
    // Lanes with spans in the window, by their first start (then thread), as groupByLane orders them.
    const order: { lane: number; first: number; last: number }[] = [];
    laneRows.forEach((rows, l) => {
      if (!rows || rows.length === 0) return;
      let first = Infinity, last = -Infinity;
      for (const r of rows) {
        if (r.head === r.len) continue;
        if (r.start[r.head] < first) first = r.start[r.head];
        if (r.end[r.len - 1] > last) last = r.end[r.len - 1];
      }
      order.push({ lane: l, first, last });
    });
    order.sort((a, b) => a.first - b.first || lanes[a.lane].thread - lanes[b.lane].thread);
    const n = size();
    const rowLane: number[] = [], rowDepth: number[] = [], rowOffset: number[] = [0];
    const { start: cStart, dur: cDur, sig: cSig, layer: cLayer, id: cId, pos: idPos } = laidOut(n);
    let p = 0, t0 = Infinity, t1 = -Infinity;
    order.forEach(({ lane, first, last }, rank) => {
      if (first < t0) t0 = first;
      if (last > t1) t1 = last;
      laneRows[lane].forEach((r, d) => {
        const lo = r.head, hi = r.len;
        cStart.set(r.start.subarray(lo, hi), p); cDur.set(r.dur.subarray(lo, hi), p); cSig.set(r.sig.subarray(lo, hi), p);
        cLayer.set(r.layer.subarray(lo, hi), p); cId.set(r.id.subarray(lo, hi), p);
        p += hi - lo;
        rowLane.push(rank);
        rowDepth.push(d);
        rowOffset.push(p);
      });
    });
    let peak = 0, peakT = 0;
    for (let i = 0; i < memN; i++) if (memLive[i] > peak) { peak = memLive[i]; peakT = memT[i]; }
    const columns = new Map<string, ArrayBufferView>([
      ['start', cStart], ['dur', cDur], ['sig', cSig], ['layer', cLayer],
      ['sigKind', Uint8Array.from(sigs.kind)], ['sigCat', Uint8Array.from(sigs.cat)], ['sigName', Uint32Array.from(sigs.name)],
      ['sigShapes', Uint32Array.from(sigs.shapes)], ['sigDtype', Uint32Array.from(sigs.dtype)], ['sigFlops', Float64Array.from(sigs.flops)],
      ['sigBytes', Float64Array.from(sigs.bytes)], ['memT', memT.slice(0, memN)], ['memLive', memLive.slice(0, memN)], ['idPos', idPos], ['idVal', cId],
    ]);
    // The groups' lanes by their place in the head's lanes (a lane none of whose spans the page has goes last, with no rows).
    const headLanes: HeadLane[] = order.map(({ lane }) => ({ device: lanes[lane].device, thread: lanes[lane].thread, rows: laneRows[lane].length }));
    const rankOf = new Map(order.map(({ lane }, rank) => [lane, rank]));
    const grpLane = Uint32Array.from(groups.lane, (l) => {
      let rank = rankOf.get(l);
      if (rank === undefined) {
        rankOf.set(l, (rank = headLanes.length));
        headLanes.push({ device: lanes[l].device, thread: lanes[l].thread, rows: 0 });
      }
      return rank;
    });
    columns.set('grpSig', Uint32Array.from(groups.sig)).set('grpLayer', Uint32Array.from(groups.layer)).set('grpLane', grpLane)
      .set('grpCalls', Float64Array.from(groups.calls)).set('grpTotal', Float64Array.from(groups.total));
    const typeOf = (a: ArrayBufferView) => (a instanceof Float64Array ? 'f64' : a instanceof Float32Array ? 'f32' : a instanceof Uint32Array ? 'u32' : a instanceof Uint16Array ? 'u16' : 'u8');
    const s = session!;
    const head: Head = {
      v: 1, name: s.name, dropped, skipped: 0, meta: s.meta, advice: findings(cId), adviceRan: advice !== null, generation: generation(cSig, cDur), passes: null,
      busy: busy.ns > 0 ? busy : null, counters: [], strings, t0: n ? t0 : from, t1: Math.max(n ? t1 : to, to), spanCount: n, kinds: s.kinds, categories: s.categories,
      lanes: headLanes, rowLane, rowDepth, rowOffset, sigCount: sigs.kind.length, layers,
      memory: memN ? { count: memN, sourceCount: Math.max(memN, memSource), downsampled: memSource > memN, peak, peakT } : null,
      columns: [...columns].map(([cid, a]) => ({ id: cid, type: typeOf(a), length: (a as Float64Array).length })),
    };
    return { head, columns };
  }

  return { append, layout, size, primitives };
}
