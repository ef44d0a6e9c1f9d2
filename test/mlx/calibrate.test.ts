// Calibration runs real MLX work on this machine, timed by the profiler, and stores the figures in a real config
// file; `mlx-trace calibrate` is run as a real process, and a trace recorded afterwards reports the ceilings it stored.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import {
  calibratePeaks,
  defaultPeaks,
  describeCeilings,
  loadPeaks,
  measurePeaks,
  savePeaks,
  readPeaksFile,
  peaksFilePath,
  PEAKS_SCHEMA,
  type MeasuredPeaks,
} from '../../src/core/cost/calibrate';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';
import { loadTrace } from '../../src/core/io/persist';
import { formatSI } from '../../src/core/model/units';
import { buildCli, FIXTURES, runCli } from '../helpers/cli';

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

const finitePositive = (x: number) => Number.isFinite(x) && x > 0;

describe('measurePeaks: the best rates of kernel spans the profiler timed', () => {
  let inst: MlxInstrumentation;
  let p: MeasuredPeaks;
  const record = (work: () => void) => {
    inst.takeTrace();
    work();
    return inst.takeTrace().spans;
  };
  beforeAll(() => {
    inst = registerMlxInstrumentation();
    p = measurePeaks(mx, record, { seconds: 0.3 });
  }, 120_000);
  afterAll(() => inst?.disable());

  it('measures finite positive ceilings, said to be measured on this machine', () => {
    expect(inst.timing).toBe('native');
    expect(p.source).toBe('calibrated');
    expect(finitePositive(p.flops)).toBe(true);
    expect(finitePositive(p.bandwidth)).toBe(true);
    expect(describeCeilings(p)).toMatchObject({ measured: true, label: 'measured on this machine' });
  });

  it('takes each ceiling from its fastest span: FLOPs and bytes from the cost model over the hooks\' time', () => {
    const { rounds, matmul, add } = p.details;
    expect(rounds).toBeGreaterThanOrEqual(8);
    // Per round, two matmul chains and two add chains of four ops each, and two RoPEs' products and sums.
    expect(matmul.spans).toBe(8 * rounds);
    expect(add.spans).toBeGreaterThan(8 * rounds);
    // The 64- or 128-square matmul: 2·n³ FLOPs.
    expect([2 * 64 ** 3, 2 * 128 ** 3]).toContain(matmul.flops);
    expect(add.op).toMatch(/^(Add|Subtract|Multiply) (\d|scalar)/);
    expect(p.flops).toBeCloseTo(matmul.flops / (matmul.bestNs / 1e9), 0);
    expect(p.bandwidth).toBeCloseTo(add.bytes / (add.bestNs / 1e9), 0);
  });

  it('refuses a time budget that is not a number, in one line', () => {
    expect(() => measurePeaks(mx, record, { seconds: Number('abc') })).toThrow('measurePeaks: seconds must be a number >= 0, got NaN');
  });
});

describe('mlx-trace calibrate', () => {
  let dist: string;
  beforeAll(async () => {
    dist = await buildCli('calibrate');
  }, 240_000);
  afterAll(() => {
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  it('measures with the profiler, prints one line per fact, stores them, and a trace recorded afterwards reports them', async () => {
    const config = join(dir, 'xdg');
    const report = (r: { stdout: string }) => r.stdout.replace(/\s+/g, ' ');
    // Before: the report says its ceilings are defaults.
    const before = await runCli(dist, ['run', '--out', join(dir, 'before'), join(FIXTURES, 'mlx-app.js')], { env: { XDG_CONFIG_HOME: config } });
    expect(before.code, before.stderr).toBe(0);
    expect(report(before)).toContain(`The roofline's ceilings are ${describeCeilings(defaultPeaks()).note}.`);

    const r = await runCli(dist, ['calibrate', '--seconds', '0.3'], { env: { XDG_CONFIG_HOME: config } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    const stored = readPeaksFile(join(config, 'mlx-trace', 'peaks.json'))!;
    const { flops, bandwidth, source } = stored.peaks;
    expect(source).toBe('calibrated');
    expect(finitePositive(flops) && finitePositive(bandwidth)).toBe(true);
    const details = stored.details as MeasuredPeaks['details'];
    expect(lines[0]).toBe(`compute:   ${formatSI(flops, 'FLOP/s')} (fastest of ${details.matmul.spans} Matmul spans)`);
    expect(lines[1]).toBe(`bandwidth: ${formatSI(bandwidth, 'B/s')} (fastest of ${details.add.spans} element-wise spans: ${details.add.op})`);
    expect(lines[2]).toBe('ceilings:  measured on this machine');
    expect(lines[3]).toBe(`stored in ${join(config, 'mlx-trace', 'peaks.json')}`);
    expect(flops).toBeCloseTo(details.matmul.flops / (details.matmul.bestNs / 1e9), 0);

    // After: the trace carries the stored figures and its report says they were measured.
    const out = join(dir, 'after');
    const after = await runCli(dist, ['run', '--out', out, join(FIXTURES, 'mlx-app.js')], { env: { XDG_CONFIG_HOME: config } });
    expect(after.code, after.stderr).toBe(0);
    expect(report(after)).toContain(`The roofline's ceilings are ${describeCeilings(stored.peaks).note}.`);
    expect(report(after)).not.toContain(describeCeilings(defaultPeaks()).note);
    const t = loadTrace(join(out, 'trace.mlxtrace'));
    expect(t.meta.peaks).toEqual({ flops, bandwidth, source: 'calibrated' });
  }, 180_000);

  it('refuses a --seconds that is not a number, in one line', async () => {
    const r = await runCli(dist, ['calibrate', '--seconds', 'abc'], { env: { XDG_CONFIG_HOME: join(dir, 'unused') } });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual(['mlx-trace calibrate: --seconds must be a number >= 0, not "abc" (see "mlx-trace calibrate --help")']);
    expect(existsSync(join(dir, 'unused'))).toBe(false);
  }, 60_000);
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

describe('calibratePeaks: the public JS-timed measurement', () => {
  it('derives its figures from the work done and the best time', () => {
    const p = calibratePeaks(mx, { seconds: 0.2, matmulSize: 256, copyBytes: 16 << 20 });
    expect(p.source).toBe('calibrated');
    const { matmul, copy } = p.details;
    expect(matmul.flops).toBe(2 * 256 ** 3);
    expect(p.flops).toBeCloseTo(matmul.flops / (matmul.bestNs / 1e9), 0);
    expect(copy.bytesMoved).toBe(2 * (16 << 20)); // read once, written once
    expect(p.bandwidth).toBeCloseTo(copy.bytesMoved / (copy.bestNs / 1e9), 0);
  }, 60_000);

  it('refuses a time budget that is not a number, in one line', () => {
    expect(() => calibratePeaks(mx, { seconds: Number('abc') })).toThrow('calibratePeaks: seconds must be a number >= 0, got NaN');
  });
});
