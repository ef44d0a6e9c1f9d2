/**
 * The arithmetic of the layout both sides share: the CRC-32 of a block, the test of the magic, and
 * the width planning of a column (the narrowest integer width that holds it exactly) with the loops
 * that narrow and widen columns.
 */
import { endianness } from 'node:os';
import * as zlib from 'node:zlib';
import { ENTRY, MAGIC, MAX_SAFE, pad8 } from './layout';

/** True when the file's first bytes are this layout's magic, or a cut-off start of it. */
export function isBinaryTrace(first: Uint8Array): boolean {
  const n = Math.min(first.length, MAGIC.length);
  if (n < 4) return false;
  for (let i = 0; i < n; i++) if (first[i] !== MAGIC[i]) return false;
  return true;
}

/** Typed arrays use the machine's byte order; the layout is little-endian. */
export function binaryByteOrderProblem(): string | null {
  return endianness() === 'LE' ? null : 'the binary layout (.mlxtrace) is little-endian and this machine is big-endian: use .json';
}


// CRC-32 (IEEE, as zlib and gzip): zlib.crc32 from Node 20.15, a table otherwise.
type Crc32 = (data: Uint8Array, value?: number) => number;
let table: Int32Array | null = null;
/** Exported for the test that compares it with zlib.crc32. */
export function crc32Table(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
export const crc32: Crc32 = (zlib as { crc32?: Crc32 }).crc32 ?? crc32Table;

// One loop per width: a typed-array store that sees one type of array is several times faster.
// In place (out and src share a buffer) too: element j is written at or before where it was read.
export function offsets8(out: Uint8Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
export function offsets16(out: Uint16Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
export function offsets32(out: Uint32Array, src: Float64Array, base: number): void {
  for (let j = 0; j < out.length; j++) out[j] = src[j] - base;
}
export function fromOffsets8(out: Float64Array, src: Uint8Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}
export function fromOffsets16(out: Float64Array, src: Uint16Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}
export function fromOffsets32(out: Float64Array, src: Uint32Array, base: number): void {
  for (let j = 0; j < src.length; j++) out[j] = base + src[j];
}

/** The base `plan` chose (in a typed array: a double stored in a field would change the encoder's shape). */
export const planned = new Float64Array(1);

/**
 * The width (0, 1, 2, 4 or 8 bytes) that holds the first n values of `a` exactly, leaving the base
 * in planned[0]: offsets from the smallest value when all are integers within 2^32 of it.
 */
export function plan(a: Float64Array, n: number): number {
  planned[0] = 0;
  let lo = a[0];
  if (Math.floor(lo) !== lo) return 8;
  // A constant column (thread, often flops and bytes) costs one compare an element.
  let j = 1;
  while (j < n && a[j] === lo) j++;
  // Then two elements a step, each with its own bounds: measured ~1.5x faster than one (the
  // compares of one element do not wait for those of the one before).
  let hi = lo;
  let lo2 = lo;
  let hi2 = lo;
  for (; j + 1 < n; j += 2) {
    const v = a[j];
    const w = a[j + 1];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (w < lo2) lo2 = w;
    if (w > hi2) hi2 = w;
    // NaN fails these tests.
    if (Math.floor(v) !== v || Math.floor(w) !== w) return 8;
  }
  if (j < n) {
    const v = a[j];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.floor(v) !== v) return 8;
  }
  if (lo2 < lo) lo = lo2;
  if (hi2 > hi) hi = hi2;
  // -0 would come back as 0 (only possible when 0 is in range).
  if (lo <= 0 && hi >= 0) for (let k = 0; k < n; k++) if (a[k] === 0 && 1 / a[k] < 0) return 8;
  if (!(lo >= -MAX_SAFE && hi <= MAX_SAFE)) return 8;
  const range = hi - lo;
  if (range >= 2 ** 32) return 8;
  planned[0] = lo;
  return range === 0 ? 0 : range < 2 ** 8 ? 1 : range < 2 ** 16 ? 2 : 4;
}

/** The first `length` bytes of `b` and zero bytes up to a multiple of 8 (b has room for them). */
export function padded(b: Uint8Array, length: number): Uint8Array {
  const end = pad8(length);
  b.fill(0, length, end);
  return b.subarray(0, end);
}

/**
 * Decodes the column table and columns of a block of n rows into `cols` (value columns first, then
 * numbers): f64 columns as views of the payload, others widened into `scratch`. Returns the offset of
 * the flags; `bad` throws for a table or length that does not add up.
 */
export function unpackColumns(
  payload: Uint8Array, length: number, n: number, valueColumns: number, numberColumns: number,
  cols: Float64Array[], scratch: Float64Array[], bad: (detail: string) => never,
): number {
  const columns = valueColumns + numberColumns;
  let at = ENTRY * columns;
  if (length < at) bad(`has ${length} bytes, too few for its table of columns`);
  const ab = payload.buffer;
  const table = new DataView(ab, 0, at);
  for (let c = 0; c < columns; c++) {
    const base = table.getFloat64(ENTRY * c, true);
    const width = table.getUint32(ENTRY * c + 8, true);
    const isValue = c < valueColumns;
    if (!(width === 0 || width === 1 || width === 2 || width === 4 || (width === 8 && isValue)) || table.getUint32(ENTRY * c + 12, true) !== 0) {
      bad(`has column ${c} of width ${width}`);
    }
    if (width === 8 ? !Object.is(base, 0) : isValue ? !Number.isFinite(base) : !(Number.isInteger(base) && base >= 0)) bad(`has column ${c} based at ${base}`);
    const size = pad8(width * n);
    if (at + size > length) bad(`has ${length} bytes, too few for its columns`);
    if (width === 8) cols[c] = new Float64Array(ab, at, n);
    else {
      const out = scratch[c];
      if (width === 0) out.fill(base, 0, n);
      else if (width === 1) fromOffsets8(out, new Uint8Array(ab, at, n), base);
      else if (width === 2) fromOffsets16(out, new Uint16Array(ab, at, n), base);
      else fromOffsets32(out, new Uint32Array(ab, at, n), base);
      cols[c] = out;
    }
    at += size;
  }
  if (at + n > length) bad(`has ${length} bytes, too few for its flags`);
  return at;
}
