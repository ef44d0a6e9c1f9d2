/**
 * A batch's numeric columns as the page gets them (WireColumn): each column in the narrowest integer type
 * that holds it, as offsets from a base or as differences from the value before, with the few values that
 * do not fit listed apart; a column of non-integers goes as f64. Times in ns, ids and table numbers are
 * integers that move little from one span to the next, so most columns take one to four bytes a value
 * instead of eight, and the page decodes them exactly (integers below 2^53 add without rounding).
 */
import type { WireColumn, WireType } from './protocol';

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** Integer types by width in bytes (signed for differences), and their range. */
const UNSIGNED: [WireType, number, number][] = [['u8', 0, 0xff], ['u16', 0, 0xffff], ['u32', 0, 0xffffffff]];
const SIGNED: [WireType, number, number][] = [['i8', -0x80, 0x7f], ['i16', -0x8000, 0x7fff], ['i32', -0x80000000, 0x7fffffff]];
const ARRAYS = {
  u8: Uint8Array, u16: Uint16Array, u32: Uint32Array, i8: Int8Array, i16: Int16Array, i32: Int32Array, f64: Float64Array,
} as const;
/** What a value listed apart costs beside one in the column, in bytes of base64 (an [index,value] pair of JSON). */
const EXCEPTION_BYTES = 18;
/** Beyond this part of a column listed apart the column goes as f64 (a page parses the list as JSON). */
const MAX_EXCEPTION_SHARE = 1 / 16;

/**
 * `values[0, n)` as a wire column. With `delta`, the stored values are differences from the value before
 * (the first from the base): for columns that mostly grow a little, such as start times in arrival order.
 */
export function encodeColumn(values: Float64Array, n: number, delta = false): WireColumn {
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Math.floor(v) !== v || v > Number.MAX_SAFE_INTEGER || v < -Number.MAX_SAFE_INTEGER) return asF64(values, n);
    if (v < min) min = v;
  }
  if (n === 0) return asF64(values, n);
  const base = min;
  // The values to store (one array type for every column, so this loop stays fast), and how many each type leaves out.
  const stored = new Float64Array(n);
  const types = delta ? SIGNED : UNSIGNED;
  const lo0 = types[0][1], hi0 = types[0][2], lo1 = types[1][1], hi1 = types[1][2], lo2 = types[2][1], hi2 = types[2][2];
  let out0 = 0, out1 = 0, out2 = 0;
  let prev = base;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const d = delta ? v - prev : v - base;
    prev = v;
    stored[i] = d;
    if (d < lo0 || d > hi0) {
      out0++;
      if (d < lo1 || d > hi1) {
        out1++;
        if (d < lo2 || d > hi2) out2++;
      }
    }
  }
  const out = [out0, out1, out2];
  let best = -1, cost = n * 8;
  for (let k = 0; k < 3; k++) {
    const c = n * 2 ** k + out[k] * EXCEPTION_BYTES;
    if (out[k] <= n * MAX_EXCEPTION_SHARE && c < cost) { best = k; cost = c; }
  }
  if (best < 0) return asF64(values, n);
  const [type, lo, hi] = types[best];
  const x: number[] = [];
  if (out[best] > 0) {
    for (let i = 0; i < n; i++) {
      const d = stored[i];
      if (d < lo || d > hi) {
        x.push(i, d);
        stored[i] = 0;
      }
    }
  }
  // The narrowing itself is the engine's (set converts each number to the column's type).
  const col = new ARRAYS[type](n);
  col.set(stored);
  return { type, base, delta, data: b64(col), x };
}

function asF64(values: Float64Array, n: number): WireColumn {
  const col = values.slice(0, n);
  return { type: 'f64', base: 0, delta: false, data: b64(col), x: [] };
}
