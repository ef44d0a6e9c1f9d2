/**
 * The span-by-span checks a writer or reader runs over a whole trace: the plain path that accepts the
 * common span without building anything (anything else goes to checks.ts's spanProblem, which has the
 * last word), duplicate ids, and SaveChecks, which every writer calls so a save refuses exactly what a
 * load would.
 */
import { memoryProblem, spanProblem, tensorProblem, TraceFileError } from './checks';
import type { MemoryEvent, Span } from './trace';

/**
 * The common case of spanProblem without building anything: a span this accepts is valid. Spans it
 * does not accept (extra keys, odd values) go through spanProblem, which has the last word.
 */
export function plainValidSpan(s: Span, tensorsOk: WeakSet<object>, prevIn: unknown, prevOut: unknown): boolean {
  return (
    plainValidFields(s.id, s.parentId, s.kind, s.device, s.name, s.start, s.end, s.thread, s.flops, s.bytes, s.layerId, s.layer) &&
    s.pass === undefined && s.warmup === undefined && s.attrs === undefined &&
    (s.inputs === prevIn || checkedList(s.inputs, tensorsOk)) && (s.outputs === prevOut || checkedList(s.outputs, tensorsOk))
  );
}

/** plainValidSpan's test of a span's other fields, on their values (a writer that has read them already passes them on). */
export function plainValidFields(
  id: number, p: number | null, k: string, d: string, name: string, start: number, end: number,
  thread: number, f: number | null, b: number | null, l: number | null | undefined, ly: string | null | undefined,
): boolean {
  // typeof + comparisons: NaN fails every comparison, Infinity fails the bound.
  return (
    typeof id === 'number' && id > 0 && id <= 9007199254740991 && id % 1 === 0 &&
    (p === null || (typeof p === 'number' && p >= 0 && p <= 9007199254740991 && p % 1 === 0)) &&
    (k === 'primitive' || k === 'eval' || k === 'layer' || k === 'sync' || k === 'user') &&
    (d === 'cpu' || d === 'gpu') && typeof name === 'string' &&
    typeof start === 'number' && typeof end === 'number' && start > -Infinity && end < Infinity && end >= start &&
    typeof thread === 'number' && thread > -Infinity && thread < Infinity &&
    (f === null || (typeof f === 'number' && f >= 0 && f < Infinity)) &&
    (b === null || (typeof b === 'number' && b >= 0 && b < Infinity)) &&
    (l === undefined || l === null || (typeof l === 'number' && l >= 0 && l <= 9007199254740991 && l % 1 === 0)) &&
    (ly === undefined || ly === null || typeof ly === 'string')
  );
}

/** A list already checked in this save, or made only of tensors already checked in it. */
function checkedList(ts: unknown, ok: WeakSet<object>): boolean {
  if (!Array.isArray(ts)) return false;
  if (ok.has(ts)) return true;
  for (let i = 0; i < ts.length; i++) if (!ok.has(ts[i])) return false;
  return true;
}

export function rememberChecked(ts: readonly object[], ok: WeakSet<object>): void {
  ok.add(ts);
  for (const t of ts) ok.add(t);
}

/**
 * Duplicate span ids, found without a Set while ids only go up (as recorded traces have them): the
 * index of earlier ids is built the first time an id does not exceed the one before.
 */
export class IdCheck {
  private last = 0;
  private seen: Map<number, number> | null = null;

  /** The problem with span `i` having `id`, or null; `idOf(j)` is the id of earlier span j. */
  problem(id: number, i: number, idOf: (j: number) => number): string | null {
    if (this.seen === null) {
      if (id > this.last) {
        this.last = id;
        return null;
      }
      this.seen = new Map();
      for (let j = 0; j < i; j++) this.seen.set(idOf(j), j);
    }
    const other = this.seen.get(id);
    if (other !== undefined) return `span ${i}: id ${id} is used twice (also by span ${other})`;
    this.seen.set(id, i);
    return null;
  }
}

/**
 * The checks of one save, span by span and event by event, for every writer: throws the
 * TraceFileError that says why the trace is not saved.
 */
export class SaveChecks {
  private readonly ids = new IdCheck();
  private readonly idOf: (j: number) => number;
  /** Tensors and tensor lists already checked (the recorder shares one list per shape signature). */
  private readonly tensorsOk = new WeakSet<object>();
  private prevIn: unknown = null;
  private prevOut: unknown = null;

  constructor(
    private readonly path: string,
    spans: readonly Span[],
  ) {
    this.idOf = (j) => spans[j].id;
  }

  notSaved(detail: string): TraceFileError {
    return new TraceFileError(this.path, 'invalid-field', `not saved: ${detail}`);
  }

  /** Span `i` of the trace. */
  span(s: Span, i: number): void {
    if (!(s !== null && typeof s === 'object' && plainValidSpan(s, this.tensorsOk, this.prevIn, this.prevOut))) this.refuseOrRemember(s, i);
    // Nothing can change a list while a save runs: one checked once is good for the whole save.
    this.prevIn = s.inputs;
    this.prevOut = s.outputs;
    this.id(s.id, i);
  }

  /**
   * Span `i`, whose fields the caller has read: `plain` says that plainValidFields accepts them, that
   * it has no pass, warmup or attrs, and that `list` accepted its inputs and outputs.
   */
  spanRead(s: Span, i: number, id: number, plain: boolean): void {
    if (!plain) this.refuseOrRemember(s, i);
    this.id(id, i);
  }

  /** Throws for a span spanProblem refuses; remembers the lists of one it accepts. */
  private refuseOrRemember(s: Span, i: number): void {
    const p = spanProblem(s, i);
    if (p) throw this.notSaved(p);
    rememberChecked(s.inputs, this.tensorsOk);
    rememberChecked(s.outputs, this.tensorsOk);
  }

  private id(id: number, i: number): void {
    const dup = this.ids.problem(id, i, this.idOf);
    if (dup) throw this.notSaved(dup);
  }

  /** Whether a span's inputs or outputs `ts` are good: an array of good tensors. */
  list(ts: unknown): boolean {
    if (!Array.isArray(ts)) return false;
    if (this.tensorsOk.has(ts)) return true;
    for (let i = 0; i < ts.length; i++) if (!this.tensorsOk.has(ts[i]) && tensorProblem(ts[i], '') !== null) return false;
    rememberChecked(ts, this.tensorsOk);
    return true;
  }

  /** Memory event `i` of the trace. */
  memory(m: MemoryEvent, i: number): void {
    if (m !== null && typeof m === 'object' && Number.isFinite(m.t) && Number.isFinite(m.delta) && Number.isFinite(m.live) && (m.op == null || typeof m.op === 'string')) return;
    const p = memoryProblem(m, i);
    if (p) throw this.notSaved(p);
  }
}
