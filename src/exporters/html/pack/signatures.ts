/**
 * Span signatures ("sigs"): everything a span shares with others of its kind (name, kind, category, shapes, dtype,
 * FLOPs, bytes) interned once, so a span carries one sig index.
 */
import type { Span, TensorInfo } from '../../../core/model/trace';
import { OP_CATEGORIES, opCategory } from '../../../core/model/categories';
import { formatShape } from '../../../core/model/units';
import type { AddColumn, Interner } from './common';
import { num, str } from './common';

const CATEGORY_INDEX = new Map<string, number>(OP_CATEGORIES.map((c, i) => [c, i]));
const EMPTY: TensorInfo[] = [];
/** A span's tensor list; every empty or missing one is EMPTY, so spans without tensors share one description. */
const tensors = (ts: unknown): TensorInfo[] => (Array.isArray(ts) && ts.length > 0 ? ts : EMPTY);

function shapeText(t: TensorInfo): string {
  return formatShape(Array.isArray(t?.shape) ? t.shape : []);
}

function dtypeSet(ts: TensorInfo[]): string {
  const seen: string[] = [];
  for (const t of ts) {
    const d = typeof t?.dtype === 'string' ? t.dtype : '?';
    if (!seen.includes(d)) seen.push(d);
  }
  return seen.join(', ');
}

/** "512×4096, 4096×4096 → 512×4096" and "float16" (or "float32 → float16" when a cast happens). */
function describeTensors(inputs: TensorInfo[], outputs: TensorInfo[]): { shapes: string; dtype: string } {
  const ins = inputs.map(shapeText).join(', ');
  const outs = outputs.map(shapeText).join(', ');
  const shapes = ins && outs ? `${ins} → ${outs}` : ins || (outs ? `→ ${outs}` : '');
  const di = dtypeSet(inputs);
  const dout = dtypeSet(outputs);
  const dtype = !di ? dout : !dout || di === dout ? di : `${di} → ${dout}`;
  return { shapes, dtype };
}

/** Sigs of one (shapes, dtype) description: name*8+kind -> flops -> bytes -> sig. */
type SigTree = Map<number, Map<number, Map<number, number>>>;
/**
 * A description, its sigs, and the last name and sig found through it with their keys: a description mostly
 * belongs to one op, so these answer most spans without a lookup.
 */
interface Desc {
  shapes: number;
  dtype: number;
  sigs: SigTree;
  lastName: unknown;
  lastNameId: number;
  lastKey: number;
  lastFlops: number;
  lastBytes: number;
  lastSig: number;
}

/** The descriptions of one input list: with the first output list met, and with any other. */
interface ByOutputs {
  first: TensorInfo[];
  desc: Desc;
  more: WeakMap<TensorInfo[], Desc> | null;
}

/** Stands for "no span yet" as a last name: equal to no span's name. */
const NOT_YET = Symbol('not yet');

/**
 * The sig table. Looking a span up builds no key string: recorders share TensorInfo arrays between spans of the same
 * shapes, so the description is found by the arrays' identity first and by its text only for new arrays.
 */
export class SignatureTable {
  readonly kind: number[] = [];
  readonly name: number[] = [];
  readonly cat: number[] = [];
  readonly shapes: number[] = [];
  readonly dtype: number[] = [];
  readonly flops: number[] = [];
  readonly bytes: number[] = [];
  private readonly catOfName = new Map<number, number>();
  /** Descriptions by input list, then output list (identity); an input list mostly meets one output list. */
  private readonly tensorCache = new WeakMap<object, ByOutputs>();
  private readonly byText = new Map<string, Desc>();

  constructor(private readonly strings: Interner) {}

  get size(): number {
    return this.kind.length;
  }

  /** The sig of span s, whose kind code (and, if it has interned the name itself, name id) the caller has looked up. */
  of(s: Span, kind: number, nameId?: number): number {
    const inputs = tensors(s.inputs);
    const outputs = tensors(s.outputs);
    const byOutputs = this.tensorCache.get(inputs);
    let d = byOutputs === undefined ? undefined : byOutputs.first === outputs ? byOutputs.desc : byOutputs.more?.get(outputs);
    // The name is interned before a new description's shapes and dtype: the strings list has them in that order.
    const name = s.name;
    if (nameId === undefined) {
      if (d !== undefined && name === d.lastName && typeof name === 'string') nameId = d.lastNameId;
      else nameId = this.strings.id(typeof name === 'string' ? name : str(name, '(unnamed)'));
    }
    d ??= this.describe(inputs, outputs);
    d.lastName = name;
    d.lastNameId = nameId;
    const flops = num(s.flops) ?? NaN;
    const bytes = num(s.bytes) ?? NaN;
    const key = nameId * 8 + kind;
    if (key === d.lastKey && flops === d.lastFlops && bytes === d.lastBytes) return d.lastSig;
    let byName = d.sigs.get(key);
    if (!byName) d.sigs.set(key, (byName = new Map()));
    let byFlops = byName.get(flops);
    if (!byFlops) byName.set(flops, (byFlops = new Map()));
    let sig = byFlops.get(bytes);
    if (sig === undefined) {
      sig = this.kind.length;
      byFlops.set(bytes, sig);
      this.kind.push(kind);
      this.name.push(nameId);
      let cat = this.catOfName.get(nameId);
      if (cat === undefined) this.catOfName.set(nameId, (cat = CATEGORY_INDEX.get(opCategory(this.strings.list[nameId])) ?? 0));
      this.cat.push(cat);
      this.shapes.push(d.shapes);
      this.dtype.push(d.dtype);
      this.flops.push(flops);
      this.bytes.push(bytes);
    }
    d.lastKey = key;
    d.lastFlops = flops;
    d.lastBytes = bytes;
    d.lastSig = sig;
    return sig;
  }

  /** The description of a pair of tensor lists not met before (by identity), found by its text or made. */
  private describe(inputs: TensorInfo[], outputs: TensorInfo[]): Desc {
    const t = describeTensors(inputs, outputs);
    const text = `${t.shapes}\u0000${t.dtype}`;
    let d = this.byText.get(text);
    if (!d) {
      d = {
        shapes: this.strings.id(t.shapes), dtype: this.strings.id(t.dtype), sigs: new Map(),
        lastName: NOT_YET, lastNameId: 0, lastKey: -1, lastFlops: NaN, lastBytes: NaN, lastSig: 0,
      };
      this.byText.set(text, d);
    }
    const byOutputs = this.tensorCache.get(inputs);
    if (byOutputs === undefined) this.tensorCache.set(inputs, { first: outputs, desc: d, more: null });
    else (byOutputs.more ??= new WeakMap()).set(outputs, d);
    return d;
  }

  /** The sig* columns. */
  addColumns(col: AddColumn): void {
    col('sigKind', 'u8', Uint8Array.from(this.kind));
    col('sigCat', 'u8', Uint8Array.from(this.cat));
    col('sigName', 'u32', Uint32Array.from(this.name));
    col('sigShapes', 'u32', Uint32Array.from(this.shapes));
    col('sigDtype', 'u32', Uint32Array.from(this.dtype));
    col('sigFlops', 'f64', Float64Array.from(this.flops));
    col('sigBytes', 'f64', Float64Array.from(this.bytes));
  }
}
