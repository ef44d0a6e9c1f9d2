/**
 * A slice's args as JSON bytes, written straight from the span by visiting its attributes
 * (forEachSpanAttribute): the same keys, order and text as JSON.stringify(spanArgs(span)).
 */
import type { TensorInfo } from '../../core/model/trace';
import {
  type AttributeSource, forEachSpanAttribute, SPAN_ATTR_LIST, type SpanAttr, type SpanAttributeVisitor, tensorLabel,
} from '../../instrumentations/mlx/attributes';
import { type JsonBytes, utf8 } from '../../core/io/json-bytes';
import { TensorListCache } from '../shared/track-layout';
import { jsonValue } from './json';

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }
const COMMA = 0x2c;

/** `"dtype":` per attribute index, encoded once. */
const KEYS = SPAN_ATTR_LIST.map((a) => (a.key ? utf8(`${JSON.stringify(a.key)}:`) : new Uint8Array(0)));
const TRUE = utf8('true');
const FALSE = utf8('false');

/** Distinct values per string attribute (kinds, dtypes, layer paths) before a cache starts over. */
const MAX_VALUES = 10_000;

export class ChromeArgsWriter implements SpanAttributeVisitor {
  private _j: JsonBytes | null = null;
  private _first = true;
  /** `"inputs":["float32[8,64]","float32[64,64]"]` per distinct tensor list, per attribute. */
  private readonly _tensors = SPAN_ATTR_LIST.map(() => new TensorListCache<Uint8Array>());
  /** `"dtype":"float32"` per distinct value, per attribute. */
  private readonly _strings = SPAN_ATTR_LIST.map(() => new Map<string, Uint8Array>());

  /** @param _instance write the attributes that tell occurrences apart (span ids, pass, warmup). */
  constructor(private readonly _instance: boolean) {}

  write(j: JsonBytes, s: AttributeSource): void {
    this._j = j;
    this._first = true;
    j.byte(OPEN);
    forEachSpanAttribute(s, this);
    j.byte(CLOSE);
    this._j = null;
  }

  private _sep(): JsonBytes {
    const j = this._j!;
    if (this._first) this._first = false;
    else j.byte(COMMA);
    return j;
  }

  number(a: SpanAttr, v: number): void {
    if (a.key === null || (a.instance && !this._instance)) return;
    const j = this._sep();
    j.bytes(KEYS[a.index]);
    j.number(v);
  }

  string(a: SpanAttr, v: string): void {
    if (a.key === null || (a.instance && !this._instance)) return;
    const cache = this._strings[a.index];
    let b = cache.get(v);
    if (b === undefined) {
      b = utf8(`${JSON.stringify(a.key)}:${JSON.stringify(v)}`);
      if (cache.size >= MAX_VALUES) cache.clear();
      cache.set(v, b);
    }
    this._sep().bytes(b);
  }

  boolean(a: SpanAttr, v: boolean): void {
    if (a.key === null || (a.instance && !this._instance)) return;
    const j = this._sep();
    j.bytes(KEYS[a.index]);
    j.bytes(v ? TRUE : FALSE);
  }

  tensors(a: SpanAttr, v: readonly TensorInfo[]): void {
    if (a.key === null) return;
    const key = a.key;
    this._sep().bytes(this._tensors[a.index].get(v, (ts) => utf8(`${JSON.stringify(key)}:${JSON.stringify(ts.map(tensorLabel))}`)));
  }

  extra(key: string, v: unknown): void {
    const j = this._sep();
    j.string(key);
    j.byte(0x3a); // :
    j.bytes(utf8(jsonValue(v)));
  }
}
