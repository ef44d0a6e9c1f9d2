// bench-ops and bench-model: the op suite on real MLX (function API and CLI subprocess), the
// child-process probe that keeps unsupported ops from aborting the run, and the /sys sensors.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../helpers/cli';
import { benchOps, deviceStatus, type BenchOpsResult } from '../../src/bench/runner';
import { expandCases, OP_FAMILIES, type OpFamily } from '../../src/bench/ops-suite';
import { probeSupport, resolveMlxPath } from '../../src/bench/probe';
import { findSensors, parseSensor, SensorSampler } from '../../src/bench/sysfs';
import { formatBenchOpsDetail, formatBenchOpsFamilies } from '../../src/bench/tables';
import { loadTrace, saveTrace } from '../../src/core/io/persist';
import { childrenIndex, type Span, type Trace } from '../../src/core/model/trace';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

const ROOT = join(__dirname, '../..');
const OUT = join(ROOT, 'test-output', 'bench-ops');
let CLI_DIR = '';
let CLI = '';

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
});

const primitivesUnder = (t: Trace, s: Span): Span[] => {
  const kids = childrenIndex(t);
  const out: Span[] = [];
  const walk = (x: Span) => {
    for (const k of kids.get(x.id) ?? []) {
      if (k.kind === 'primitive') out.push(k);
      walk(k);
    }
  };
  walk(s);
  return out;
};
const passesOf = (t: Trace, s: Span) => (childrenIndex(t).get(s.id) ?? []).filter((p) => p.kind === 'user');

describe('the suite', () => {
  it('has the families the issue lists, each at small, medium and large sizes, with unique case names', () => {
    const names = OP_FAMILIES.map((f) => f.name);
    for (const n of ['matmul', 'conv1d', 'conv2d', 'sdpa', 'rms_norm.fast', 'rms_norm.composed', 'layer_norm.fast', 'layer_norm.composed', 'softmax', 'sum', 'mean', 'max', 'add', 'mul', 'exp', 'gelu', 'take', 'take_along_axis', 'scatter', 'slice_update', 'sort', 'argsort', 'topk', 'concatenate', 'transpose']) {
      expect(names).toContain(n);
    }
    for (const f of OP_FAMILIES) for (const tier of ['small', 'medium', 'large'] as const) expect(f.sizes[tier].length, `${f.name} ${tier}`).toBeGreaterThan(0);
    const cases = expandCases({ sizes: ['small', 'medium', 'large'], dtypes: ['float32'], devices: ['cpu'], compile: true });
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    expect(cases.find((c) => c.family.name === 'matmul' && c.label === '1024x1024x1024')?.name).toBe('matmul 1024x1024x1024 float32 cpu');
    // conv1d has a grouped case (this MLX has groups in 1D only)
    expect(OP_FAMILIES.find((f) => f.name === 'conv1d')!.sizes.medium.some((p) => p.G > 1 && p.S > 1)).toBe(true);
  });

  it('filters by case name; an eager match brings its compiled twin along', () => {
    const cases = expandCases({ sizes: ['small'], dtypes: ['float32'], devices: ['cpu'], compile: true, filter: /^matmul 64x64x64 float32 cpu$/ });
    expect(cases.map((c) => c.name)).toEqual(['matmul 64x64x64 float32 cpu', 'matmul 64x64x64 float32 cpu compiled']);
    expect(expandCases({ sizes: ['small'], dtypes: ['float32'], devices: ['cpu'], compile: false, filter: /^nothing/ })).toEqual([]);
  });
});

describe('benchOps (function API, real MLX)', () => {
  let r: BenchOpsResult;
  beforeAll(async () => {
    r = await benchOps({ filter: /^(matmul 128x256x64|rms_norm\.composed|take |scatter|slice_update|sdpa b1 h4 q32)/, sizes: ['small'], iterations: 2, warmup: 1, compile: true });
  });

  it('runs every selected case, eager and compiled, on the available devices', () => {
    const { bench } = r;
    expect(bench.skipped).toEqual([]);
    const names = bench.cases.map((c) => c.name);
    expect(names).toContain('matmul 128x256x64 float32 cpu');
    expect(names).toContain('matmul 128x256x64 float32 cpu compiled');
    expect(names).toContain('rms_norm.composed 64x256 float32 cpu compiled');
    expect(bench.cases.length).toBe(12);
    // gpu is tried; when it is not there (this Linux build) the reason is reported and nothing ran on it
    const gpu = bench.devices.find((d) => d.device === 'gpu')!;
    expect(gpu).toBeDefined();
    if (!gpu.available) {
      expect(gpu.reason).toMatch(/\S/);
      expect(bench.cases.every((c) => c.device !== 'gpu')).toBe(true);
    }
    expect(bench.devices.find((d) => d.device === 'cpu')!.available).toBe(true);
  });

  it('makes each case a user span named after it, with warm-up and measured passes beneath', () => {
    const { trace, bench } = r;
    for (const c of bench.cases) {
      const span = trace.spans.find((s) => s.id === c.spanId)!;
      expect(span.kind).toBe('user');
      expect(span.name).toBe(c.name);
      expect(span.parentId).toBeNull();
      const passes = passesOf(trace, span);
      expect(passes.map((p) => p.name)).toEqual(['warmup 1', 'pass 1', 'pass 2']);
      expect(passes.map((p) => p.warmup)).toEqual([true, false, false]);
      // everything beneath a pass carries its pass number and warm-up flag
      for (const p of passes) for (const q of primitivesUnder(trace, p)) expect([q.pass, q.warmup]).toEqual([p.pass, p.warmup]);
      expect(c.passes).toBe(2);
      expect(c.warmup).toBe(1);
      // every pass, warm-up included, ran the case's op: MLX primitives beneath each one
      for (const p of passes) expect(primitivesUnder(trace, p).length, `${c.name} ${p.name}`).toBeGreaterThan(0);
      expect(c.primitives).toBeGreaterThanOrEqual(1);
      // the statistics are over the measured passes only
      const measured = passes.filter((p) => !p.warmup).map((p) => p.end - p.start);
      expect(c.timeNs.mean).toBeCloseTo((measured[0] + measured[1]) / 2, 3);
      expect(c.timeNs.min).toBe(Math.min(...measured));
    }
  });

  it('passes each case its own arguments: the primitives beneath carry the case shapes', () => {
    const { trace, bench } = r;
    const prims = (name: string) => primitivesUnder(trace, trace.spans.find((s) => s.id === bench.cases.find((c) => c.name === name)!.spanId)!);
    for (const name of ['matmul 128x256x64 float32 cpu', 'matmul 128x256x64 float32 cpu compiled']) {
      const mm = prims(name).filter((p) => p.name === 'Matmul');
      expect(mm.length).toBe(3); // one per pass, warm-up included
      for (const p of mm) {
        expect(p.inputs.map((i) => i.shape)).toEqual([[128, 256], [256, 64]]);
        expect(p.outputs[0]).toEqual({ shape: [128, 64], dtype: 'float32', bytes: 128 * 64 * 4 });
        expect(p.flops).toBe(2 * 128 * 256 * 64);
      }
    }
    const mmCase = bench.cases.find((c) => c.name === 'matmul 128x256x64 float32 cpu')!;
    expect(mmCase.flops).toBe(2 * 128 * 256 * 64);
    expect(mmCase.flopsPerSec).toBeCloseTo(mmCase.flops! / (mmCase.timeNs.mean / 1e9), 0);
    expect(prims('sdpa b1 h4 q32 k32 d32 float32 cpu').some((p) => p.name === 'Matmul' && p.inputs[0].shape.join('x') === '1x4x32x32')).toBe(true);
    expect(prims('take 1024x32 idx=64 float32 cpu').some((p) => p.name === 'Gather' && p.inputs[0].shape.join('x') === '1024x32')).toBe(true);
    expect(prims('scatter 1024x32 idx=64 float32 cpu').some((p) => p.name === 'Scatter' && p.inputs[0].shape.join('x') === '1024x32')).toBe(true);
    expect(prims('slice_update 256x64 rows=16 float32 cpu').some((p) => p.name === 'SliceUpdate' && p.inputs[1].shape.join('x') === '16x64')).toBe(true);
  });

  it('compiled cases run a fused Compiled primitive and fewer primitives than their eager twin', () => {
    const { trace, bench } = r;
    const eager = bench.cases.find((c) => c.name === 'rms_norm.composed 64x256 float32 cpu')!;
    const compiled = bench.cases.find((c) => c.name === 'rms_norm.composed 64x256 float32 cpu compiled')!;
    expect(compiled.primitives).toBeLessThan(eager.primitives);
    const names = primitivesUnder(trace, trace.spans.find((s) => s.id === compiled.spanId)!).map((p) => p.name);
    expect(names).toContain('Compiled');
    expect(primitivesUnder(trace, trace.spans.find((s) => s.id === eager.spanId)!).map((p) => p.name)).not.toContain('Compiled');
  });

  it('keeps setup work (making the inputs) out of the trace', () => {
    const { trace } = r;
    const roots = childrenIndex(trace).get(null) ?? [];
    expect(roots.every((s) => s.kind === 'user' && typeof s.attrs?.benchCase === 'number')).toBe(true);
    expect(trace.spans.some((s) => s.name === 'RandomBits')).toBe(false);
  });

  it('saves to a file that loadTrace reads back with meta.bench', () => {
    const file = join(OUT, 'api.json');
    saveTrace(r.trace, file);
    const back = loadTrace(file);
    expect((back.meta.bench as any).cases.map((c: any) => c.name)).toEqual(r.bench.cases.map((c) => c.name));
    expect(back.spans.length).toBe(r.trace.spans.length);
  });

  it('prints a detailed table and an average per family, without ANSI when color is off', () => {
    const detail = formatBenchOpsDetail(r.bench);
    expect(detail.split('\n')[0]).toMatch(/^case\s+device\s+dtype\s+compiled\s+mean\s+std\s+min\s+p50\s+GFLOP\/s\s+GB\/s\s+vs eager$/);
    expect(detail).toContain('matmul 128x256x64');
    const fam = formatBenchOpsFamilies(r.bench);
    expect(fam.split('\n').filter((l) => l.startsWith('matmul ')).length).toBe(2); // eager and compiled rows
    expect(detail + fam).not.toMatch(/\x1b\[/);
  });
});

describe('unsupported ops are skipped, not fatal', () => {
  it('the probe survives a child that aborts, blames the op that was running and goes on', () => {
    const mlxPath = resolveMlxPath()!;
    const ok = OP_FAMILIES.find((f) => f.name === 'add')!;
    const aborts: OpFamily = { ...ok, name: 'aborts', op: () => () => process.abort() };
    const throws: OpFamily = { ...ok, name: 'throws', op: () => () => { throw new Error('no such op'); } };
    const failed = probeSupport(mlxPath, 'cpu', 'float32', [
      { key: 'a', family: ok, compiled: false },
      { key: 'b', family: aborts, compiled: false },
      { key: 'c', family: throws, compiled: false },
      { key: 'd', family: ok, compiled: true },
    ]);
    expect([...failed.keys()].sort()).toEqual(['b', 'c']);
    expect(failed.get('b')).toMatch(/crashes the process/);
    expect(failed.get('c')).toBe('no such op');
  });

  it('a float16 run completes; what this MLX cannot run is listed with the reason', async () => {
    // On this CPU build Matmul aborts for half precision ("[Matmul::eval_cpu] Currently only supports float32").
    const { bench } = await benchOps({ filter: /^(matmul 64x64x64|add )/, sizes: ['small'], dtypes: ['float16'], devices: ['cpu'], iterations: 1, warmup: 0 });
    const all = [...bench.cases.map((c) => c.name), ...bench.skipped.map((s) => s.name)].sort();
    expect(all).toEqual(['add 256x256 float16 cpu', 'matmul 64x64x64 float16 cpu']);
    for (const s of bench.skipped) expect(s.reason).toMatch(/\S/);
    expect(bench.cases.map((c) => c.name)).toContain('add 256x256 float16 cpu');
  });

  it('reports a device that cannot evaluate instead of throwing', () => {
    expect(deviceStatus(mx, 'cpu')).toEqual({ device: 'cpu', available: true });
    const gpu = deviceStatus(mx, 'gpu');
    expect(typeof gpu.available).toBe('boolean');
    if (!gpu.available) expect(gpu.reason).toMatch(/gpu/i);
  });
});

describe('sensors', () => {
  const FAKE = join(OUT, 'fake-root');
  beforeAll(() => {
    const put = (p: string, text: string) => {
      mkdirSync(join(FAKE, p, '..'), { recursive: true });
      writeFileSync(join(FAKE, p), text);
    };
    put('sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq', '2400000\n');
    put('sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq', '3000000\n');
    mkdirSync(join(FAKE, 'sys/devices/system/cpu/cpufreq'), { recursive: true });
    put('sys/class/thermal/thermal_zone0/type', 'x86_pkg_temp\n');
    put('sys/class/thermal/thermal_zone0/temp', '47000\n');
    put('sys/class/thermal/thermal_zone1/type', 'broken\n');
    put('sys/class/thermal/thermal_zone1/temp', 'not a number\n');
    put('sys/class/hwmon/hwmon0/name', 'coretemp\n');
    put('sys/class/hwmon/hwmon0/temp1_input', '51500\n');
    put('sys/class/hwmon/hwmon0/temp1_label', 'Package id 0\n');
  });

  it('finds cpufreq, thermal zones and hwmon sensors, skipping unreadable ones', () => {
    const scan = findSensors(FAKE);
    expect(scan.frequency.readable).toBe(true);
    expect(scan.temperature.readable).toBe(true);
    const names = scan.sources.map((s) => s.name);
    expect(names).toEqual(['cpu frequency (mean of 2 cpus)', 'cpu frequency (max of 2 cpus)', 'temperature x86_pkg_temp', 'temperature coretemp Package id 0']);
    const values = scan.sources.map((s) => parseSensor(s.reader, s.files.map((f) => require('node:fs').readFileSync(f, 'utf8'))));
    expect(values).toEqual([2700, 3000, 47, 51.5]);
  });

  it('says "not readable here" when there is nothing to read', () => {
    const scan = findSensors(join(OUT, 'no-such-root'));
    expect(scan.sources).toEqual([]);
    expect(scan.frequency).toEqual({ readable: false, detail: expect.stringContaining('not readable here') });
    expect(scan.temperature).toEqual({ readable: false, detail: expect.stringContaining('not readable here') });
  });

  it('falls back to "cpu MHz" in /proc/cpuinfo for the frequency', () => {
    const root = join(OUT, 'cpuinfo-root');
    mkdirSync(join(root, 'proc'), { recursive: true });
    writeFileSync(join(root, 'proc/cpuinfo'), 'processor\t: 0\ncpu MHz\t\t: 2000.000\n\nprocessor\t: 1\ncpu MHz\t\t: 3000.500\n');
    const scan = findSensors(root);
    expect(scan.sources.map((s) => s.name)).toEqual(['cpu frequency (/proc/cpuinfo)']);
    expect(parseSensor('cpuinfo-mean', [require('node:fs').readFileSync(join(root, 'proc/cpuinfo'), 'utf8')])).toBeCloseTo(2500.25, 6);
  });

  it('samples in a worker thread while the main thread is blocked', async () => {
    const sampler = new SensorSampler(findSensors(FAKE).sources, 10);
    sampler.start();
    await sampler.ready;
    const t0 = Number(process.hrtime.bigint());
    // Busy main thread: only a separate thread can take samples now (one is enough to show it).
    while (Number(process.hrtime.bigint()) - t0 < 500e6);
    const tracks = await sampler.stop();
    expect(tracks.map((t) => t.unit)).toEqual(['MHz', 'MHz', '°C', '°C']);
    const during = tracks[2].samples.filter(([t]) => t > t0 && t < t0 + 500e6);
    expect(during.length).toBeGreaterThan(0);
    expect(tracks[2].samples.every(([, v]) => v === 47)).toBe(true);
  });
});

describe('mlx-trace bench-ops / bench-model (subprocess)', () => {
  beforeAll(async () => {
    // Own build of the package (test/helpers/cli.ts) so tests never race another build of dist/.
    CLI_DIR = await buildCli('bench-ops');
    CLI = join(CLI_DIR, 'cli.js');
  }, 120_000);
  afterAll(() => rmSync(CLI_DIR, { recursive: true, force: true }));

  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: OUT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('bench-ops runs the filtered cases, prints both tables and writes a trace that loads', () => {
    const r = run('bench-ops', '--filter', '^(matmul 64x64x64|softmax)', '--sizes', 'small', '--iterations', '2', '--warmup', '1', '--compile', '--out', 'cli-ops', '--device', 'all');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cpu: available$/m);
    expect(r.stdout).toMatch(/^gpu: (available|unavailable \(.+\))$/m);
    expect(r.stdout).toContain('Detailed results');
    expect(r.stdout).toContain('Average per op family');
    expect(r.stdout).toMatch(/^matmul 64x64x64\s+cpu\s+float32\s+yes\s/m);
    expect(r.stdout).not.toMatch(/\x1b\[/);
    const t = loadTrace(join(OUT, 'cli-ops', 'bench-ops.json'));
    const cases = (t.meta.bench as any).cases as Array<{ name: string; spanId: number }>;
    expect(cases.map((c) => c.name)).toEqual([
      'matmul 64x64x64 float32 cpu',
      'matmul 64x64x64 float32 cpu compiled',
      'softmax 64x256 float32 cpu',
      'softmax 64x256 float32 cpu compiled',
    ]);
    const mm = t.spans.find((s) => s.id === cases[0].spanId)!;
    expect(mm.name).toBe('matmul 64x64x64 float32 cpu');
    expect(primitivesUnder(t, mm).filter((p) => p.name === 'Matmul' && p.inputs[0].shape.join('x') === '64x64').length).toBe(3);
    expect(passesOf(t, mm).filter((p) => p.warmup).map((p) => p.name)).toEqual(['warmup 1']);
  });

  it('bench-ops gives one clear line for bad input', () => {
    for (const [args, msg] of [
      [['--dtype', 'float64'], /--dtype must be float32, float16, bfloat16/],
      [['--filter', '('], /--filter is not a valid regular expression/],
      [['--filter', '^nothing matches this'], /no case matches --filter/],
      [['--iterations', '0'], /--iterations must be a positive whole number/],
      [['--sizes', 'huge'], /--sizes must be small, medium, large/],
    ] as Array<[string[], RegExp]>) {
      const r = run('bench-ops', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(msg);
    }
  });

  it('bench-model prints tokens/s per sequence length and writes meta.benchModel', () => {
    const r = run('bench-model', '--seq', '8,16', '--iterations', '2', '--tokens', '2', '--out', 'cli-model');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/prefill tok\/s/);
    expect(r.stdout).toMatch(/decode tok\/s/);
    expect(r.stdout).toMatch(/^\s+8\s+\d/m);
    expect(r.stdout).toMatch(/^\s+16\s+\d/m);
    expect(r.stdout).toMatch(/^cpu frequency: /m);
    expect(r.stdout).toMatch(/^temperature: /m);
    const t = loadTrace(join(OUT, 'cli-model', 'bench-model.json'));
    const bm = t.meta.benchModel as any;
    expect(bm.seqs.map((s: any) => s.seq)).toEqual([8, 16]);
    for (const s of bm.seqs) {
      expect(s.iterations).toBe(2);
      expect(s.decode.tokens).toBe(4); // 2 iterations x 2 tokens
      expect(s.prefill.tokensPerSec).toBeGreaterThan(0);
      expect(s.decode.tokensPerSec).toBeGreaterThan(0);
      expect(s.peakMemoryBytes).toBeGreaterThan(0);
    }
    // The spans: seq > pass > prefill / token N > eval > primitives
    const seq8 = t.spans.find((s) => s.name === 'seq 8')!;
    const passes = passesOf(t, seq8);
    expect(passes.map((p) => p.name)).toEqual(['warmup 1', 'warmup 2', 'pass 1', 'pass 2']);
    expect((childrenIndex(t).get(passes[2].id) ?? []).map((s) => s.name)).toEqual(['prefill', 'token 1', 'token 2']);
    expect(primitivesUnder(t, passes[2]).some((p) => p.name === 'Matmul' || p.name === 'AddMM')).toBe(true);
    // Counter tracks exist exactly when a sensor was readable, with times inside the run
    const readable = bm.sensors.frequency.readable || bm.sensors.temperature.readable;
    expect(Array.isArray(t.counters) && t.counters.length > 0).toBe(readable);
    for (const c of t.counters ?? []) for (const [ts] of c.samples) expect(ts).toBeGreaterThan(0);
  });
});
