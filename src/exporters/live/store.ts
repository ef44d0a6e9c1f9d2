/**
 * The server's memory of the app: the chunks of the last seconds (bounded by time and by span
 * count), and the window of the last N seconds as a plain Trace, the model every exporter reads.
 * The window adds what the live page shows beside the recording: a 'token N' user span per decoded
 * token (a token is an item() sync point after an asyncEval, the pipelined decode loop), the
 * generation stats over them, and the rate series (tokens/s, or evals/s when the app does not
 * generate). Runs in the worker thread.
 */
import { estimateCost, type Cost } from '../../core/cost';
import { percentileSorted } from '../../core/analysis/stats';
import { TRACE_SCHEMA, type MemoryEvent, type Span, type TensorInfo, type Trace } from '../../core/model/trace';
import { KIND_CODES } from '../html/format';
import { JS_FIELDS, type Chunk, type SessionInfo, type WireSpan } from './protocol';

interface Stored {
  chunk: Chunk;
  /** Latest end time in the chunk (ns since origin). */
  tEnd: number;
  spans: number;
  /** The chunk's primitives and JS-side spans as trace spans, made by the first window that needs them. */
  objects: Span[] | null;
}

/** Rate series of a window: events per second in buckets of bucketNs, oldest first. */
export interface RateSeries {
  what: 'tokens' | 'evals';
  bucketNs: number;
  values: number[];
  /** Per-token latency (ns) of the tokens in the window, in order (empty for evals). */
  latencies: number[];
}

export interface WindowStats {
  spans: number;
  /** Spans taken in since the server started. */
  receivedSpans: number;
  retainedSpans: number;
  recorderDropped: number;
  feedDropped: number;
  evictedSpans: number;
  liveBytes: number;
  peakBytes: number;
  latest: number;
}

const PRIM_GPU = 1;

export class LiveStore {
  private chunks: Stored[] = [];
  private retained = 0;
  private received = 0;
  private evicted = 0;
  private sigs = new Map<number, [TensorInfo[], TensorInfo[]]>();
  private costs = new Map<number, Cost>();
  private layerNames = new Map<number, string>();
  private latest = 0;
  private recorderDropped = 0;
  private feedDropped = 0;
  private liveBytes = 0;
  private peakBytes = 0;
  /** Chunks taken in since the last window was made. */
  dirty = true;

  constructor(
    readonly session: SessionInfo,
    private readonly windowNs: number,
    private readonly maxSpans: number,
  ) {}

  add(c: Chunk): void {
    for (const [id, inputs, outputs] of c.sigs) this.sigs.set(id, [inputs, outputs]);
    c.spans = this.decodeSpans(c);
    let tEnd = 0;
    for (let i = 0; i < c.n; i++) if (c.t1[i] > tEnd) tEnd = c.t1[i];
    for (const s of c.spans) {
      if (s.end > tEnd) tEnd = s.end;
      if (s.kind === 'layer') this.layerNames.set(s.id, s.name);
    }
    for (let i = 0; i < c.memN; i++) {
      if (c.memT[i] > tEnd) tEnd = c.memT[i];
      const live = c.memLive[i];
      if (live > this.peakBytes) this.peakBytes = live;
    }
    if (c.memN > 0) this.liveBytes = c.memLive[c.memN - 1];
    // A time past now (a bad record) must not move the window off everything else.
    const now = Number(process.hrtime.bigint()) - this.session.originHrNs + 1e9;
    if (tEnd > now) tEnd = now;
    if (tEnd > this.latest) this.latest = tEnd;
    this.recorderDropped = c.recorderDropped;
    this.feedDropped = c.feedDropped;
    const spans = c.n + c.spans.length;
    this.chunks.push({ chunk: c, tEnd, spans, objects: null });
    this.retained += spans;
    this.received += spans;
    this.dirty = true;
    this.evict();
  }

  private decodeSpans(c: Chunk): WireSpan[] {
    const out: WireSpan[] = new Array(c.jsN);
    const a = c.js;
    for (let i = 0; i < c.jsN; i++) {
      const k = i * JS_FIELDS;
      const w: WireSpan = {
        id: a[k], parentId: a[k + 1] === 0 ? null : a[k + 1], start: a[k + 2], end: a[k + 3], thread: a[k + 4],
        kind: KIND_CODES[a[k + 5]] ?? 'user', name: c.strings[a[k + 6]] ?? '?',
      };
      if (a[k + 7] >= 0) w.attrs = JSON.parse(c.strings[a[k + 7]] ?? '{}');
      out[i] = w;
    }
    return out;
  }

  /** Drops chunks wholly older than the window (a second of slack), then the oldest beyond maxSpans. */
  private evict(): void {
    const cutoff = this.latest - this.windowNs - 1e9;
    let k = 0;
    while (k < this.chunks.length - 1 && (this.chunks[k].tEnd < cutoff || this.retained > this.maxSpans)) {
      this.retained -= this.chunks[k].spans;
      if (this.chunks[k].tEnd >= cutoff) this.evicted += this.chunks[k].spans;
      k++;
    }
    if (k > 0) {
      this.chunks.splice(0, k);
      // Layer spans older than what is kept name no primitive any more.
      const first = this.chunks[0]?.chunk;
      let minId = Infinity;
      if (first) for (let i = 0; i < first.n; i++) if (first.layer[i] > 0 && first.layer[i] < minId) minId = first.layer[i];
      if (this.layerNames.size > 100_000) for (const id of this.layerNames.keys()) if (id < minId) this.layerNames.delete(id);
    }
  }

  stats(windowSpans: number): WindowStats {
    return {
      spans: windowSpans, receivedSpans: this.received, retainedSpans: this.retained, recorderDropped: this.recorderDropped, feedDropped: this.feedDropped,
      evictedSpans: this.evicted, liveBytes: this.liveBytes, peakBytes: this.peakBytes, latest: this.latest,
    };
  }

  private cost(sig: number, cls: number, name: string, io: [TensorInfo[], TensorInfo[]]): Cost {
    const key = sig * 65536 + cls;
    let c = this.costs.get(key);
    if (!c) this.costs.set(key, (c = estimateCost(name, io[0], io[1])));
    return c;
  }

  /** The chunk's spans as trace spans (each window after the first reuses them: a window costs what is new). */
  private objects(st: Stored): Span[] {
    if (st.objects) return st.objects;
    const c = st.chunk;
    const classes = this.session.classes;
    const out: Span[] = new Array(c.n + c.spans.length);
    for (let i = 0; i < c.n; i++) {
      const cls = c.cls[i];
      const nameOf = classes[cls] ?? `class#${cls}`;
      const io = this.sigs.get(c.sig[i]) ?? [[], []];
      const cost = this.cost(c.sig[i], cls, nameOf, io);
      const layerId = c.layer[i];
      out[i] = {
        id: c.id[i], parentId: c.parent[i] === 0 ? null : c.parent[i], kind: 'primitive', name: nameOf, start: c.t0[i], end: Math.max(c.t0[i], c.t1[i]),
        thread: c.thread[i], device: c.flags[i] & PRIM_GPU ? 'gpu' : 'cpu', inputs: io[0], outputs: io[1], flops: cost.flops, bytes: cost.bytes,
        layerId: layerId === 0 ? null : layerId, layer: layerId === 0 ? null : this.layerNames.get(layerId) ?? null,
      };
    }
    c.spans.forEach((s, k) => {
      const o: Span = { id: s.id, parentId: s.parentId, kind: s.kind, name: s.name, start: s.start, end: s.end, thread: s.thread, device: 'cpu', inputs: [], outputs: [], flops: null, bytes: null };
      if (s.attrs) o.attrs = s.attrs;
      out[c.n + k] = o;
    });
    return (st.objects = out);
  }

  /** The last `windowNs` as a Trace (with token spans and generation stats), and its rate series. */
  window(name: string, extraMeta: Record<string, unknown> = {}): { trace: Trace; rates: RateSeries } {
    const from = this.latest - this.windowNs;
    const spans: Span[] = [];
    const js: WireSpan[] = [];
    const memory: MemoryEvent[] = [];
    let memBefore: MemoryEvent | null = null;
    for (const st of this.chunks) {
      const c = st.chunk;
      if (st.tEnd < from) {
        if (c.memN > 0) memBefore = { t: from, delta: 0, live: c.memLive[c.memN - 1] };
        continue;
      }
      for (const o of this.objects(st)) if (o.end >= from) spans.push(o);
      for (const s of c.spans) if (s.end >= from) js.push(s);
      for (let i = 0; i < c.memN; i++) {
        const t = c.memT[i];
        if (t < from) { memBefore = { t: from, delta: 0, live: c.memLive[i] }; continue; }
        memory.push({ t, delta: 0, live: c.memLive[i] });
      }
    }
    if (memBefore) memory.unshift(memBefore);
    for (let i = 1; i < memory.length; i++) memory[i].delta = memory[i].live - memory[i - 1].live;
    js.sort((a, b) => a.start - b.start);
    let nextId = 0;
    for (const s of spans) if (s.id >= nextId) nextId = s.id + 1;
    const tokens = tokenBoundaries(js);
    const rates = rateSeries(js, tokens, from, this.latest);
    const meta: Trace['meta'] = {
      timing: this.session.timing,
      createdAt: new Date().toISOString(),
      origin: this.session.origin,
      host: this.session.host,
      versions: { mlx: this.session.versions.mlx ?? 'unknown', node: process.version, mlxTrace: this.session.versions.mlxTrace ?? '' },
      peaks: this.session.peaks,
      ...(this.session.fallbackReason ? { fallbackReason: this.session.fallbackReason } : {}),
      live: true,
      windowSeconds: this.windowNs / 1e9,
      ...extraMeta,
    };
    if (tokens.length >= 2) {
      for (let k = 1; k < tokens.length; k++) {
        spans.push({ id: nextId++, parentId: null, kind: 'user', name: `token ${k}`, start: tokens[k - 1], end: tokens[k], thread: this.session.jsThread, device: 'cpu',
          inputs: [], outputs: [], flops: null, bytes: null, attrs: { phase: 'decode', token: k } });
      }
      meta.generation = generationStats(rates.latencies);
    }
    // Primitives come in time order per thread, JS-side spans sorted: the packer's per-lane sort is cheap on that.
    this.dirty = false;
    const trace: Trace = { schema: TRACE_SCHEMA, name, meta, spans, memory, dropped: this.recorderDropped + this.feedDropped };
    return { trace, rates };
  }
}

/** End times of the item() sync points that follow an asyncEval: one per decoded token. */
function tokenBoundaries(js: WireSpan[]): number[] {
  const out: number[] = [];
  let launched = false;
  for (const s of js) {
    if (s.kind === 'eval' && s.name === 'asyncEval') launched = true;
    else if (s.kind === 'sync' && s.name === 'item' && launched) {
      out.push(s.end);
      launched = false;
    }
  }
  return out;
}

function rateSeries(js: WireSpan[], tokens: number[], from: number, to: number): RateSeries {
  const bucketNs = 250e6;
  const n = Math.max(1, Math.ceil((to - from) / bucketNs));
  const counts = new Array<number>(n).fill(0);
  const what = tokens.length >= 2 ? 'tokens' : 'evals';
  const times = what === 'tokens' ? tokens : js.filter((s) => s.kind === 'eval').map((s) => s.end);
  for (const t of times) {
    const b = Math.floor((t - from) / bucketNs);
    if (b >= 0 && b < n) counts[b]++;
  }
  const latencies: number[] = [];
  if (what === 'tokens') for (let k = 1; k < tokens.length; k++) latencies.push(tokens[k] - tokens[k - 1]);
  return { what, bucketNs, values: counts.map((c) => c / (bucketNs / 1e9)), latencies };
}

function generationStats(lat: number[]): Record<string, unknown> {
  const sorted = [...lat].sort((a, b) => a - b);
  const total = lat.reduce((a, b) => a + b, 0);
  const ms = (ns: number) => +(ns / 1e6).toFixed(4);
  return {
    promptTokens: null,
    generatedTokens: lat.length + 1,
    timeToFirstTokenMs: null,
    prefillTokensPerSec: null,
    decodeTokensPerSec: total > 0 ? +(lat.length / (total / 1e9)).toFixed(2) : 0,
    tokenLatencyMs: {
      p50: ms(percentileSorted(sorted, 0.5)), p95: ms(percentileSorted(sorted, 0.95)), mean: ms(total / Math.max(1, lat.length)),
      min: ms(sorted[0] ?? NaN), max: ms(sorted[sorted.length - 1] ?? NaN),
    },
  };
}
