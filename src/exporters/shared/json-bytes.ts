/**
 * Writes JSON text straight into bytes, for the Chrome exporter's hot path. Building the same text with
 * string concatenation allocates ~20 short-lived strings per event and makes export 3-4x slower; here
 * numbers are written digit by digit and repeated strings (names, dtypes) are encoded once and copied.
 * Output is byte-for-byte what JSON.stringify would produce for the same values.
 */
import { putAscii, putBytes, putNumber, putUint } from '../../core/io/number-bytes';

export class JsonBytes {
  private _buf: Uint8Array;
  private _pos = 0;

  constructor(private readonly _chunk = 256 * 1024) {
    this._buf = new Uint8Array(_chunk);
  }

  get length(): number {
    return this._pos;
  }

  /** Hands what was written to the sink (which now owns that buffer) and continues in a pooled one. */
  flushTo(sink: { writePooled(buf: Uint8Array, length: number): Promise<void>; acquire(size: number): Uint8Array }): Promise<void> {
    const buf = this._buf;
    const length = this._pos;
    this._buf = sink.acquire(this._chunk);
    this._pos = 0;
    return sink.writePooled(buf, length);
  }

  private _room(n: number): void {
    if (this._pos + n <= this._buf.length) return;
    const bigger = new Uint8Array(Math.max(this._buf.length * 2, this._pos + n));
    bigger.set(this._buf.subarray(0, this._pos));
    this._buf = bigger;
  }

  /** One byte (an ASCII character code). */
  byte(c: number): void {
    if (this._pos === this._buf.length) this._room(1);
    this._buf[this._pos++] = c;
  }

  /** Pre-encoded bytes (see utf8() / jsonStringBytes()). */
  bytes(b: Uint8Array): void {
    this._room(b.length);
    this._pos = putBytes(this._buf, this._pos, b);
  }

  /** A string known to be ASCII and to need no JSON escaping (punctuation, keys written by us). */
  raw(s: string): void {
    this._room(s.length);
    this._pos = putAscii(this._buf, this._pos, s);
  }

  /** Any string as a JSON string literal (quoted, escaped, UTF-8); repeated strings hit a cache. */
  string(s: string): void {
    this.bytes(jsonStringBytes(s));
  }

  /** A number as JSON.stringify writes it: integers digit by digit, others via String(), non-finite as null. */
  number(x: number): void {
    this._room(24);
    this._pos = putNumber(this._buf, this._pos, x);
  }

  /** ns / 1000 as JSON: integer ns are written exactly ('1234.567'), others fall back to String(ns / 1000). */
  micros(ns: number): void {
    if (!Number.isInteger(ns) || ns > MAX_SAFE || ns < -MAX_SAFE) {
      this.number(ns / 1000);
      return;
    }
    if (ns < 0) {
      this._room(1);
      this._buf[this._pos++] = MINUS;
      ns = -ns;
    }
    const q = Math.floor(ns / 1000);
    let r = ns - q * 1000;
    this._room(24);
    this._pos = putUint(this._buf, this._pos, q);
    if (r === 0) return;
    this._room(4);
    const buf = this._buf;
    buf[this._pos++] = DOT;
    // Three decimals without the trailing zeros, as the shortest decimal of ns / 1000 has.
    const d0 = Math.floor(r / 100);
    r -= d0 * 100;
    const d1 = Math.floor(r / 10);
    const d2 = r - d1 * 10;
    buf[this._pos++] = ZERO + d0;
    if (d1 !== 0 || d2 !== 0) buf[this._pos++] = ZERO + d1;
    if (d2 !== 0) buf[this._pos++] = ZERO + d2;
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
