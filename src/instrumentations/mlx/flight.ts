/**
 * Flight-recorder mode: the recording is cut into segments (a quarter of the limit each) kept in a
 * ring that holds the last `seconds` or `spans` (the tighter of the two when both are given) and at
 * most one segment more, so memory stays bounded however long the app runs; `dump()` joins the ring
 * and the open segment into one trace. A segment is also capped by maxSpans, as any window is.
 * Segments are plain taken traces whose columns are only read when dumped.
 */
import type { MemoryEvent, Span, Trace } from '../../core/model/trace';

export interface FlightRecorderOptions {
  /** Keep at least the last this many seconds. */
  seconds?: number;
  /** Keep at least the last this many spans (JS-side and primitives). */
  spans?: number;
}

/** What the ring asks of the instrumentation. */
export interface FlightHost {
  now(): number;
  /** Spans held in the open segment. */
  held(): number;
  take(name: string): Trace;
}

/** Segments per limit: the ring overshoots the limit by at most one segment. */
const SEGMENTS = 4;

export function checkFlight(o: FlightRecorderOptions): { seconds: number; spans: number } {
  const seconds = o.seconds ?? Infinity;
  const spans = o.spans ?? Infinity;
  if (!(seconds > 0) || !(spans > 0) || (seconds === Infinity && spans === Infinity)) {
    throw new TypeError(`flightRecorder needs seconds > 0 or spans > 0 (got ${JSON.stringify(o)})`);
  }
  return { seconds, spans };
}

export class FlightRing {
  private readonly segNs: number;
  private readonly segSpans: number;
  private readonly limits: { seconds: number; spans: number };
  private ring: Array<{ trace: Trace; spans: number; endNs: number }> = [];
  private openedAt: number;
  /** Spans recorded and then let go by the ring. */
  evicted = 0;

  constructor(opts: FlightRecorderOptions, private readonly host: FlightHost) {
    this.limits = checkFlight(opts);
    this.segNs = (this.limits.seconds * 1e9) / SEGMENTS;
    this.segSpans = Math.max(1, Math.floor(this.limits.spans / SEGMENTS));
    this.openedAt = host.now();
  }

  /** After each eval or sync point: closes the open segment once it is a quarter of the limit. */
  tick(): void {
    const now = this.host.now();
    if (now - this.openedAt < this.segNs && this.host.held() < this.segSpans) return;
    const held = this.host.held();
    this.ring.push({ trace: this.host.take('flight segment'), spans: held, endNs: now });
    this.openedAt = now;
    this.trim(now);
  }

  private trim(now: number): void {
    const oldest = now - this.limits.seconds * 1e9;
    let total = this.ring.reduce((a, s) => a + s.spans, 0);
    // The tighter limit wins: a segment goes once what stays covers the seconds, or the spans.
    while (this.ring.length > 0) {
      const first = this.ring[0];
      const byTime = this.limits.seconds !== Infinity && first.endNs < oldest;
      const bySpans = this.limits.spans !== Infinity && total - first.spans >= this.limits.spans;
      if (!byTime && !bySpans) break;
      this.ring.shift();
      total -= first.spans;
      this.evicted += first.spans;
    }
  }

  /** The ring and the open segment as one trace (the ring goes on recording). */
  dump(name: string): Trace {
    const now = this.host.now();
    const segments = [...this.ring.map((s) => s.trace), this.host.take(name)];
    this.ring = [];
    this.openedAt = now;
    const joined = join(segments, name);
    joined.meta.flightRecorder = { seconds: finite(this.limits.seconds), spans: finite(this.limits.spans), evicted: this.evicted };
    return joined;
  }
}

const finite = (v: number) => (v === Infinity ? null : v);

/** Segments of one process, in order, as one trace on the first one's time origin. */
function join(segments: Trace[], name: string): Trace {
  const last = segments[segments.length - 1];
  const first = segments[0];
  const base = first.meta.origin.monotonicNs;
  const spans: Span[] = [];
  const memory: MemoryEvent[] = [];
  let dropped = 0;
  for (const seg of segments) {
    const shift = seg.meta.origin.monotonicNs - base;
    for (const s of seg.spans) spans.push(shift ? { ...s, start: s.start + shift, end: s.end + shift } : s);
    for (const m of seg.memory) memory.push(shift ? { ...m, t: m.t + shift } : m);
    dropped += seg.dropped;
  }
  // Parents and layers the ring has let go of: the span stays, its link to them does not.
  const ids = new Set(spans.map((s) => s.id));
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    const lostParent = s.parentId !== null && !ids.has(s.parentId);
    const lostLayer = s.layerId != null && !ids.has(s.layerId);
    if (lostParent || lostLayer) spans[i] = { ...s, ...(lostParent ? { parentId: null } : {}), ...(lostLayer ? { layerId: null } : {}) };
  }
  return { ...last, name, meta: { ...last.meta, origin: first.meta.origin }, spans, memory, dropped };
}
