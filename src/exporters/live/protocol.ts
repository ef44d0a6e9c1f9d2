/**
 * Messages between the app's thread (the feed) and the live server's worker thread. The feed copies
 * what each drain added into a chunk of columns and posts it, its buffers transferred, about every
 * flushMs; the worker keeps the last seconds of chunks, serves the page and acknowledges each chunk
 * through a shared counter (the app's thread may be in a synchronous loop and read no message).
 */
import type { MessagePort } from 'node:worker_threads';
import type { HostInfo, Peaks, Span, TensorInfo } from '../../core/model/trace';
import type { Head, HeadFinding } from '../html/format';

export interface LiveOptions {
  /** Name shown on the page and in saved files. @default the script's file name */
  name?: string;
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number;
  /** Address to listen on. Anything but 127.0.0.1 requires a random token in every URL. @default '127.0.0.1' */
  host?: string;
  /** Seconds of the timeline the page shows and the saves hold. @default 10 */
  windowSeconds?: number;
  /** How often the page gets a new window, in ms. @default 1000 */
  refreshMs?: number;
  /** Bytes a client may have waiting before its windows are skipped (and counted). @default 8 MiB */
  clientQueueBytes?: number;
  /**
   * Spans the server keeps at most (the oldest go first, counted as evicted): a page that connects gets the
   * whole window in one batch, and the server must answer it, and the app's exit, well within a second. @default 200_000
   */
  maxSpans?: number;
  /** How often the advisor looks at the window, in ms. @default 5000 */
  adviceMs?: number;
  /**
   * Primitives a page holds at most: the newest of the window (its op and layer tables still count all of them).
   * The app may make a few hundred thousand a second, and a page laying all of them out every refresh takes a good
   * part of a core on the app's machine. @default 20_000
   */
  pagePrimitives?: number;
}

export const LIVE_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  windowSeconds: 10,
  refreshMs: 1000,
  clientQueueBytes: 8 * 2 ** 20,
  maxSpans: 200_000,
  adviceMs: 5000,
  pagePrimitives: 20_000,
} as const;

export type ResolvedLiveOptions = { -readonly [K in keyof typeof LIVE_DEFAULTS]: (typeof LIVE_DEFAULTS)[K] extends string ? string : number };

/** A JS-side span (eval, layer, sync point, user region) as the worker decodes it: a trace Span without device, arrays and costs. */
export type WireSpan = Pick<Span, 'id' | 'parentId' | 'kind' | 'name' | 'start' | 'end' | 'thread' | 'attrs'>;

/**
 * Primitives, memory events and JS-side spans of one flush, as columns. Times are the recorder's (the
 * feed copies columns whole); the worker takes the session's origin off on arrival (LiveStore.add).
 */
export interface Chunk {
  n: number;
  id: Float64Array;
  parent: Float64Array;
  t0: Float64Array;
  t1: Float64Array;
  /** The layer span id the primitive was built in (0: none); the worker names it from the layer spans. */
  layer: Float64Array;
  thread: Int32Array;
  cls: Uint16Array;
  flags: Uint8Array;
  sig: Uint32Array;
  memN: number;
  memT: Float64Array;
  memLive: Float64Array;
  /**
   * JS-side spans that ended, JS_FIELDS numbers each: id, parent id (0: none), start, end, thread, kind
   * (KIND_CODES index), name and attrs as numbers of the chunk's strings (attrs as JSON, -1: none).
   * Numbers, not objects: cloning objects into the worker is what would cost the app.
   */
  jsN: number;
  js: Float64Array;
  /** The strings `js` refers to. */
  strings: string[];
  /** The worker's decoding of `js` (made on arrival). */
  spans: WireSpan[];
  /** Signatures seen for the first time: number -> the arrays of a call. */
  sigs: [number, TensorInfo[], TensorInfo[]][];
  /** Spans the recorder dropped so far, and chunks the feed dropped because the worker was behind. */
  recorderDropped: number;
  feedDropped: number;
}

/** A chunk's columns (whole: a chunk's counts say how much of each is used), as the worker hands them back. */
export type ChunkColumns = Pick<Chunk, 'id' | 'parent' | 't0' | 't1' | 'layer' | 'thread' | 'cls' | 'flags' | 'sig' | 'memT' | 'memLive' | 'js'>;

export const CHUNK_COLUMNS = ['id', 'parent', 't0', 't1', 'layer', 'thread', 'cls', 'flags', 'sig', 'memT', 'memLive', 'js'] as const;

export interface SessionInfo {
  name: string;
  timing: 'native' | 'js';
  fallbackReason: string;
  origin: { monotonicNs: number; epochNs: string };
  /** process.hrtime at the origin, so the worker knows how far the app's time can have gone. */
  originHrNs: number;
  classes: string[];
  peaks: Peaks;
  host: HostInfo;
  versions: Record<string, string>;
  jsThread: number;
  /** What the app's recording keeps, as a line for the page ('' when it keeps everything). */
  recording: string;
}

export type ToWorker =
  | { type: 'start'; options: ResolvedLiveOptions; session: SessionInfo; token: string; acks: SharedArrayBuffer; reply: MessagePort }
  | { type: 'chunk'; chunk: Chunk }
  /** The port the worker hands each chunk's columns back through, once it has copied what it keeps of them. */
  | { type: 'returns'; port: MessagePort }
  | { type: 'end' }
  | { type: 'close' };

export type FromWorker = { type: 'listening'; url: string } | { type: 'error'; message: string } | { type: 'ended' } | { type: 'closed' };

/** Slots of the shared Int32Array: chunks the worker has taken in; 1 once the end went to every client; 1 listening, -1 failed. */
export const JS_FIELDS = 8;

export const ACK_CHUNKS = 0;
export const ACK_ENDED = 1;
export const ACK_READY = 2;
export const ACK_SLOTS = 3;

/** Rate series of a window: events per second in buckets of bucketNs, oldest first. */
export interface RateSeries {
  what: 'tokens' | 'evals';
  bucketNs: number;
  values: number[];
  /** Per-token latency (ns) of the tokens in the window, in order (empty for evals). */
  latencies: number[];
}

/** The server's counters, sent with every batch (and, per client, skipped windows and clients). */
export interface WindowStats {
  /** Spans the window holds. */
  spans: number;
  /** Spans taken in since the server started. */
  receivedSpans: number;
  retainedSpans: number;
  recorderDropped: number;
  feedDropped: number;
  evictedSpans: number;
  /** The window's start (ns since the origin): windowSeconds before `latest`, later when the span cap let older spans go. */
  from: number;
  /** Spans the server keeps at most (LiveOptions.maxSpans). */
  spanCap: number;
  liveBytes: number;
  peakBytes: number;
  /** Newest time seen (ns since the origin). */
  latest: number;
  skipped?: number;
  clients?: number;
}

/**
 * Entries appended to the session's tables (strings, signatures, lanes, layer paths: the dashboard's
 * head tables, numbered for the whole session) since the client's previous batch; all of them in a reset.
 */
export interface TableDelta {
  strings: string[];
  /** New signatures as columns: kind code, name, category, shapes and dtype (string ids), FLOPs and bytes (null: unknown). */
  sigs: { kind: number[]; name: number[]; cat: number[]; shapes: number[]; dtype: number[]; flops: (number | null)[]; bytes: (number | null)[] };
  lanes: { device: string; thread: number }[];
  /** Layer paths as string ids; a span's layer is 1 + its index here (0: none). */
  layers: number[];
}

/** Integer types a wire column may take (signed ones for differences), and f64. */
export type WireType = 'u8' | 'u16' | 'u32' | 'i8' | 'i16' | 'i32' | 'f64';

/**
 * A numeric column of a batch (./columns.ts): `data` is base64 of little-endian `type` values; value i is
 * base plus stored value i, or with `delta` value i - 1 plus stored value i (value -1 being the base).
 * `x` lists, as index and stored value pairs, the values the type does not hold (their slot in `data` is 0).
 */
export interface WireColumn {
  type: WireType;
  base: number;
  delta: boolean;
  data: string;
  x: number[];
}

/**
 * One SSE 'batch': the spans and memory points that arrived since the client's previous batch (all the
 * window holds when `reset`), as columns, and what the page shows beside them.
 * The page appends them to its store and lets go of spans that ended before `from`.
 */
export interface BatchMessage {
  /** The page drops what it holds and starts from this batch (first batch, or after skipped ones). */
  reset: boolean;
  /** With reset: the head's fixed parts (name, meta, kinds, categories). */
  session: Pick<Head, 'name' | 'meta' | 'kinds' | 'categories'> | null;
  from: number;
  to: number;
  tables: TableDelta;
  /** Spans: id, start and end (ns), signature, layer (1 + its index, 0: none) and lane numbers. */
  n: number;
  cols: { id: WireColumn; start: WireColumn; end: WireColumn; sig: WireColumn; layer: WireColumn; lane: WireColumn };
  /**
   * Memory points: time (ns) and live bytes, each time bucket of the window (MEMORY_BUCKETS of it) reduced to
   * its lowest, highest and last point, in time order (the peak stays exact).
   */
  memN: number;
  mem: { t: WireColumn; live: WireColumn };
  /** Memory events the window holds before that reduction. */
  memSource: number;
  /**
   * The page has every primitive of the window that ended at `cut` or later, and none before (it drops those):
   * at most LiveOptions.pagePrimitives of them. `primitives` is how many the window holds, and `groups` sums all of them.
   */
  cut: number;
  primitives: number;
  groups: PrimitiveGroups;
  /** The window's busy time (evals, asyncEval work, sync points) and the primitive time inside it, in ns. */
  busy: { ns: number; coveredNs: number };
  rates: RateSeries;
  stats: WindowStats;
  /** The advisor's findings when they changed (always with reset): as shown, with their evidence span ids. */
  advice: { findings: HeadFinding[]; ids: number[][] } | null;
  dropped: number;
}

/** The window's primitives summed by signature, layer and lane numbers (the session's tables): calls and total ns. */
export interface PrimitiveGroups {
  sig: number[];
  layer: number[];
  lane: number[];
  calls: number[];
  total: number[];
}

/** Time buckets of a window that its memory curve keeps points of (three at most each, as the dashboard keeps). */
export const MEMORY_BUCKETS = 40_000;
