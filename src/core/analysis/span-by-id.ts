/**
 * Spans by id, added as one pass over a trace meets them. Recorders number spans in the order they write them, and
 * a lookup mostly asks for a span met shortly before (a primitive's parent): while ids rise, the spans sit in two
 * arrays in id order, an addition is an append and a lookup a search from the end. The first id that does not rise
 * moves them into a Map.
 */
import type { Span } from '../model/trace';
import { Doubles } from './busy';

export class SpanById {
  private readonly ids = new Doubles(1024);
  private readonly spans: Span[] = [];
  private map: Map<number, Span> | null = null;
  /** Set when an id was added twice: `get` answers with the span added last. */
  repeated = false;

  add(s: Span): void {
    const id = s.id;
    if (this.map === null) {
      const n = this.ids.n;
      if (typeof id === 'number' && (n === 0 || id > this.ids.a[n - 1])) {
        this.ids.push(id);
        this.spans.push(s);
        return;
      }
      this.map = new Map();
      for (let i = 0; i < n; i++) this.map.set(this.ids.a[i], this.spans[i]);
    }
    const size = this.map.size;
    this.map.set(id, s);
    if (this.map.size === size) this.repeated = true;
  }

  get(id: number): Span | undefined {
    if (this.map !== null) return this.map.get(id);
    if (typeof id !== 'number') return undefined;
    const a = this.ids.a;
    let hi = this.ids.n - 1;
    if (hi < 0 || !(id <= a[hi])) return undefined;
    // Gallop back from the end to a range a[lo] <= id <= a[hi], then bisect it.
    let lo = hi;
    for (let step = 1; lo > 0 && a[lo] > id; step *= 2) {
      hi = lo;
      lo = Math.max(0, lo - step);
    }
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return a[lo] === id ? this.spans[lo] : undefined;
  }
}
