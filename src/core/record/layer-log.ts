/**
 * Layer calls as rows rather than span objects. A decode step runs tens of layer calls; made as
 * objects, their spans live until the take, and in lockstep runs of the d=256 step (docs/design.md,
 * "Which part of a layer span costs the step") a layer call that made and kept no object took most of
 * what the layers cost the step. Rows cost the store of a few numbers into columns the log keeps from
 * window to window; the spans are made when someone reads them (Recorder.materializeLayers()).
 */
import { objectArray } from './arrays';
import type { LiveSpan } from './recorder';

/** What the stack of open spans needs of each: its id, kind and name. */
export interface OpenSpan {
  readonly id: number;
  readonly kind: LiveSpan['kind'];
  readonly name: string;
}

/** A layer call in progress: its id and row. Frames are reused once their call has returned. */
export class LayerFrame implements OpenSpan {
  id = 0;
  readonly kind = 'layer' as const;
  name = '';
  row = 0;
  /** The log holding its row; null when maxSpans dropped the span (its id still tags the graph). */
  log: LayerLog | null = null;
}

/** Makes the span of a layer row. */
export type MakeLayerSpan = (id: number, parentId: number | null, name: string, start: number, end: number) => LiveSpan;

export class LayerLog {
  private ids: Float64Array;
  private parents: Float64Array;
  private starts: Float64Array;
  private ends: Float64Array;
  private names: string[] = objectArray();
  private n = 0;
  /** Once materialized: the spans made of the rows, which end() then ends. */
  private spans: LiveSpan[] | null = null;

  constructor(room = 256) {
    this.ids = new Float64Array(room);
    this.parents = new Float64Array(room);
    this.starts = new Float64Array(room);
    this.ends = new Float64Array(room);
  }

  get length(): number {
    return this.spans ? 0 : this.n;
  }

  /** Whether a row is begun and not yet ended (its frame ends it in this log). */
  hasOpenRow(): boolean {
    for (let i = 0; i < this.n; i++) if (this.ends[i] === 0) return true;
    return false;
  }

  /** The id of the first row (rows come in id order); Infinity when there is none. */
  get firstId(): number {
    return this.n > 0 && !this.spans ? this.ids[0] : Infinity;
  }

  /** A row for layer span `id`, open; returns it. */
  add(id: number, parentId: number | null, name: string, start: number): number {
    if (this.n === this.ids.length) this.grow();
    const i = this.n++;
    this.ids[i] = id;
    this.parents[i] = parentId ?? -1;
    this.starts[i] = start;
    this.ends[i] = 0;
    // Written over the last window's names, not pushed: emptying the array at reset would drop its
    // room and grow it again, copying, as the window fills.
    if (i < this.names.length) this.names[i] = name;
    else this.names.push(name);
    return i;
  }

  end(row: number, t: number): void {
    if (this.spans !== null) this.spans[row].end = t;
    else this.ends[row] = t;
  }

  /** A copy of the rows (none open), as a log of its own. */
  slice(): LayerLog {
    const copy = new LayerLog(Math.max(this.n, 1));
    copy.ids.set(this.ids.subarray(0, this.n));
    copy.parents.set(this.parents.subarray(0, this.n));
    copy.starts.set(this.starts.subarray(0, this.n));
    copy.ends.set(this.ends.subarray(0, this.n));
    for (let i = 0; i < this.n; i++) copy.names.push(this.names[i]);
    copy.n = this.n;
    return copy;
  }

  /**
   * Forgets the rows (none open), and the spans made of them, keeping the room: the next rows are
   * written over them.
   */
  reset(): void {
    this.n = 0;
    this.spans = null;
  }

  /**
   * The rows as spans, made by `make` (still open ones with end 0, ended later through end()); the
   * log is retired.
   */
  materialize(make: MakeLayerSpan): LiveSpan[] {
    const out: LiveSpan[] = [];
    for (let i = 0; i < this.n; i++) {
      const parent = this.parents[i];
      out.push(make(this.ids[i], parent < 0 ? null : parent, this.names[i], this.starts[i], this.ends[i]));
    }
    this.spans = out;
    return out;
  }

  private grow(): void {
    const cap = this.ids.length * 2;
    const widen = (a: Float64Array) => {
      const b = new Float64Array(cap);
      b.set(a);
      return b;
    };
    this.ids = widen(this.ids);
    this.parents = widen(this.parents);
    this.starts = widen(this.starts);
    this.ends = widen(this.ends);
  }
}

/**
 * Makes `log`'s rows into spans (retiring it) and merges them into `spans`, in id order. The rows are
 * newer than every span read before, so only the spans begun since the log's first row move.
 */
export function mergeLayers(spans: LiveSpan[], log: LayerLog, make: MakeLayerSpan): void {
  const first = log.firstId;
  const rows = log.materialize(make);
  let at = spans.length;
  while (at > 0 && spans[at - 1].id > first) at--;
  const tail = spans.splice(at);
  for (let i = 0, j = 0; i < rows.length || j < tail.length; ) {
    if (j === tail.length || (i < rows.length && rows[i].id < tail[j].id)) spans.push(rows[i++]);
    else spans.push(tail[j++]);
  }
}

/** A taken window's JS-side spans, its layer rows merged in only when the spans are first read. */
export class PendingSpans {
  readonly length: number;
  private merged = false;
  constructor(
    private readonly spans: LiveSpan[],
    private readonly log: LayerLog,
    private readonly make: MakeLayerSpan,
  ) {
    this.length = spans.length + log.length;
  }

  list(): readonly LiveSpan[] {
    if (!this.merged) {
      this.merged = true;
      mergeLayers(this.spans, this.log, this.make);
    }
    return this.spans;
  }
}
