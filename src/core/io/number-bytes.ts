/**
 * JSON numbers and byte runs written straight into a byte buffer, for the two hot writers (saved
 * traces: trace-rows.ts, Chrome JSON: exporters/json-bytes.ts). No string is made for an integer:
 * digits come from int32 arithmetic on at most 8-digit halves. Output is what JSON.stringify writes.
 * Each function writes at offset o, returns the offset after what it wrote, and needs the room:
 * 24 bytes for a number, b.length for bytes.
 */

/** A number as JSON.stringify writes it (non-finite as null). */
export function putNumber(buf: Uint8Array, o: number, v: number): number {
  if (v >= 0 && v < 100000000 && (v | 0) === v) return writeSmall(buf, o, v);
  if (!Number.isInteger(v) || v > 9007199254740991 || v < -9007199254740991) {
    return putAscii(buf, o, Number.isFinite(v) ? String(v) : 'null');
  }
  if (v < 0) {
    buf[o++] = 45;
    v = -v;
  }
  return putUint(buf, o, v);
}

/** A safe integer >= 0. */
export function putUint(buf: Uint8Array, o: number, v: number): number {
  if (v < 100000000) return writeSmall(buf, o, v);
  // Two halves within int32 arithmetic: the high digits, then the low eight zero-padded.
  const hi = Math.floor(v / 100000000);
  let lo = v - hi * 100000000;
  o = writeSmall(buf, o, hi);
  for (let p = o + 7; p >= o; p--) {
    const q = (lo / 10) | 0;
    buf[p] = 48 + lo - q * 10;
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

/** 0 <= v < 1e8. */
function writeSmall(buf: Uint8Array, o: number, v: number): number {
  const n = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : 8;
  for (let p = o + n - 1; p >= o; p--) {
    const q = (v / 10) | 0;
    buf[p] = 48 + v - q * 10;
    v = q;
  }
  return o + n;
}
