/**
 * Span signatures ("sigs"): everything a span shares with others of its kind (name, kind, category, shapes, dtype,
 * FLOPs, bytes) interned once, so a span carries one sig index.
 */
import type { Span, TensorInfo } from '../../../core/model/trace';
import { OP_CATEGORIES, opCategory } from '../../../core/model/categories';
import type { AddColumn, Interner } from './common';
import { num } from './common';

const CATEGORY_INDEX = new Map<string, number>(OP_CATEGORIES.map((c, i) => [c, i]));
const EMPTY: TensorInfo[] = [];

function shapeText(t: TensorInfo): string {
  const shape = Array.isArray(t?.shape) ? t.shape : [];
  return shape.length === 0 ? 'scalar' : shape.join('×');
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
interface Desc { shapes: number; dtype: number; sigs: SigTree }

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
  private readonly tensorCache = new WeakMap<object, WeakMap<object, Desc>>();
  private readonly byText = new Map<string, Desc>();

  constructor(private readonly strings: Interner) {}

  get size(): number {
    return this.kind.length;
  }

  /** The sig of span s, whose kind code and name id the caller has already looked up. */
  of(s: Span, kind: number, nameId: number): number {
    const d = this.describe(Array.isArray(s.inputs) ? s.inputs : EMPTY, Array.isArray(s.outputs) ? s.outputs : EMPTY);
    const flops = num(s.flops) ?? NaN;
    const bytes = num(s.bytes) ?? NaN;
    let byName = d.sigs.get(nameId * 8 + kind);
    if (!byName) d.sigs.set(nameId * 8 + kind, (byName = new Map()));
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
    return sig;
  }

  private describe(inputs: TensorInfo[], outputs: TensorInfo[]): Desc {
    let inner = this.tensorCache.get(inputs);
    if (!inner) this.tensorCache.set(inputs, (inner = new WeakMap()));
    let d = inner.get(outputs);
    if (!d) {
      const t = describeTensors(inputs, outputs);
      const text = `${t.shapes}\u0000${t.dtype}`;
      d = this.byText.get(text);
      if (!d) this.byText.set(text, (d = { shapes: this.strings.id(t.shapes), dtype: this.strings.id(t.dtype), sigs: new Map() }));
      inner.set(outputs, d);
    }
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
