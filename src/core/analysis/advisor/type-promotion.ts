/** Rule type-promotion: half-precision data upcast to float32 and the work that then runs in float32. */
import { formatDuration } from '../../model/units';
import type { Finding } from './types';
import { CPU_FLOAT32_ONLY, HALF, in0, type Index, Op, out0, type Prim } from './span-index';
import { evidenceOf, layerList, plural, severityFor } from './evidence';

// ---------------------------------------------------------------------------------------------------------------
// Rule 1: type promotion

/**
 * MLX promotes mixed operands to a type that loses no precision: float16 x float32 (even a float32 scalar
 * array like mx.array(2.0)) runs in float32; half-precision data upcast is slower and twice the bytes.
 * (Writing Fast MLX, "Type Promotion"; also "Precision": no need to upcast around fast norms or softmax.)
 */
export function typePromotion(ix: Index): Finding[] {
  if (!ix.upcasts) return [];
  // A half-precision program: a real share of the primitives read float16/bfloat16 data.
  let floatReaders = 0;
  let halfReaders = 0;
  const halfCounts = new Map<string, number>();
  for (const p of ix.prims) {
    let anyFloat = false;
    let half: string | null = null;
    for (const t of p.span.inputs ?? []) {
      const d = t?.dtype;
      if (HALF.has(d)) half = d;
      if (half || (typeof d === 'string' && d.startsWith('float'))) anyFloat = true;
    }
    if (anyFloat) floatReaders++;
    if (half) {
      halfReaders++;
      halfCounts.set(half, (halfCounts.get(half) ?? 0) + 1);
    }
  }
  if (halfReaders < 2 || halfReaders < 0.1 * floatReaders) return [];
  const halfType = [...halfCounts.entries()].sort((a, b) => b[1] - a[1])[0][0];

  const casts: Prim[] = [];
  const slowOps: Prim[] = [];
  for (const g of ix.groups) {
    // Per upcast, the float32 ops that follow it in the same layer until the data goes back to half.
    let pendingCasts: Prim[] = [];
    let pendingOps: Prim[] = [];
    let promoted = false;
    const flush = () => {
      // Only an upcast followed by float32 work the backend could have done in half precision counts.
      if (pendingOps.length > 0) {
        casts.push(...pendingCasts);
        slowOps.push(...pendingOps);
      }
      pendingCasts = [];
      pendingOps = [];
      promoted = false;
    };
    for (const p of g) {
      if (p.fast) continue; // a fallback's own casts are what the fused kernel does anyway
      const o = out0(p)?.dtype;
      const i = in0(p)?.dtype;
      if (p.op === Op.AsType && i && HALF.has(i) && o === 'float32') {
        pendingCasts.push(p);
        promoted = true;
        continue;
      }
      if (!promoted) continue;
      if (p.op === Op.AsType && i === 'float32' && o && HALF.has(o)) {
        pendingCasts.push(p); // the downcast exists only because of the upcast
        flush();
        continue;
      }
      if (o && HALF.has(o)) {
        flush();
        continue;
      }
      if (o !== 'float32' || p.op === Op.View) continue;
      if (p.span.device === 'cpu' && CPU_FLOAT32_ONLY.has(p.name)) continue;
      pendingOps.push(p);
    }
    flush();
  }
  const upcasts = casts.filter((p) => HALF.has(in0(p)?.dtype ?? ''));
  if (upcasts.length === 0) return [];
  let castNs = 0;
  for (const p of casts) castNs += p.dur;
  let opNs = 0;
  for (const p of slowOps) opNs += p.dur;
  // Half precision moves half the bytes: assume the float32 ops would take half as long, the casts nothing.
  const atStake = castNs + opNs / 2;
  const where = layerList(ix.layerOf, [...casts, ...slowOps]);
  return [
    {
      rule: 'type-promotion',
      severity: severityFor(atStake, ix.busyNs),
      message:
        `${halfType} data is promoted to float32: ${plural(upcasts.length, 'upcast')} (AsType) and ` +
        `${plural(slowOps.length, 'op')} that then run in float32 (${formatDuration(castNs + opNs)})` +
        (where ? ` in ${where}` : '') +
        `, in a program that otherwise computes in ${halfType}.`,
      evidence: evidenceOf([...casts, ...slowOps].map((p) => p.span)),
      suggestion:
        `Keep the data in ${halfType}: multiply by JS numbers (weakly typed) instead of mx.array(...) scalars, ` +
        `create constants and weights with dtype mx.${halfType}, and do not upcast around mx.fast norms or ` +
        `softmax (they accumulate in float32 already; use mx.softmax(x, axis, true) for a precise softmax).`,
      timeAtStake: atStake,
    },
  ];
}
