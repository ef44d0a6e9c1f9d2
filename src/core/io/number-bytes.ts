/**
 * JSON numbers and byte runs written straight into a byte buffer, for the two hot writers (saved
 * traces: rows.ts, Chrome JSON through json-bytes.ts). No string is made for an integer:
 * digits come two at a time from int32 arithmetic on at most 8-digit halves. Output is what JSON.stringify writes.
 * Each function writes at offset o, returns the offset after what it wrote, and needs the room:
 * 24 bytes for a number, b.length for bytes.
 */

/**
 * A number as JSON.stringify writes it (non-finite as null). Small, so that a caller can inline it;
 * an integer goes on to the digit writers as int32 halves, never as a double (a double passed to a
 * call that is not inlined is boxed, an allocation).
 */
export function putNumber(buf: Uint8Array, o: number, v: number): number {
  if (v >= 0 && v < 100000000 && (v | 0) === v) return writeSmall(buf, o, v);
  if (v >= 0 && v <= 9007199254740991 && Math.floor(v) === v) {
    const hi = Math.floor(v / 100000000);
    return putHalves(buf, o, hi, v - hi * 100000000);
  }
  return putOther(buf, o, v);
}

/** Negative safe integers, and through String() everything that is not a safe integer. */
function putOther(buf: Uint8Array, o: number, v: number): number {
  if (!Number.isInteger(v) || v > 9007199254740991 || v < -9007199254740991) return putAscii(buf, o, Number.isFinite(v) ? String(v) : 'null');
  buf[o++] = 45;
  return putUint(buf, o, -v);
}

/** A safe integer >= 0. */
export function putUint(buf: Uint8Array, o: number, v: number): number {
  if (v < 100000000) return writeSmall(buf, o, v);
  const hi = Math.floor(v / 100000000);
  return putHalves(buf, o, hi, v - hi * 100000000);
}

/** hi * 1e8 + lo for 0 < hi < 1e8, 0 <= lo < 1e8: the digits of hi, then lo's eight zero-padded. */
function putHalves(buf: Uint8Array, o: number, hi: number, lo: number): number {
  o = writeSmall(buf, o, hi);
  lo |= 0;
  for (let p = o + 8; p > o; ) {
    const q = (lo / 100) | 0;
    const r = (lo - q * 100) << 1;
    buf[--p] = PAIRS[r + 1];
    buf[--p] = PAIRS[r];
    lo = q;
  }
  return o + 8;
}

/** Bytes prepared earlier; short runs are faster by hand than through TypedArray.set. */
export function putBytes(buf: Uint8Array, o: number, b: Uint8Array): number {
  const n = b.length;
  if (n >= 64) {
    buf.set(b, o);
    return o + n;
  }
  for (let i = 0; i < n; i++) buf[o++] = b[i];
  return o;
}

/** A string known to be ASCII (a number's String(), punctuation). */
export function putAscii(buf: Uint8Array, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[o++] = s.charCodeAt(i);
  return o;
}

/** '00' to '99': two digits per int32 division (a division by a constant is a multiplication). */
const PAIRS = new Uint8Array(200);
for (let i = 0; i < 100; i++) {
  PAIRS[2 * i] = 48 + ((i / 10) | 0);
  PAIRS[2 * i + 1] = 48 + (i % 10);
}

/** 0 <= v < 1e8, an integer. */
function writeSmall(buf: Uint8Array, o: number, v: number): number {
  v |= 0;
  const n = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : 8;
  let p = o + n;
  while (v >= 100) {
    const q = (v / 100) | 0;
    const r = (v - q * 100) << 1;
    buf[--p] = PAIRS[r + 1];
    buf[--p] = PAIRS[r];
    v = q;
  }
  if (v >= 10) {
    buf[--p] = PAIRS[2 * v + 1];
    buf[--p] = PAIRS[2 * v];
  } else buf[--p] = 48 + v;
  return o + n;
}
