// Calibration runs real MLX work on this machine and stores the figures in a real config file.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import {
  calibratePeaks,
  defaultPeaks,
  loadPeaks,
  savePeaks,
  readPeaksFile,
  peaksFilePath,
  PEAKS_SCHEMA,
  type CalibratedPeaks,
} from '../../src/core/cost/calibrate';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const mx: any = require('@frost-beta/mlx').core;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mlx-trace-peaks-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('calibratePeaks', () => {
  let p: CalibratedPeaks;
  beforeAll(() => {
    p = calibratePeaks(mx, { seconds: 0.5, matmulSize: 256, copyBytes: 16 << 20 });
  }, 120_000);

  it('measures finite positive ceilings with MLX', () => {
    expect(p.source).toBe('calibrated');
    expect(Number.isFinite(p.flops) && p.flops > 0).toBe(true);
    expect(Number.isFinite(p.bandwidth) && p.bandwidth > 0).toBe(true);
  });

  it('derives the figures from the work done and the best time', () => {
    const { matmul, copy } = p.details;
    expect(matmul.n).toBe(256);
    expect(matmul.flops).toBe(2 * 256 ** 3);
    expect(p.flops).toBeCloseTo(matmul.flops / (matmul.bestNs / 1e9), 0);
    expect(copy.bytes).toBe(16 << 20);
    expect(copy.bytesMoved).toBe(2 * (16 << 20)); // read once, written once
    expect(p.bandwidth).toBeCloseTo(copy.bytesMoved / (copy.bestNs / 1e9), 0);
    expect(matmul.reps).toBeGreaterThanOrEqual(3);
    expect(copy.reps).toBeGreaterThanOrEqual(3);
  });
});

describe('peaks.json', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(peaksFilePath({ XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/mlx-trace/peaks.json');
    expect(peaksFilePath({})).toBe(join(homedir(), '.config', 'mlx-trace', 'peaks.json'));
    // A relative XDG path is invalid by the spec and ignored.
    expect(peaksFilePath({ XDG_CONFIG_HOME: 'rel' })).toBe(join(homedir(), '.config', 'mlx-trace', 'peaks.json'));
  });

  it('gives the defaults when nothing is stored', () => {
    const path = join(dir, 'none', 'peaks.json');
    expect(loadPeaks(path)).toEqual(defaultPeaks());
    expect(defaultPeaks().source).toBe('default');
    expect(readPeaksFile(path)).toBeNull();
  });

  it('stores and reloads calibrated peaks with the machine they came from', () => {
    const path = join(dir, 'cfg', 'mlx-trace', 'peaks.json');
    const peaks = { flops: 12.5e9, bandwidth: 3.25e9, source: 'calibrated' as const };
    expect(savePeaks(peaks, path)).toBe(path);
    expect(loadPeaks(path)).toEqual(peaks);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    expect(f.schema).toBe(PEAKS_SCHEMA);
    expect(f.host.cpus).toBeGreaterThan(0);
  });

  it("ignores figures measured on another machine's CPU", () => {
    const path = join(dir, 'other.json');
    savePeaks({ flops: 1e12, bandwidth: 1e11, source: 'calibrated' }, path);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    f.host.cpuModel = 'Some Other CPU';
    writeFileSync(path, JSON.stringify(f));
    expect(loadPeaks(path)).toEqual(defaultPeaks());
  });

  it.each([
    ['invalid JSON', '{', /: invalid JSON: run `mlx-trace calibrate` again$/],
    ['another file', '{"schema":"x"}', /: not an mlx-trace peaks file \(schema "x", expected 'mlx-trace-peaks\/1'\)$/],
    ['bad figures', JSON.stringify({ schema: PEAKS_SCHEMA, peaks: { flops: -1, bandwidth: 1, source: 'calibrated' }, host: { cpuModel: 'x', cpus: 1 } }), /'peaks' needs positive/],
  ])('falls back to the defaults on %s, and readPeaksFile says why in one line', (_n, text, msg) => {
    const path = join(dir, 'broken.json');
    writeFileSync(path, text);
    expect(loadPeaks(path)).toEqual(defaultPeaks());
    expect(() => readPeaksFile(path)).toThrow(msg);
    expect(existsSync(path)).toBe(true);
  });
});

describe('calibratePeaks options', () => {
  it('refuses a time budget that is not a number, in one line', () => {
    expect(() => calibratePeaks(mx, { seconds: Number('abc') })).toThrow('calibratePeaks: seconds must be a number >= 0, got NaN');
  });
});
