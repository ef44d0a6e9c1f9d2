/**
 * Runs the op suite under the instrumentation and returns ONE trace: a user span per case
 * ('matmul 1024x1024x1024 float32 cpu'), a user span per pass beneath it (warm-ups kept, marked
 * `warmup`), and the primitives MLX ran beneath those. The per-case statistics are computed from the
 * trace itself and stored in trace.meta.bench, so views, the roofline and compare all work on it.
 */
import { loadMlx } from '../core/record/load-mlx';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { activeInstrumentation, registerMlxInstrumentation } from '../instrumentations/mlx/api';
import { markPasses, percentileSorted as percentile } from '../core/analysis/stats';
import { childrenIndex, type Device, type Span, type Trace } from '../core/model/trace';
import { BENCH_DTYPES, expandCases, SIZE_TIERS, type BenchDtype, type OpCase, type Params, type SizeTier } from './ops-suite';
import { probeSupport, resolveMlxPath, type ProbeItem } from './probe';

export interface BenchOpsOptions {
  /** Regular expression over case names ('matmul 1024x1024x1024 float32 cpu'). */
  filter?: string | RegExp;
  /** @default ['float32'] */
  dtypes?: BenchDtype[];
  /** Devices to try; unavailable ones are reported in meta.bench.devices. @default ['cpu', 'gpu'] */
  devices?: Device[];
  /** @default ['medium'] */
  sizes?: SizeTier[];
  /** Also run every case through mx.compile, next to the eager one. @default false */
  compile?: boolean;
  /** Measured passes per case. @default 10 */
  iterations?: number;
  /** Warm-up passes per case, kept in the trace (marked) and left out of the statistics. @default 2 */
  warmup?: number;
  /** Check in a child process which ops this MLX build can run, so unsupported ones are skipped instead of aborting the process. @default true */
  probe?: boolean;
  /** The node-mlx module. @default the one the user's project has, else the one beside mlx-trace */
  mlx?: any;
  /** Trace name. @default 'bench-ops' */
  name?: string;
  /** Called after each case (run or skipped). */
  onProgress?: (done: number, total: number, caseName: string) => void;
}

/** Nanosecond statistics over the measured passes. std is the sample standard deviation (0 for one pass). */
export interface BenchStats {
  mean: number;
  std: number;
  min: number;
  max: number;
  p50: number;
  p95: number;
}

export interface BenchCaseResult {
  name: string;
  family: string;
  label: string;
  params: Params;
  tier: SizeTier;
  device: Device;
  dtype: BenchDtype;
  compiled: boolean;
  /** The case's user span. */
  spanId: number;
  passes: number;
  warmup: number;
  /** Wall time of a pass: building the graph and evaluating it, as a program calling the op sees it. */
  timeNs: BenchStats;
  /** Summed time of the primitives of a pass (mean over passes). */
  primitiveNs: number;
  /** Primitives per pass (mean). Compiled cases have fewer when MLX fuses. */
  primitives: number;
  /** FLOP per pass by the cost model; null when a primitive has no formula. */
  flops: number | null;
  /** 'eager' when a compiled case takes its FLOP count from its eager twin (a fused 'Compiled' primitive has no formula). */
  flopsFrom?: 'eager';
  /** Bytes read + written per pass by the cost model; null when unknown. */
  bytes: number | null;
  /** flops / mean wall time; null when flops is unknown. */
  flopsPerSec: number | null;
  bytesPerSec: number | null;
}

export interface BenchDeviceStatus {
  device: Device;
  available: boolean;
  reason?: string;
}

export interface BenchOpsMeta {
  suite: 'ops';
  iterations: number;
  warmup: number;
  sizes: SizeTier[];
  dtypes: BenchDtype[];
  compile: boolean;
  filter: string | null;
  devices: BenchDeviceStatus[];
  cases: BenchCaseResult[];
  /** Cases not run, with the reason (unsupported by this MLX build, failed). */
  skipped: Array<{ name: string; reason: string }>;
  /** Why ops were not checked in a child process first, when they were not. */
  probeSkipped?: string;
}

export interface BenchOpsResult {
  trace: Trace;
  bench: BenchOpsMeta;
}

/** Runs the suite; the trace holds every case, its results are in trace.meta.bench (also returned as `bench`). */
export async function benchOps(opts: BenchOpsOptions = {}): Promise<BenchOpsResult> {
  const iterations = count(opts.iterations ?? 10, 'iterations', 1);
  const warmup = count(opts.warmup ?? 2, 'warmup', 0);
  const dtypes: BenchDtype[] = [...new Set(opts.dtypes ?? (['float32'] as BenchDtype[]))];
  for (const d of dtypes) if (!BENCH_DTYPES.includes(d)) throw new TypeError(`benchOps: unknown dtype '${d}' (use ${BENCH_DTYPES.join(', ')})`);
  const sizes: SizeTier[] = [...new Set(opts.sizes ?? (['medium'] as SizeTier[]))];
  for (const s of sizes) if (!SIZE_TIERS.includes(s)) throw new TypeError(`benchOps: unknown size '${s}' (use ${SIZE_TIERS.join(', ')})`);
  const wanted = [...new Set(opts.devices ?? (['cpu', 'gpu'] as Device[]))];
  const filter = toRegExp(opts.filter);
  const mlx = opts.mlx ?? loadMlx();
  const mx = mlx.core;

  const devices = wanted.map((d) => deviceStatus(mx, d));
  const usable = devices.filter((d) => d.available).map((d) => d.device);
  const cases = expandCases({ sizes, dtypes, devices: usable, compile: !!opts.compile, filter });
  const skipped: BenchOpsMeta['skipped'] = [];
  const { unsupported, probeSkipped } = opts.probe === false ? { unsupported: new Map<string, string>(), probeSkipped: 'probe: false' } : probeCases(cases);

  const owned = !activeInstrumentation();
  const inst = owned ? registerMlxInstrumentation() : activeInstrumentation()!;
  const rec = inst.recorder;
  const prevDevice = mx.defaultDevice();
  const ran: Array<{ c: OpCase; index: number }> = [];
  let trace: Trace;
  try {
    const start = rec.mark();
    for (const [index, c] of cases.entries()) {
      const why = unsupported.get(probeKey(c));
      if (why) skipped.push({ name: c.name, reason: why });
      else if (await runCase(c, index)) ran.push({ c, index });
      opts.onProgress?.(index + 1, cases.length, c.name);
    }
    trace = rec.take(opts.name ?? 'bench-ops', {}, start);
  } finally {
    mx.setDefaultDevice(prevDevice);
    if (owned) inst.disable();
  }

  async function runCase(c: OpCase, index: number): Promise<boolean> {
    let inputs: any[];
    let fn: (...xs: any[]) => any;
    // Inputs are made and evaluated outside the measured region; their spans are discarded.
    const setup = rec.mark();
    try {
      await collectGarbage();
      mx.setDefaultDevice(mx[c.device]);
      inputs = c.family.inputs(mx, c.params, mx[c.dtype]);
      mx.eval(...inputs);
      const op = c.family.op(mx, mlx.nn, c.params);
      fn = c.compiled ? mx.compile(op) : op;
    } catch (e) {
      skipped.push({ name: c.name, reason: firstLine(e) });
      return false;
    } finally {
      rec.take('setup', {}, setup);
    }
    const total = warmup + iterations;
    // Big cases free each pass's output before the next (see collectGarbage); small ones need not pay for it.
    const big = inputs.reduce((n, a) => n + (Number(a?.nbytes) || 0), 0) >= BIG_CASE_BYTES;
    try {
      await inst.withSpan(
        c.name,
        async () => {
          for (let i = 0; i < total; i++) {
            const warm = i < warmup;
            if (big && i > 0) await collectGarbage();
            // The output is evaluated, so the op really runs; the arguments are the case's own arrays.
            inst.withSpan(warm ? `warmup ${i + 1}` : `pass ${i - warmup + 1}`, () => mx.eval(fn(...inputs)), { pass: i, warmup: warm });
          }
        },
        { benchCase: index, family: c.family.name, size: c.label, dtype: c.dtype, device: c.device, compiled: c.compiled },
      );
      return true;
    } catch (e) {
      skipped.push({ name: c.name, reason: firstLine(e) });
      return false;
    }
  }

  markPasses(trace);
  const results = summarizeCases(trace, ran);
  const bench: BenchOpsMeta = {
    suite: 'ops',
    iterations,
    warmup,
    sizes,
    dtypes,
    compile: !!opts.compile,
    filter: filter ? filter.source : null,
    devices,
    cases: results,
    skipped,
    ...(probeSkipped ? { probeSkipped } : {}),
  };
  trace.meta.bench = bench;
  return { trace, bench };
}

function probeKey(c: Pick<OpCase, 'device' | 'dtype' | 'compiled'> & { family: { name: string } }): string {
  return `${c.device}/${c.dtype}/${c.family.name}/${c.compiled ? 'compiled' : 'eager'}`;
}

/** Asks a child process which (device, dtype, family, compiled) combinations run; see probe.ts. */
function probeCases(cases: OpCase[]): { unsupported: Map<string, string>; probeSkipped?: string } {
  const unsupported = new Map<string, string>();
  if (cases.length === 0) return { unsupported };
  const mlxPath = resolveMlxPath();
  if (!mlxPath) return { unsupported, probeSkipped: 'cannot resolve @frost-beta/mlx for the probe process' };
  const groups = new Map<string, { device: string; dtype: string; items: Map<string, ProbeItem> }>();
  for (const c of cases) {
    const g = `${c.device}/${c.dtype}`;
    let group = groups.get(g);
    if (!group) groups.set(g, (group = { device: c.device, dtype: c.dtype, items: new Map() }));
    const key = probeKey(c);
    if (!group.items.has(key)) group.items.set(key, { key, family: c.family, compiled: c.compiled });
  }
  for (const g of groups.values()) {
    for (const [k, why] of probeSupport(mlxPath, g.device, g.dtype, [...g.items.values()])) unsupported.set(k, why);
  }
  return { unsupported };
}

/** A tiny eval on the device, inside try/catch: this Linux build throws for mx.gpu. */
export function deviceStatus(mx: any, device: Device): BenchDeviceStatus {
  try {
    const d = mx[device];
    if (d === undefined) return { device, available: false, reason: `this MLX has no mx.${device}` };
    mx.eval(mx.add(mx.ones([2]), 1, d));
    return { device, available: true };
  } catch (e) {
    return { device, available: false, reason: firstLine(e) };
  }
}

function summarizeCases(trace: Trace, ran: Array<{ c: OpCase; index: number }>): BenchCaseResult[] {
  const kids = childrenIndex(trace);
  const caseSpans = new Map<number, Span>();
  for (const s of trace.spans) if (s.kind === 'user' && typeof s.attrs?.benchCase === 'number') caseSpans.set(s.attrs.benchCase, s);
  const primitivesUnder = (s: Span, out: Span[]) => {
    for (const k of kids.get(s.id) ?? []) {
      if (k.kind === 'primitive') out.push(k);
      primitivesUnder(k, out);
    }
    return out;
  };
  const results: BenchCaseResult[] = [];
  for (const { c, index } of ran) {
    const span = caseSpans.get(index);
    if (!span) continue;
    // A case span and its passes ran on the case's device (the recorder stamps user spans 'cpu').
    span.device = c.device;
    const passes = (kids.get(span.id) ?? []).filter((s) => s.kind === 'user' && typeof s.attrs?.pass === 'number');
    for (const p of passes) p.device = c.device;
    const measured = passes.filter((p) => !p.warmup);
    if (measured.length === 0) continue;
    const times = measured.map((p) => p.end - p.start);
    let flops: number | null = 0;
    let bytes: number | null = 0;
    let primNs = 0;
    let prims = 0;
    for (const p of measured) {
      for (const q of primitivesUnder(p, [])) {
        prims++;
        primNs += q.end - q.start;
        flops = flops === null || q.flops === null ? null : flops + q.flops;
        bytes = bytes === null || q.bytes === null ? null : bytes + q.bytes;
      }
    }
    const n = measured.length;
    // No primitives seen (JS-level timing cannot see inside a compiled function): cost unknown, not zero.
    if (prims === 0) flops = bytes = null;
    const timeNs = stats(times);
    const perPass = (v: number | null) => (v === null ? null : v / n);
    results.push({
      name: c.name,
      family: c.family.name,
      label: c.label,
      params: c.params,
      tier: c.tier,
      device: c.device,
      dtype: c.dtype,
      compiled: c.compiled,
      spanId: span.id,
      passes: n,
      warmup: passes.length - n,
      timeNs,
      primitiveNs: primNs / n,
      primitives: prims / n,
      flops: perPass(flops),
      bytes: perPass(bytes),
      flopsPerSec: null,
      bytesPerSec: null,
    });
  }
  // A fused 'Compiled' primitive has no FLOP formula; the math is the eager twin's.
  const eager = new Map(results.filter((r) => !r.compiled).map((r) => [`${r.family} ${r.label} ${r.dtype} ${r.device}`, r]));
  for (const r of results) {
    if (r.compiled && r.flops === null) {
      const twin = eager.get(`${r.family} ${r.label} ${r.dtype} ${r.device}`);
      if (twin && twin.flops !== null) {
        r.flops = twin.flops;
        r.flopsFrom = 'eager';
      }
    }
    const sec = r.timeNs.mean / 1e9;
    r.flopsPerSec = r.flops === null || sec <= 0 ? null : r.flops / sec;
    r.bytesPerSec = r.bytes === null || sec <= 0 ? null : r.bytes / sec;
  }
  return results;
}

export function stats(values: number[]): BenchStats {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(variance), min: sorted[0], max: sorted[n - 1], p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95) };
}

function count(v: number, what: string, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new TypeError(`benchOps: ${what} must be a whole number >= ${min}, not ${v}`);
  return v;
}

function toRegExp(f: string | RegExp | undefined): RegExp | undefined {
  if (f === undefined || f instanceof RegExp) return f;
  try {
    return new RegExp(f);
  } catch (e) {
    throw new TypeError(`benchOps: the filter is not a valid regular expression: ${firstLine(e)}`);
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

const BIG_CASE_BYTES = 32 << 20;

let gc: (() => void) | null | undefined;

/**
 * Frees what earlier cases left: node-mlx frees an array's memory in the finalizer of its JS
 * wrapper, which runs only after a collection and a turn of the event loop; V8 does not see that
 * native memory, so a benchmark loop without this grows to gigabytes (13 GB for the medium suite).
 */
export async function collectGarbage(): Promise<void> {
  if (gc === undefined) {
    gc = typeof (globalThis as any).gc === 'function' ? (globalThis as any).gc : null;
    if (!gc) {
      try {
        setFlagsFromString('--expose-gc');
        gc = runInNewContext('gc') as () => void;
      } catch {
        gc = null;
      }
    }
  }
  if (!gc) return;
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

export { loadMlx as loadMlxModule };
export { markPasses };
