/**
 * The one JSON byte writer: JSON text written straight into bytes, for the saved-trace rows
 * (rows.ts), the binary layout's blocks (binary/) and the Chrome exporter. Numbers are written digit
 * by digit and repeated strings (names, dtypes) are encoded once and copied, where string
 * concatenation would make short-lived strings per event. Output is byte for byte what
 * JSON.stringify writes for the same values.
 *
 * Two ways out: with `out`, every full buffer goes to it synchronously and the buffer is reused (a
 * file written with writeSync); without, the buffer grows until flushTo hands it to an async sink.
 */
import { putAscii, putBytes, putNumber, putUint } from './number-bytes';

export class JsonBytes {
  /** The buffer being filled and the offset in it: row writers store into them directly after room(). */
  buf: Uint8Array;
  off = 0;

  constructor(
    private readonly chunkSize = 256 * 1024,
    private readonly out: ((b: Uint8Array) => void) | null = null,
  ) {
    this.buf = new Uint8Array(chunkSize);
  }

  get length(): number {
    return this.off;
  }

  /** Room for `n` more bytes at `off`. */
  room(n: number): void {
    if (this.off + n > this.buf.length) this.makeRoom(n);
  }

  private makeRoom(n: number): void {
    if (this.out !== null) {
      this.flush();
      if (n > this.buf.length) this.buf = new Uint8Array(n);
      return;
    }
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.off + n));
    bigger.set(this.buf.subarray(0, this.off));
    this.buf = bigger;
  }

  /** Hands what was written to `out` (a writer made with one). */
  flush(): void {
    if (this.off > 0 && this.out !== null) this.out(this.buf.subarray(0, this.off));
    this.off = 0;
  }

  /** Hands what was written to the sink (which now owns that buffer) and continues in a pooled one. */
  flushTo(sink: { writePooled(buf: Uint8Array, length: number): Promise<void>; acquire(size: number): Uint8Array }): Promise<void> {
    const buf = this.buf;
    const length = this.off;
    this.buf = sink.acquire(this.chunkSize);
    this.off = 0;
    return sink.writePooled(buf, length);
  }

  /** Many bytes out without a copy when the writer has `out` (a column of a binary block). */
  chunk(b: Uint8Array): void {
    if (this.out === null || b.length < 1 << 16) return this.bytes(b);
    this.flush();
    this.out(b);
  }

  /** One byte (an ASCII character code). */
  byte(c: number): void {
    if (this.off === this.buf.length) this.makeRoom(1);
    this.buf[this.off++] = c;
  }

  /** Pre-encoded bytes (see utf8() / jsonStringBytes()). */
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.off = putBytes(this.buf, this.off, b);
  }

  /** A string known to be ASCII and to need no JSON escaping (punctuation, keys written by us). */
  raw(s: string): void {
    this.room(s.length);
    this.off = putAscii(this.buf, this.off, s);
  }

  /** Text that is already JSON (JSON.stringify output), any characters, as UTF-8. */
  text(s: string): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes.
    this.room(s.length * 3);
    this.off += encoder.encodeInto(s, this.buf.subarray(this.off)).written;
  }

  /** Any string as a JSON string literal (quoted, escaped, UTF-8); repeated strings hit a cache. */
  string(s: string): void {
    this.bytes(jsonStringBytes(s));
  }

  /** A number as JSON.stringify writes it: integers digit by digit, others via String(), non-finite as null. */
  number(x: number): void {
    this.room(24);
    this.off = putNumber(this.buf, this.off, x);
  }

  /** ns / 1000 as JSON: integer ns are written exactly ('1234.567'), others fall back to String(ns / 1000). */
  micros(ns: number): void {
    if (!Number.isInteger(ns) || ns > MAX_SAFE || ns < -MAX_SAFE) {
      this.number(ns / 1000);
      return;
    }
    if (ns < 0) {
      this.byte(MINUS);
      ns = -ns;
    }
    const q = Math.floor(ns / 1000);
    let r = ns - q * 1000;
    this.room(28);
    const buf = this.buf;
    this.off = putUint(buf, this.off, q);
    if (r === 0) return;
    buf[this.off++] = DOT;
    // Three decimals without the trailing zeros, as the shortest decimal of ns / 1000 has.
    const d0 = Math.floor(r / 100);
    r -= d0 * 100;
    const d1 = Math.floor(r / 10);
    const d2 = r - d1 * 10;
    buf[this.off++] = ZERO + d0;
    if (d1 !== 0 || d2 !== 0) buf[this.off++] = ZERO + d1;
    if (d2 !== 0) buf[this.off++] = ZERO + d2;
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const ZERO = 48;
const DOT = 46;
const MINUS = 45;
const encoder = new TextEncoder();

/** UTF-8 bytes of a string (constant pieces are encoded once at module load). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

// Span names, op names, dtypes and keys repeat endlessly: escape and encode each distinct string once.
const cache = new Map<string, Uint8Array>();
const CACHE_MAX = 100_000;

/** JSON.stringify(s) as UTF-8 bytes, cached. */
export function jsonStringBytes(s: string): Uint8Array {
  let b = cache.get(s);
  if (b === undefined) {
    b = encoder.encode(JSON.stringify(s));
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(s, b);
  }
  return b;
}

/** The inside of JSON.stringify(s), without the quotes, as bytes (for text embedded in a larger string). */
export function jsonInnerBytes(s: string): Uint8Array {
  let b = innerCache.get(s);
  if (b === undefined) {
    const q = jsonStringBytes(s);
    b = q.subarray(1, q.length - 1);
    if (innerCache.size >= CACHE_MAX) innerCache.clear();
    innerCache.set(s, b);
  }
  return b;
}
const innerCache = new Map<string, Uint8Array>();
