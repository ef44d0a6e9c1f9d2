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
import { JS_FIELDS, type Chunk, type RateSeries, type SessionInfo, type WindowStats, type WireSpan } from './protocol';
import type { PackedChunk } from './batch';

export interface Stored {
  chunk: Chunk;
  /** Order of arrival: a page that has the chunks up to seq k is sent those after k. */
  seq: number;
  /** Ends of the decoded tokens found in this chunk (item() after asyncEval), and their token spans (from the token before). */
  tokenEnds: number[];
  tokens: Span[];
  /** The chunk's spans in the session's tables (made by the first batch that sends it). */
  packed: PackedChunk | null;
  /** Latest end time in the chunk (ns since origin). */
  tEnd: number;
  spans: number;
  /** The chunk's primitives and JS-side spans as trace spans, made by the first window that needs them. */
  objects: Span[] | null;
}

const PRIM_GPU = 1;

/** Ids of the token spans the store makes (above any id a recorder gives). */
const TOKEN_ID_BASE = 2 ** 48;

/** The arrays of every JS-side span (it has none): one array, so the packer's signature cache finds it by identity. */
const NO_TENSORS: TensorInfo[] = [];

export class LiveStore {
  chunks: Stored[] = [];
  /** The seq of the newest chunk (0: none yet). */
  seq = 0;
  /** Token detection across chunks: an asyncEval seen since the last token, the last token's end, tokens so far. */
  private launched = false;
  private lastTokenEnd = -1;
  private tokenCount = 0;
  private retained = 0;
  private received = 0;
  private evicted = 0;
  /** The newest end among chunks let go over the span cap: the window starts after it. */
  private floor = -Infinity;
  private sigs = new Map<number, [TensorInfo[], TensorInfo[]]>();
  private costs = new Map<number, Cost>();
  private layerNames = new Map<number, string>();
  private latest = 0;
  private recorderDropped = 0;
  private feedDropped = 0;
  private liveBytes = 0;
  private peakBytes = 0;

  constructor(
    readonly session: SessionInfo,
    readonly windowNs: number,
    private readonly maxSpans: number,
  ) {}

  add(c: Chunk): void {
    for (const [id, inputs, outputs] of c.sigs) this.sigs.set(id, [inputs, outputs]);
    // The feed sends the recorder's times: from here on they count from the session's origin.
    const o = this.session.origin.monotonicNs;
    let tEnd = 0;
    for (let i = 0; i < c.n; i++) {
      c.t0[i] -= o;
      if ((c.t1[i] -= o) > tEnd) tEnd = c.t1[i];
    }
    for (let i = 0; i < c.memN; i++) c.memT[i] -= o;
    for (let i = 0; i < c.jsN; i++) {
      c.js[i * JS_FIELDS + 2] -= o;
      c.js[i * JS_FIELDS + 3] -= o;
    }
    c.spans = this.decodeSpans(c);
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
    const { tokenEnds, tokens } = this.findTokens(c.spans);
    this.chunks.push({ chunk: c, seq: ++this.seq, tokenEnds, tokens, packed: null, tEnd, spans, objects: null });
    this.retained += spans;
    this.received += spans;
    this.evict();
  }

  /** Decoded tokens among a chunk's JS-side spans: an item() sync point after an asyncEval ends one. */
  private findTokens(js: WireSpan[]): { tokenEnds: number[]; tokens: Span[] } {
    const tokenEnds: number[] = [];
    const tokens: Span[] = [];
    const sorted = js.length > 1 ? [...js].sort((a, b) => a.start - b.start) : js;
    for (const s of sorted) {
      if (s.kind === 'eval' && s.name === 'asyncEval') this.launched = true;
      else if (s.kind === 'sync' && s.name === 'item' && this.launched) {
        this.launched = false;
        tokenEnds.push(s.end);
        if (this.lastTokenEnd >= 0 && s.end > this.lastTokenEnd) {
          const k = ++this.tokenCount;
          tokens.push({ id: TOKEN_ID_BASE + k, parentId: null, kind: 'user', name: 'token', start: this.lastTokenEnd, end: s.end, thread: this.session.jsThread,
            device: 'cpu', inputs: NO_TENSORS, outputs: NO_TENSORS, flops: null, bytes: null, attrs: { phase: 'decode', token: k } });
        }
        this.lastTokenEnd = s.end;
      }
    }
    return { tokenEnds, tokens };
  }

  /** Tokens/s (or evals/s) in buckets over the last windowNs, and the latencies of the tokens in it. */
  rates(): RateSeries {
    const from = this.latest - this.windowNs;
    const tokens: number[] = [];
    const evals: number[] = [];
    for (const st of this.chunks) {
      if (st.tEnd < from) continue;
      for (const t of st.tokenEnds) if (t >= from) tokens.push(t);
      for (const s of st.chunk.spans) if (s.kind === 'eval' && s.end >= from) evals.push(s.end);
    }
    return rateSeries(tokens, evals, from, this.latest);
  }

  /** The window's start: spans that ended before it are out of view. */
  get from(): number {
    return Math.max(this.latest - this.windowNs, this.floor);
  }

  /** The newest time seen (ns since the origin). */
  get to(): number {
    return this.latest;
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
      if (this.chunks[k].tEnd >= cutoff) {
        this.evicted += this.chunks[k].spans;
        if (this.chunks[k].tEnd > this.floor) this.floor = this.chunks[k].tEnd;
      }
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

  /** How far back (ns) the newest chunks holding at most `spans` spans reach, within the window. */
  recentNs(spans: number): number {
    let k = this.chunks.length - 1, total = 0;
    while (k >= 0 && total + this.chunks[k].spans <= spans) total += this.chunks[k--].spans;
    return k >= 0 ? Math.min(this.windowNs, this.latest - this.chunks[k].tEnd) : this.windowNs;
  }

  /** Spans of the chunks that reach into the window (a chunk at its start counts whole). */
  windowSpans(): number {
    const from = this.from;
    let n = 0;
    for (const st of this.chunks) if (st.tEnd >= from) n += st.spans + st.tokens.length;
    return n;
  }

  stats(windowSpans: number): WindowStats {
    return {
      spans: windowSpans, receivedSpans: this.received, retainedSpans: this.retained, recorderDropped: this.recorderDropped, feedDropped: this.feedDropped,
      evictedSpans: this.evicted, from: this.from, spanCap: this.maxSpans, liveBytes: this.liveBytes, peakBytes: this.peakBytes, latest: this.latest,
    };
  }

  /** What a primitive of this signature and class shares with the others: its name, arrays and cost. */
  primitive(sig: number, cls: number): Pick<Span, 'name' | 'inputs' | 'outputs' | 'flops' | 'bytes'> {
    const name = this.session.classes[cls] ?? `class#${cls}`;
    const io = this.sigs.get(sig) ?? [[], []];
    const cost = this.cost(sig, cls, name, io);
    return { name, inputs: io[0], outputs: io[1], flops: cost.flops, bytes: cost.bytes };
  }

  /** The path of the layer span with this id (null: none, or no longer known). */
  layerName(id: number): string | null {
    return id === 0 ? null : this.layerNames.get(id) ?? null;
  }

  private cost(sig: number, cls: number, name: string, io: [TensorInfo[], TensorInfo[]]): Cost {
    const key = sig * 65536 + cls;
    let c = this.costs.get(key);
    if (!c) this.costs.set(key, (c = estimateCost(name, io[0], io[1])));
    return c;
  }

  /** The chunk's spans as trace spans (each window after the first reuses them: a window costs what is new). */
  objects(st: Stored): Span[];
  objects(st: Stored, jsOnly: true): Span[];
  objects(st: Stored, jsOnly = false): Span[] {
    if (st.objects) return jsOnly ? st.objects.slice(st.chunk.n) : st.objects;
    const c = st.chunk;
    if (jsOnly) return c.spans.map((s) => this.jsObject(s));
    const out: Span[] = new Array(c.n + c.spans.length);
    for (let i = 0; i < c.n; i++) {
      const p = this.primitive(c.sig[i], c.cls[i]);
      const layerId = c.layer[i];
      out[i] = {
        id: c.id[i], parentId: c.parent[i] === 0 ? null : c.parent[i], kind: 'primitive', name: p.name, start: c.t0[i], end: Math.max(c.t0[i], c.t1[i]),
        thread: c.thread[i], device: c.flags[i] & PRIM_GPU ? 'gpu' : 'cpu', inputs: p.inputs, outputs: p.outputs, flops: p.flops, bytes: p.bytes,
        layerId: layerId === 0 ? null : layerId, layer: this.layerName(layerId),
      };
    }
    c.spans.forEach((s, k) => { out[c.n + k] = this.jsObject(s); });
    return (st.objects = out);
  }

  private jsObject(s: WireSpan): Span {
    const o: Span = { id: s.id, parentId: s.parentId, kind: s.kind, name: s.name, start: s.start, end: s.end, thread: s.thread, device: 'cpu', inputs: NO_TENSORS, outputs: NO_TENSORS, flops: null, bytes: null };
    if (s.attrs) o.attrs = s.attrs;
    return o;
  }

  /** The trace meta of every window: the session's facts. */
  sessionMeta(): Trace['meta'] {
    return {
      timing: this.session.timing,
      createdAt: new Date().toISOString(),
      origin: this.session.origin,
      host: this.session.host,
      versions: { mlx: this.session.versions.mlx ?? 'unknown', node: process.version, mlxTrace: this.session.versions.mlxTrace ?? '' },
      peaks: this.session.peaks,
      ...(this.session.fallbackReason ? { fallbackReason: this.session.fallbackReason } : {}),
      live: true,
      windowSeconds: this.windowNs / 1e9,
    };
  }

  /** The last `spanNs` (the window by default) as a Trace (with token spans and generation stats), and its rate series. */
  window(name: string, extraMeta: Record<string, unknown> = {}, spanNs = this.windowNs): { trace: Trace; rates: RateSeries } {
    // What the page shows: nothing from before the window's start (nor before a stretch let go over the cap).
    const from = Math.max(this.latest - spanNs, this.floor);
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
    const rates = rateSeries(tokens, js.filter((s) => s.kind === 'eval').map((s) => s.end), from, this.latest);
    const meta: Trace['meta'] = { ...this.sessionMeta(), ...extraMeta };
    if (tokens.length >= 2) {
      for (let k = 1; k < tokens.length; k++) {
        spans.push({ id: nextId++, parentId: null, kind: 'user', name: `token ${k}`, start: tokens[k - 1], end: tokens[k], thread: this.session.jsThread, device: 'cpu',
          inputs: [], outputs: [], flops: null, bytes: null, attrs: { phase: 'decode', token: k } });
      }
      meta.generation = generationStats(rates.latencies);
    }
    // Primitives come in time order per thread, JS-side spans sorted: the packer's per-lane sort is cheap on that.
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

function rateSeries(tokens: number[], evalEnds: number[], from: number, to: number): RateSeries {
  const bucketNs = 250e6;
  const n = Math.max(1, Math.ceil((to - from) / bucketNs));
  const counts = new Array<number>(n).fill(0);
  const what = tokens.length >= 2 ? 'tokens' : 'evals';
  const times = what === 'tokens' ? tokens : evalEnds;
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
