// Fuzzing loadTrace: thousands of truncated and corrupted versions of a saved trace. Every one must
// give a TraceFileError (one line, naming the file) or a valid trace, never another exception,
// crash or hang. Deterministic: a fixed PRNG seed, so a failure names a variant that reproduces.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { saveTrace, loadTrace, TraceFileError, type TraceFileErrorCode } from '../../src/core/io/persist';
import type { Trace } from '../../src/core/model/trace';
import { makeSyntheticTrace, mulberry32 } from '../helpers/synthetic-trace';

const SEED = 0x5eed;
const rand = mulberry32(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];

/** A real recording when the lead's helper exists, else a synthetic trace with awkward fields added. */
async function baseTrace(): Promise<{ trace: Trace; real: boolean }> {
  const helper = join(__dirname, '..', 'helpers', 'real-trace.ts');
  if (existsSync(helper)) {
    const mod = (await import(/* @vite-ignore */ helper)) as { recordRealTrace: () => Promise<Trace> };
    return { trace: await mod.recordRealTrace(), real: true };
  }
  const t = makeSyntheticTrace({ primitives: 120, threads: 2, device: "mixed" });
  const p = t.spans.find((s) => s.kind === 'primitive')!;
  p.attrs = { note: 'quote " backslash \\ é 🙂', n: 3, ok: true };
  p.pass = 1;
  p.warmup = true;
  t.meta.fallbackReason = 'none';
  return { trace: t, real: false };
}

let dir: string;
let original: Buffer;
let real = false;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-fuzz-'));
  const base = await baseTrace();
  real = base.real;
  const p = join(dir, 'base.json');
  saveTrace(base.trace, p);
  original = readFileSync(p);
}, 120_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = TraceFileErrorCode | 'valid';

/** Loads one variant; returns its outcome or throws an Error describing what went wrong. */
function attempt(bytes: Buffer, label: string): Outcome {
  const p = join(dir, 'variant.json');
  writeFileSync(p, bytes);
  // Small chunks make values cross read boundaries at every possible offset.
  const chunkBytes = pick([undefined, undefined, 17, 64, 257, 4096]);
  let t: Trace;
  try {
    t = loadTrace(p, chunkBytes ? { chunkBytes } : {});
  } catch (e) {
    if (!(e instanceof TraceFileError)) {
      throw new Error(`${label} (chunk ${chunkBytes}): threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    }
    if (e.message.includes('\n') || !e.message.startsWith(`${p}: `)) throw new Error(`${label}: message not one line naming the file: ${e.message}`);
    return e.code;
  }
  // Whatever loads is a valid trace: saving re-checks every field, and it must come back equal.
  const again = join(dir, 'again.json');
  try {
    saveTrace(t, again);
  } catch (e) {
    throw new Error(`${label}: loaded but not a valid trace: ${(e as Error).message}`);
  }
  expect(loadTrace(again), label).toStrictEqual(t);
  return 'valid';
}

const STRUCTURAL = [...'{}[]":,\\ \n0123456789-.eEtfn'].map((c) => c.charCodeAt(0));

function corrupt(src: Buffer): { bytes: Buffer; how: string } {
  const b = Buffer.from(src);
  const kind = int(5);
  switch (kind) {
    case 0: {
      // Overwrite 1-8 bytes with JSON-significant bytes.
      const n = 1 + int(8);
      for (let k = 0; k < n; k++) b[int(b.length)] = pick(STRUCTURAL);
      return { bytes: b, how: `${n} structural bytes` };
    }
    case 1: {
      // Overwrite 1-8 bytes with anything, including invalid UTF-8 and NUL.
      const n = 1 + int(8);
      for (let k = 0; k < n; k++) b[int(b.length)] = int(256);
      return { bytes: b, how: `${n} random bytes` };
    }
    case 2: {
      // Flip one bit.
      const at = int(b.length);
      b[at] ^= 1 << int(8);
      return { bytes: b, how: `bit flip at ${at}` };
    }
    case 3: {
      // Delete a run of bytes.
      const at = int(b.length);
      const n = 1 + int(64);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]), how: `delete ${n} at ${at}` };
    }
    default: {
      // Duplicate a run somewhere else.
      const from = int(b.length);
      const n = 1 + int(200);
      const at = int(b.length);
      return { bytes: Buffer.concat([b.subarray(0, at), b.subarray(from, from + n), b.subarray(at)]), how: `copy ${n} from ${from} to ${at}` };
    }
  }
}

describe('loadTrace under fuzzing', () => {
  it('uses a saved trace as the seed', () => {
    expect(original.length).toBeGreaterThan(10_000);
    expect(loadTrace(join(dir, 'base.json'))).toBeTruthy();
    // Tells which base the run used; both are legitimate, the real one is preferred when present.
    expect(typeof real).toBe('boolean');
  });

  it('gives a TraceFileError or a valid trace for every truncation', { timeout: 300_000 }, () => {
    const counts = new Map<Outcome, number>();
    const points = new Set<number>();
    for (let i = 0; i < 300; i++) points.add(i); // every cut in the header
    for (let i = 1; i <= 300; i++) points.add(original.length - i); // every cut near the end
    while (points.size < 2300) points.add(int(original.length));
    for (const n of points) {
      const o = attempt(original.subarray(0, n), `truncated to ${n} of ${original.length} bytes (seed ${SEED})`);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    // A cut file is never a valid trace, except when only the trailing newline went.
    expect(counts.get('valid') ?? 0).toBe(1);
    expect(counts.get('truncated')).toBeGreaterThan(2000);
    expect(counts.get('empty')).toBe(1);
  });

  it('gives a TraceFileError or a valid trace for every corruption', { timeout: 300_000 }, () => {
    const counts = new Map<Outcome, number>();
    for (let i = 0; i < 3000; i++) {
      const { bytes, how } = corrupt(original);
      const o = attempt(bytes, `corruption #${i}: ${how} (seed ${SEED})`);
      counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    // The fuzzer reaches every layer: the scanner, JSON.parse and the field checks, and some
    // corruptions (a digit changed inside a number) still leave a valid trace.
    if (process.env.FUZZ_VERBOSE) console.log(original.length, [...counts]);
    for (const code of ['valid', 'truncated', 'invalid-json', 'invalid-field'] as const) {
      expect(counts.get(code) ?? 0, `${code} outcomes in ${JSON.stringify([...counts])}`).toBeGreaterThan(20);
    }
  });

  it('gives a TraceFileError or a valid trace for structured mutations of the parsed JSON', { timeout: 300_000 }, () => {
    const parsed = JSON.parse(original.toString('utf8'));
    const junk: unknown[] = [null, -1, 0, 1.5, '__HUGE__', '', 'x', true, [], {}, [1, 'a'], { a: 1 }];
    const counts = new Map<Outcome, number>();
    for (let i = 0; i < 1000; i++) {
      const o = structuredClone(parsed);
      // Walk to a random object or array and delete or replace one member.
      let node: any = o;
      let path = '';
      for (let depth = 0; depth < 6; depth++) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const k = pick(keys);
        if (typeof node[k] !== 'object' || node[k] === null || rand() < 0.3) {
          path += '.' + k;
          if (rand() < 0.4 && !Array.isArray(node)) delete node[k];
          else node[k] = pick(junk);
          break;
        }
        path += '.' + k;
        node = node[k];
      }
      // 1e999 is valid JSON that parses to Infinity.
      const text = JSON.stringify(o).replace('"__HUGE__"', '1e999');
      const out = attempt(Buffer.from(text), `mutation #${i} at ${path} (seed ${SEED})`);
      counts.set(out, (counts.get(out) ?? 0) + 1);
    }
    expect(counts.get('invalid-field') ?? 0).toBeGreaterThan(100);
  });
});
