/**
 * Spans a view points at: the findings' evidence (by span id) and generation token spans (by their phase attrs).
 * The scan notes their compact indexes; once the rows are laid out they become positions in the span columns, and
 * their ids travel in two small columns (idPos, idVal) so the page can name a span as the trace does.
 */
import type { Span } from '../../../core/model/trace';
import type { HeadGeneration } from '../format';
import { finiteNum, type AddColumn } from './common';
import type { PackedAdvice } from './meta';
import { USER_KIND } from './spans';

export class PointedSpans {
  /** Compact indexes of the pointed-at spans, and their ids. */
  readonly wanted: number[] = [];
  readonly wantedId: number[] = [];
  readonly genSpans: { v: number; decode: boolean; token: number; start: number }[] = [];
  /** Evidence ids of all findings, or null when there are none (the common case costs no lookup per span). */
  private readonly wantIds: EvidenceIds | null;

  constructor(advice: PackedAdvice, private readonly generation: boolean) {
    const ids: number[] = [];
    for (const l of advice.ids) for (const id of l) ids.push(id);
    this.wantIds = ids.length ? new EvidenceIds(ids) : null;
  }

  note(s: Span, v: number, kind: number, st: number): void {
    if (this.wantIds !== null && this.wantIds.has(s.id)) { this.wanted.push(v); this.wantedId.push(s.id); }
    if (this.generation && kind === USER_KIND) {
      const phase = s.attrs?.phase;
      if (phase === 'decode' || phase === 'prefill') {
        const tok = s.attrs?.token;
        this.genSpans.push({ v, decode: phase === 'decode', token: typeof tok === 'number' ? tok : this.genSpans.length, start: st });
        if (this.wanted[this.wanted.length - 1] !== v) { this.wanted.push(v); this.wantedId.push(s.id); }
      }
    }
  }

  /** Whether some span can be pointed at: else the scan need not call note(). */
  get active(): boolean {
    return this.wantIds !== null || this.generation;
  }

  get any(): boolean {
    return this.wanted.length > 0;
  }

  /**
   * With each compact index's position: the idPos/idVal columns, each finding's evidence as positions and the
   * generation's token spans as positions.
   */
  resolve(posOfV: Int32Array, advice: PackedAdvice, generation: HeadGeneration | null, col: AddColumn): void {
    const pairs = this.wanted.map((v, k) => [posOfV[v], this.wantedId[k]] as [number, number]);
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
    if (generation) {
      const decode = this.genSpans.filter((g) => g.decode).sort((a, b) => a.token - b.token || a.start - b.start);
      const prefill = this.genSpans.find((g) => !g.decode);
      generation.prefill = prefill ? posOfV[prefill.v] : -1;
      generation.tokens = decode.map((g) => g.token);
      generation.tokenSpans = decode.map((g) => posOfV[g.v]);
    }
  }
}

/**
 * A set of finite ids, asked about every span in trace order. Span ids mostly rise in trace order, so the ids sit
 * sorted with a cursor that follows the asked id: a question is a compare, and a falling id moves the cursor back
 * by bisection.
 */
class EvidenceIds {
  private readonly sorted: Float64Array;
  private cursor = 0;
  private last = -Infinity;

  constructor(ids: number[]) {
    this.sorted = Float64Array.from(new Set(ids)).sort();
  }

  has(id: unknown): boolean {
    if (typeof id !== 'number' || id !== id) return false;
    const a = this.sorted;
    let c = this.cursor;
    if (id < this.last) {
      let hi = c;
      c = 0;
      while (c < hi) {
        const mid = (c + hi) >> 1;
        if (a[mid] < id) c = mid + 1;
        else hi = mid;
      }
    }
    while (c < a.length && a[c] < id) c++;
    this.cursor = c;
    this.last = id;
    return c < a.length && a[c] === id;
  }
}
