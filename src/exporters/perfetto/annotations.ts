/**
 * Interned strings of the one packet sequence, and the slice annotations written from a span's attributes
 * (forEachSpanAttribute: the keys of the Chrome export's args).
 */
import type protobuf from 'protobufjs';
import type { TensorInfo } from '../../core/model/trace';
import {
  type AttributeSource, forEachSpanAttribute, SPAN_ATTRS, type SpanAttr, type SpanAttributeVisitor, tensorLabel,
} from '../../instrumentations/mlx/attributes';
import { TensorListCache } from '../shared/track-layout';
import { int64, type Interned, type PerfettoSchema, uint64 } from './schema';

/** String -> iid tables of one sequence; new entries ride on the packet that first uses them. */
export class Interner {
  private _names = new Map<string, number>();
  private _cats = new Map<string, number>();
  private _keys = new Map<string, number>();
  private _values = new Map<string, number>();
  private _pending: Interned | null = null;

  private _get(map: Map<string, number>, s: string, field: keyof Interned): number {
    let iid = map.get(s);
    if (iid === undefined) {
      iid = map.size + 1;
      map.set(s, iid);
      const p = (this._pending ??= {});
      if (field === 'debug_annotation_string_values') (p[field] ??= []).push({ iid, str: Buffer.from(s, 'utf8') });
      else (p[field] ??= []).push({ iid, name: s });
    }
    return iid;
  }

  name(s: string): number {
    return this._get(this._names, s, 'event_names');
  }
  category(s: string): number {
    return this._get(this._cats, s, 'event_categories');
  }
  key(s: string): number {
    return this._get(this._keys, s, 'debug_annotation_names');
  }
  value(s: string): number {
    return this._get(this._values, s, 'debug_annotation_string_values');
  }
  /** New entries since the last call, for the packet being built. */
  take(): Interned | undefined {
    const p = this._pending;
    this._pending = null;
    return p ?? undefined;
  }
}

/** Writes a slice's debug annotations straight into the writer, one per attribute the span has. */
export class AnnotationWriter implements SpanAttributeVisitor {
  private _w: protobuf.Writer | null = null;
  private readonly _labels = new TensorListCache<number>();
  private readonly _makeLabel = (ts: readonly TensorInfo[]) => this._it.value(labels(ts));
  // Annotation names are a handful of constants: remember their iids instead of a Map lookup per use.
  private readonly _keyIids: Record<string, number> = Object.create(null);

  constructor(
    private readonly _t: PerfettoSchema['tags'],
    private readonly _it: Interner,
  ) {}

  span(w: protobuf.Writer, s: AttributeSource): void {
    this._w = w;
    forEachSpanAttribute(s, this);
    this._w = null;
  }

  private _open(key: string): protobuf.Writer {
    const w = this._w!;
    w.uint32(this._t.debugAnnotations).fork();
    uint64(w.uint32(this._t.annNameIid), this._keyIids[key] ?? (this._keyIids[key] = this._it.key(key)));
    return w;
  }

  private _num(key: string, v: number): void {
    const w = this._open(key);
    if (Number.isSafeInteger(v)) int64(w.uint32(this._t.annInt), v);
    else w.uint32(this._t.annDouble).double(v);
    w.ldelim();
  }

  private _bool(key: string, v: boolean): void {
    this._open(key).uint32(this._t.annBool).bool(v).ldelim();
  }

  number(a: SpanAttr, v: number): void {
    if (a.key !== null) this._num(a.key, v);
  }

  /** A repeated string (dtypes, layer paths): interned, written as its iid. The kind is the event's category already. */
  string(a: SpanAttr, v: string): void {
    if (a.key === null || a === SPAN_ATTRS.kind) return;
    const w = this._open(a.key);
    uint64(w.uint32(this._t.annStringIid), this._it.value(v));
    w.ldelim();
  }

  boolean(a: SpanAttr, v: boolean): void {
    if (a.key !== null) this._bool(a.key, v);
  }

  /** A shape list ('float32[8,64], float32[64,64]') as an interned string, without building it per span. */
  tensors(a: SpanAttr, v: readonly TensorInfo[]): void {
    if (a.key === null) return;
    const w = this._open(a.key);
    uint64(w.uint32(this._t.annStringIid), this._labels.get(v, this._makeLabel));
    w.ldelim();
  }

  extra(key: string, v: unknown): void {
    if (typeof v === 'number') this._num(key, v);
    else if (typeof v === 'boolean') this._bool(key, v);
    else {
      // Free-form values are often unique: written inline, not interned.
      this._open(key).uint32(this._t.annString).string(String(v)).ldelim();
    }
  }
}

/** 'float32[8,64], float32[64,64]': one interned string per distinct shape list. */
function labels(ts: readonly TensorInfo[]): string {
  return ts.map(tensorLabel).join(', ');
}
