/** Sizes of the arrays a primitive reads and writes: dtype item sizes, element counts, bytes. */
import type { TensorInfo } from '../model/trace';

const ITEMSIZE: Record<string, number> = {
  bool: 1, bool_: 1, uint8: 1, int8: 1, uint16: 2, int16: 2, float16: 2, bfloat16: 2,
  uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8, complex64: 8,
};

/** Bytes per element of an MLX dtype name, or null when unknown. */
export function dtypeItemsize(dtype: string): number | null {
  return ITEMSIZE[dtype] ?? null;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** The bytes of one array: TensorInfo.bytes when given, else elements × itemsize. */
export function tensorBytes(t: TensorInfo): number | null {
  if (typeof t.bytes === 'number' && Number.isFinite(t.bytes)) return t.bytes;
  const size = dtypeItemsize(t.dtype);
  return size == null ? null : numel(t.shape) * size;
}

export function sumBytes(ts: readonly TensorInfo[]): number | null {
  let s = 0;
  for (const t of ts) {
    const b = tensorBytes(t);
    if (b == null) return null;
    s += b;
  }
  return s;
}

export function add(a: number | null, b: number | null): number | null {
  return a == null || b == null ? null : a + b;
}

export function sumNumel(ts: readonly TensorInfo[]): number {
  let s = 0;
  for (const t of ts) s += numel(t.shape);
  return s;
}

/** shape[-k], or null when the array has fewer dims. */
export function dimFromEnd(t: TensorInfo | undefined, k: number): number | null {
  if (!t || t.shape.length < k) return null;
  return t.shape[t.shape.length - k];
}

export const first = (ts: readonly TensorInfo[]): TensorInfo | undefined => ts[0];
