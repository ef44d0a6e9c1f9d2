/**
 * The app-thread side of the live view: a drain listener that copies each drain's rows into a chunk
 * of columns and posts the chunk to the server's worker about every flushMs. A drain's columns are
 * copied whole and its signature numbers read once; times, signatures, costs, layer names, windows
 * and HTML are the worker's work.
 * The drains come from the app's own evals and sync points, so a synchronous loop that never yields
 * still feeds the page; a timer (unref'd) posts what an app that went idle left in the chunk. The
 * listener moves with the recorder when the instrumentation is re-enabled.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort, type Worker } from 'node:worker_threads';
import type { DrainedRows, LiveSpan, Recorder } from '../../core/record/recorder';
import { KIND_CODES } from '../html/format';
import { ACK_CHUNKS, CHUNK_COLUMNS, JS_FIELDS, type Chunk, type ChunkColumns } from './protocol';

/** Chunks posted but not yet taken in by the worker, beyond which new chunks are dropped and counted. */
const MAX_IN_FLIGHT = 256;
/** Open JS-side spans watched for their end; beyond this the oldest are forgotten. */
const MAX_OPEN = 4096;
/** Column sets handed back by the worker kept for the next chunks. */
const MAX_SPARE = 4;

export class LiveFeed {
  private chunk: Chunk;
  private capacity = 4096;
  private posted = 0;
  private lastFlush = 0;
  private open: LiveSpan[] = [];
  private sentSig = new Uint8Array(1024);
  private feedDropped = 0;
  private recorderDropped = 0;
  /** The chunk's strings (span names, attrs as JSON) by number, each sent once per chunk (names such as 'token 7' would grow a session-wide table without end). */
  private strings = new Map<string, number>();
  private readonly acks: Int32Array;
  /** The worker hands each chunk's columns back through this port once it has copied them; the next chunks reuse them. */
  private readonly returns: MessagePort;
  private spare: ChunkColumns[] = [];
  private readonly off: () => void;
  private readonly timer: NodeJS.Timeout;

  constructor(
    rec: Recorder,
    private readonly worker: Worker,
    acks: SharedArrayBuffer,
    private readonly flushMs = 250,
  ) {
    this.acks = new Int32Array(acks);
    this.chunk = newChunk(this.capacity);
    const { port1, port2 } = new MessageChannel();
    this.returns = port1;
    this.returns.unref();
    worker.postMessage({ type: 'returns', port: port2 }, [port2]);
    this.off = rec.onDrain((rows) => this.take(rows));
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  /**
   * Copies what a drain added: each column whole (a copy of memory, no per-row work), then a pass over
   * the signature numbers for the ones not sent yet. Times stay on the recorder's clock; the worker
   * takes the origin off (store.add), so nothing here runs per row but that pass.
   */
  private take(rows: DrainedRows): void {
    const p = rows.prims;
    const from = rows.primFrom, to = p.length;
    if (to > from) {
      let c = this.chunk;
      if (c.n + to - from > this.capacity) c = this.grow(c.n + to - from);
      const k = c.n;
      c.id.set(p.id.subarray(from, to), k);
      c.parent.set(p.parent.subarray(from, to), k);
      c.t0.set(p.t0.subarray(from, to), k);
      c.t1.set(p.t1.subarray(from, to), k);
      c.layer.set(p.layer.subarray(from, to), k);
      c.thread.set(p.thread.subarray(from, to), k);
      c.cls.set(p.cls.subarray(from, to), k);
      c.flags.set(p.flags.subarray(from, to), k);
      c.sig.set(p.sigId.subarray(from, to), k);
      c.n = k + to - from;
      const sigs = p.sigId;
      for (let i = from; i < to; i++) {
        const sig = sigs[i];
        if (sig >= this.sentSig.length || this.sentSig[sig] === 0) this.newSig(sig, p.sigAt(i));
      }
    }
    const m = rows.memory;
    const mFrom = rows.memFrom, mTo = m.length;
    if (mTo > mFrom) {
      let c = this.chunk;
      if (c.memN + mTo - mFrom > c.memT.length) c = this.growMem(c.memN + mTo - mFrom);
      c.memT.set(m.t.subarray(mFrom, mTo), c.memN);
      c.memLive.set(m.live.subarray(mFrom, mTo), c.memN);
      c.memN += mTo - mFrom;
    }
    if (this.open.length > 0) this.closeEnded();
    for (let i = rows.spanFrom; i < rows.spans.length; i++) {
      const s = rows.spans[i];
      if (s.end > 0) this.pushSpan(s);
      else if (this.open.push(s) > MAX_OPEN) this.open.shift();
    }
    this.recorderDropped = rows.dropped;
    const now = performance.now();
    if (now - this.lastFlush >= this.flushMs || this.chunk.n >= 1 << 16) this.flush(now);
  }

  private closeEnded(): void {
    let w = 0;
    for (const s of this.open) {
      if (s.end > 0) this.pushSpan(s);
      else this.open[w++] = s;
    }
    this.open.length = w;
  }

  private str(x: string): number {
    let k = this.strings.get(x);
    if (k === undefined) {
      this.strings.set(x, (k = this.strings.size));
      this.chunk.strings.push(x);
    }
    return k;
  }

  private pushSpan(s: LiveSpan): void {
    let c = this.chunk;
    if ((c.jsN + 1) * JS_FIELDS > c.js.length) {
      const js = new Float64Array(c.js.length * 2);
      js.set(c.js);
      c.js = js;
    }
    const a = c.js, k = c.jsN++ * JS_FIELDS;
    a[k] = s.id;
    a[k + 1] = s.parentId ?? 0;
    a[k + 2] = s.start;
    a[k + 3] = s.end;
    a[k + 4] = s.thread;
    a[k + 5] = KIND_CODES.indexOf(s.kind as (typeof KIND_CODES)[number]);
    a[k + 6] = this.str(s.name);
    a[k + 7] = s.attrs ? this.str(JSON.stringify(s.attrs)) : -1;
  }

  private newSig(sig: number, s: { inputs: Chunk['sigs'][0][1]; outputs: Chunk['sigs'][0][2] }): void {
    if (sig >= this.sentSig.length) {
      const grown = new Uint8Array(Math.max(sig + 1, this.sentSig.length * 2));
      grown.set(this.sentSig);
      this.sentSig = grown;
    }
    this.sentSig[sig] = 1;
    this.chunk.sigs.push([sig, s.inputs, s.outputs]);
  }

  /**
   * Posts what the chunk holds to the worker (or drops it, counted, when the worker is that far behind):
   * its columns whole, transferred, and the next chunk takes a set the worker handed back (read here
   * without the event loop: the app may be in a synchronous loop), so a flush neither copies nor allocates.
   */
  flush(now = performance.now()): void {
    this.lastFlush = now;
    if (this.open.length > 0) this.closeEnded();
    const c = this.chunk;
    if (c.n === 0 && c.memN === 0 && c.jsN === 0 && c.recorderDropped === this.recorderDropped) return;
    c.recorderDropped = this.recorderDropped;
    if (this.posted - Atomics.load(this.acks, ACK_CHUNKS) >= MAX_IN_FLIGHT) {
      // Signatures must still reach the worker: they stay for the next chunk.
      this.feedDropped += c.n + c.jsN;
      c.n = 0;
      c.memN = 0;
      c.jsN = 0;
      c.strings = [];
      this.strings.clear();
      return;
    }
    const out: Chunk = { ...c, spans: [], recorderDropped: this.recorderDropped, feedDropped: this.feedDropped };
    this.chunk = this.nextChunk();
    this.strings.clear();
    this.posted++;
    this.worker.postMessage({ type: 'chunk', chunk: out }, CHUNK_COLUMNS.map((k) => out[k].buffer as ArrayBuffer));
  }

  /** An empty chunk on columns the worker handed back (of the chunk's capacity), or new ones. */
  private nextChunk(): Chunk {
    for (let r = receiveMessageOnPort(this.returns); r; r = receiveMessageOnPort(this.returns)) {
      if (this.spare.length < MAX_SPARE) this.spare.push(r.message as ChunkColumns);
    }
    // Sets of a capacity the chunk has grown out of go (the capacity only grows).
    let cols = this.spare.pop();
    while (cols && cols.id.length !== this.capacity) cols = this.spare.pop();
    if (!cols) return newChunk(this.capacity);
    return { ...cols, n: 0, memN: 0, jsN: 0, strings: [], spans: [], sigs: [], recorderDropped: 0, feedDropped: 0 };
  }

  /** Stops listening; what the drains brought so far is posted. */
  stop(): void {
    this.flush();
    this.off();
    clearInterval(this.timer);
    this.returns.close();
  }

  private grow(n: number): Chunk {
    const old = this.chunk;
    this.capacity = 2 ** Math.ceil(Math.log2(n));
    const c = newChunk(this.capacity, old.memT.length);
    c.n = old.n;
    for (const k of ['id', 'parent', 't0', 't1', 'layer', 'thread', 'cls', 'flags', 'sig'] as const) (c[k] as Float64Array).set(old[k] as Float64Array);
    c.memN = old.memN;
    c.memT.set(old.memT);
    c.memLive.set(old.memLive);
    c.jsN = old.jsN;
    c.js = old.js;
    c.strings = old.strings;
    c.sigs = old.sigs;
    return (this.chunk = c);
  }

  private growMem(n: number): Chunk {
    const c = this.chunk;
    const size = 2 ** Math.ceil(Math.log2(n));
    const t = new Float64Array(size), l = new Float64Array(size);
    t.set(c.memT);
    l.set(c.memLive);
    c.memT = t;
    c.memLive = l;
    return c;
  }
}

function newChunk(n: number, mem = 1024): Chunk {
  return {
    n: 0, id: new Float64Array(n), parent: new Float64Array(n), t0: new Float64Array(n), t1: new Float64Array(n), layer: new Float64Array(n),
    thread: new Int32Array(n), cls: new Uint16Array(n), flags: new Uint8Array(n), sig: new Uint32Array(n),
    memN: 0, memT: new Float64Array(mem), memLive: new Float64Array(mem), jsN: 0, js: new Float64Array(256 * JS_FIELDS), strings: [], spans: [], sigs: [],
    recorderDropped: 0, feedDropped: 0,
  };
}
