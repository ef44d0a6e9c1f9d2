// The digit writers of number-bytes.ts against JSON.stringify: every saved trace and Chrome file
// holds their output, which must stay byte for byte what JSON.stringify writes.
import { describe, expect, it } from 'vitest';
import { putNumber, putUint } from '../../src/core/io/number-bytes';
import { JsonBytes } from '../../src/core/io/json-bytes';
import { mulberry32 } from '../helpers/synthetic-trace';

const buf = new Uint8Array(64);
const text = (n: number) => Buffer.from(buf.subarray(0, n)).toString('latin1');

/** Powers of ten and their neighbours, the int32 and safe-integer edges, doubles and non-finite values. */
function edges(): number[] {
  const out = [0, -0, 1, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e21, 1.5e300, -1.5e300];
  out.push(0.1, -0.5, 1e-7, 123.456, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, NaN, Infinity, -Infinity);
  for (let p = 1; p <= 1e17; p *= 10) out.push(p - 1, p, p + 1, -p, -(p - 1), p * 1.5, 99 * p);
  return out;
}

describe('putNumber writes what JSON.stringify writes', () => {
  it('for the edges: powers of ten, int32 and safe-integer bounds, -0, doubles, huge and non-finite values', () => {
    for (const v of edges()) expect(text(putNumber(buf, 0, v)), String(v)).toBe(JSON.stringify(v) ?? 'null');
  });

  it('for 200,000 random integers of every length, both signs, and random doubles', () => {
    const rand = mulberry32(0x4e0b);
    for (let i = 0; i < 200_000; i++) {
      const digits = 1 + Math.floor(rand() * 16);
      let v = Math.floor(rand() * 10 ** digits);
      if (i % 3 === 0) v = -v;
      if (i % 7 === 0) v = (rand() - 0.5) * 10 ** (digits - 8);
      const n = putNumber(buf, 0, v);
      if (text(n) !== JSON.stringify(v)) expect(text(n), String(v)).toBe(JSON.stringify(v));
    }
  });

  it('leaves the bytes around a number as they were', () => {
    buf.fill(0x2a);
    const end = putNumber(buf, 5, 1234567890123);
    expect(end).toBe(18);
    expect(buf[4]).toBe(0x2a);
    expect(buf[18]).toBe(0x2a);
  });

  it('putUint and JsonBytes.micros agree with JSON.stringify', () => {
    for (const v of [0, 7, 99999999, 100000000, 100000007, 1234567890123, 2 ** 53 - 1]) expect(text(putUint(buf, 0, v))).toBe(JSON.stringify(v));
    const w = new JsonBytes(16);
    for (const ns of [0, 1, 999, 1000, 1001, 1_000_000_000_123, -1500, 86_400_000_000_007, 1.5]) {
      w.off = 0;
      w.micros(ns);
      expect(Buffer.from(w.buf.subarray(0, w.off)).toString('latin1'), String(ns)).toBe(JSON.stringify(ns / 1000));
    }
  });
});
