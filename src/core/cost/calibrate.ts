/**
 * The roofline's two ceilings for this machine, measured with MLX itself: peak FLOP/s and memory
 * bandwidth. Stored once per machine in $XDG_CONFIG_HOME/mlx-trace/peaks.json (~/.config/... without
 * XDG) so every trace can carry the figures it was drawn with; defaultPeaks() stands in until
 * `mlx-trace calibrate` (or the first profile, measurePeaksOnce) has measured them.
 *
 * The method (measurePeaks): short float32 matmuls and vector adds run under the profiler, and the
 * ceilings are the best rates of their primitive spans, timed by the native hooks as every op of a
 * trace is, with FLOPs and bytes from the same cost model. calibratePeaks, the older public function,
 * times large kernels from JavaScript around mx.eval instead; its figures include the eval's own cost.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic-file';
import { cpus, homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Peaks, Span } from '../model/trace';
import { formatShape } from '../model/units';

/** The few node-mlx functions calibration uses (`require('@frost-beta/mlx').core`). */
export interface CalibrationMlx {
  random: { normal(shape: number[]): unknown };
  matmul(a: unknown, b: unknown): unknown;
  add(a: unknown, b: unknown): unknown;
  /** Ends measurePeaks' kernel chains (a chain's last result is then an intermediate too). */
  sum?(a: unknown): unknown;
  eval(...arrays: unknown[]): void;
  /** RoPE, whose element-wise ops write into buffers MLX hands on inside the op (see measurePeaks). */
  fast?: { rope?(a: unknown, dims: number, traditional: boolean, base: number, scale: number, offset: number): unknown };
}

/** The kernel spans measurePeaks took its ceilings from. */
export interface KernelDetails {
  /**
   * Which set of kernels measured the figures (MEASURE_KERNELS): a stored set older than measurePeaks' own is
   * measured again by measurePeaksOnce. Absent: the first set, whose bandwidth came from sums made from JS alone.
   */
  kernels?: number;
  /** Timed rounds; each runs every kernel once. */
  rounds: number;
  /** The fastest Matmul span per FLOP: its time and FLOPs, and how many Matmul spans were timed. */
  matmul: { spans: number; bestNs: number; flops: number };
  /**
   * The fastest element-wise span per byte (Add, Subtract, Multiply): its time, bytes moved and op (name and
   * input shapes), and how many such spans were timed.
   */
  add: { spans: number; bestNs: number; bytes: number; op: string };
}

export interface MeasuredPeaks extends Peaks {
  details: KernelDetails;
}

export interface MeasureOptions {
  /** Seconds of timed rounds (at least 8 rounds run, whatever the budget; setup and a warm-up come on top). @default 1 */
  seconds?: number;
}

/** Runs `work` under the profiler and returns the spans it recorded (the primitives are what count). */
export type RecordSpans = (work: () => void) => Span[];

export interface CalibrateOptions {
  /**
   * Time budget in seconds for each of the two measurements (each still does its minimum reps,
   * and the warm-ups come on top).
   * @default 1
   */
  seconds?: number;
  /**
   * Side of the square float32 matmul. By default the largest of 256, 512, 1024, 2048 whose single
   * run fits in 1/8 of the budget, so a slow BLAS does not turn calibration into minutes.
   */
  matmulSize?: number;
  /** Size in bytes of the array copied for bandwidth: larger than the last-level cache. @default 64 MiB */
  copyBytes?: number;
}

export interface CalibrationDetails {
  matmul: { n: number; reps: number; bestNs: number; flops: number };
  copy: { bytes: number; reps: number; bestNs: number; bytesMoved: number };
}

export interface CalibratedPeaks extends Peaks {
  details: CalibrationDetails;
}

const MIN_REPS = 3;

// node-mlx frees an array's buffer in its wrapper's finalizer, which only runs once the event loop
// turns: inside this synchronous call every output stays allocated. The reps of each measurement
// are capped so their outputs hold at most OUTPUT_CAP bytes, all released right after return.
const OUTPUT_CAP = 7 * 64 * 2 ** 20;
const maxReps = (outputBytes: number, atMost: number) => Math.max(MIN_REPS, Math.min(atMost, Math.floor(OUTPUT_CAP / outputBytes) - 1));

/** Times fn at least MIN_REPS times and until the budget is spent (at most maxReps); best time in ns. */
function bestOf(fn: () => void, budgetNs: number, maxReps: number): { bestNs: number; reps: number } {
  const until = process.hrtime.bigint() + BigInt(Math.round(budgetNs));
  let best = Infinity;
  let reps = 0;
  while (reps < MIN_REPS || (process.hrtime.bigint() < until && reps < maxReps)) {
    const t0 = process.hrtime.bigint();
    fn();
    const dt = Number(process.hrtime.bigint() - t0);
    if (dt < best) best = dt;
    reps++;
  }
  return { bestNs: Math.max(1, best), reps };
}

const time = (fn: () => void): number => {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0);
};

/**
 * Measures this machine's peak FLOP/s and memory bandwidth with MLX, timing a large float32 matmul and
 * a large copy from JavaScript around mx.eval, without the profiler. Runs on MLX's default device (the
 * CPU in a CPU build). Takes about 2 x `seconds` plus the warm-ups. Its figures include each eval's own
 * cost, so small ops of a trace can read above them: `mlx-trace calibrate` and the first profile measure
 * with measurePeaks, which the profiler times.
 */
export function calibratePeaks(mx: CalibrationMlx, opts: CalibrateOptions = {}): CalibratedPeaks {
  const seconds = opts.seconds ?? 1;
  if (!(Number.isFinite(seconds) && seconds >= 0)) throw new RangeError(`calibratePeaks: seconds must be a number >= 0, got ${seconds}`);
  const copyBytes = opts.copyBytes ?? 64 * 2 ** 20;
  const budgetNs = seconds * 1e9;

  // Compute ceiling: C = A·B costs 2·n³ FLOPs (one multiply and one add per term). Each size's
  // first run doubles as the warm-up (thread pool start, first-touch allocation).
  const square = (n: number) => {
    const a = mx.random.normal([n, n]);
    const b = mx.random.normal([n, n]);
    mx.eval(a, b);
    return () => mx.eval(mx.matmul(a, b));
  };
  let n = opts.matmulSize ?? 256;
  let run = square(n);
  let once = time(run);
  while (opts.matmulSize == null && n < 2048 && once * 8 * 8 < budgetNs) {
    // Twice the side is ~8x the work: grow while that still fits 1/8 of the budget.
    n *= 2;
    run = square(n);
    once = time(run);
  }
  // Small matrices get more reps: on a busy machine the best of many short runs is the one nobody interrupted.
  const mm = bestOf(run, budgetNs, maxReps(n * n * 4, n <= 256 ? 400 : 50));
  const flops = (2 * n ** 3) / (mm.bestNs / 1e9);

  // Bandwidth ceiling: out = x + 0 reads x once and writes out once, so it moves 2·size bytes.
  const elems = Math.max(1, Math.floor(copyBytes / 4));
  const x = mx.random.normal([elems]);
  mx.eval(x);
  const copy = () => mx.eval(mx.add(x, 0));
  copy(); // warm-up
  const cp = bestOf(copy, budgetNs, maxReps(elems * 4, 200));
  const bytesMoved = 2 * elems * 4;
  const bandwidth = bytesMoved / (cp.bestNs / 1e9);

  return {
    flops,
    bandwidth,
    source: 'calibrated',
    details: {
      matmul: { n, reps: mm.reps, bestNs: mm.bestNs, flops: 2 * n ** 3 },
      copy: { bytes: elems * 4, reps: cp.reps, bestNs: cp.bestNs, bytesMoved },
    },
  };
}

/**
 * The guess used before calibration: 50 GFLOP/s and 10 GB/s, about what MLX's CPU backend reaches
 * on a few cores of a current x86 or ARM server (float32 BLAS matmul; single-threaded element-wise
 * copies). Deliberately modest: it only places the roofline until `mlx-trace calibrate` runs.
 */
export function defaultPeaks(): Peaks {
  return { flops: 50e9, bandwidth: 10e9, source: 'default' };
}

export const PEAKS_SCHEMA = 'mlx-trace-peaks/1';

/** What peaks.json holds: the figures, and the machine and method they came from. */
export interface PeaksFile {
  schema: typeof PEAKS_SCHEMA;
  peaks: Peaks;
  measuredAt: string;
  host: { cpuModel: string; cpus: number; hostname: string; platform: string; arch: string };
  /** What the figures were taken from: measurePeaks' kernel spans, or calibratePeaks' timed runs. */
  details?: KernelDetails | CalibrationDetails;
}

/** $XDG_CONFIG_HOME/mlx-trace/peaks.json, or ~/.config/mlx-trace/peaks.json. */
export function peaksFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.config');
  return join(base, 'mlx-trace', 'peaks.json');
}

function thisHost(): PeaksFile['host'] {
  const c = cpus();
  return { cpuModel: c[0]?.model ?? 'unknown', cpus: c.length, hostname: hostname(), platform: process.platform, arch: process.arch };
}

/** Writes the peaks (with the machine they were measured on) to peaks.json; returns the path. */
export function savePeaks(peaks: Peaks | MeasuredPeaks | CalibratedPeaks, path: string = peaksFilePath()): string {
  const { flops, bandwidth, source } = peaks;
  const file: PeaksFile = {
    schema: PEAKS_SCHEMA,
    peaks: { flops, bandwidth, source },
    measuredAt: new Date().toISOString(),
    host: thisHost(),
    ...('details' in peaks ? { details: peaks.details } : {}),
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n');
  return path;
}

/**
 * Reads peaks.json; throws an Error whose message is one line naming the file and the problem.
 * Returns null when there is no file.
 */
export function readPeaksFile(path: string = peaksFilePath()): PeaksFile | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new Error(`${path}: invalid JSON: run \`mlx-trace calibrate\` again`);
  }
  const f = o as Partial<PeaksFile>;
  if (typeof o !== 'object' || o === null || f.schema !== PEAKS_SCHEMA) {
    throw new Error(`${path}: not an mlx-trace peaks file (schema ${JSON.stringify(f?.schema)}, expected '${PEAKS_SCHEMA}')`);
  }
  const p = f.peaks;
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (!p || !positive(p.flops) || !positive(p.bandwidth) || (p.source !== 'calibrated' && p.source !== 'default')) {
    throw new Error(`${path}: 'peaks' needs positive 'flops' and 'bandwidth' and a 'source'`);
  }
  if (!f.host || typeof f.host.cpuModel !== 'string' || typeof f.host.cpus !== 'number') {
    throw new Error(`${path}: 'host' needs 'cpuModel' and 'cpus'`);
  }
  return f as PeaksFile;
}

/**
 * The peaks for this machine: the stored calibration when there is a valid one measured on this
 * CPU model and core count (a home directory shared between machines must not lend one machine's
 * figures to another), else defaultPeaks(). Never throws.
 */
export function loadPeaks(path: string = peaksFilePath()): Peaks {
  return storedPeaks(path).peaks;
}

/** loadPeaks' figures, and the details of the file they came from (undefined for defaults). */
function storedPeaks(path: string): { peaks: Peaks; details?: PeaksFile['details'] } {
  try {
    const f = readPeaksFile(path);
    const h = thisHost();
    if (f && f.host.cpuModel === h.cpuModel && f.host.cpus === h.cpus) {
      return { peaks: { flops: f.peaks.flops, bandwidth: f.peaks.bandwidth, source: f.peaks.source }, details: f.details };
    }
  } catch {
    // A broken file means "not calibrated"; `mlx-trace calibrate` rewrites it and readPeaksFile says what is wrong.
  }
  return { peaks: defaultPeaks() };
}

/** Whether stored details came from an older set of measurePeaks' kernels (calibratePeaks' figures never do). */
const olderKernels = (d: PeaksFile['details']): boolean => d !== undefined && 'add' in d && (d.kernels ?? 1) < MEASURE_KERNELS;

/** Wall-clock budget of measurePeaksOnce, in seconds: short enough to run unasked at the first profile. */
export const AUTO_BUDGET_SECONDS = 2;

export interface AutoPeaksOptions {
  /** The config's `peaks` (MlxInstrumentationConfig.peaks): when given, nothing is measured and they are used. */
  peaks?: Peaks;
  /** Where stored peaks are read and new ones written. @default peaksFilePath() */
  path?: string;
  /** Looked at for MLX_TRACE_PEAKS=off and CI. @default process.env */
  env?: NodeJS.ProcessEnv;
  /** Total wall-clock budget in seconds, at most AUTO_BUDGET_SECONDS. @default AUTO_BUDGET_SECONDS */
  budgetSeconds?: number;
  /**
   * Runs the work under the profiler and returns its spans: the ceilings are the best rates of the calibration
   * kernels as the native hooks time them (measurePeaks), the same clock every op of a trace is read with.
   */
  record: RecordSpans;
}

export interface AutoPeaksResult {
  peaks: Peaks;
  /** 'config', 'stored' (a calibration of this machine was on disk), 'measured' (just now, and stored) or 'skipped'. */
  from: 'config' | 'stored' | 'measured' | 'skipped';
  /** Why nothing was measured ('MLX_TRACE_PEAKS=off', 'CI', or why measuring or storing failed), for one log line. */
  reason?: string;
  /** Where the measured peaks were stored. */
  path?: string;
  /** Wall time of the measurement in ms. */
  ms?: number;
}

const truthy = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';

/**
 * The peaks for the first profile on a machine: the config's `peaks` if given; else a stored calibration of this
 * machine; else, unless MLX_TRACE_PEAKS=off or CI is set (CI machines are shared and vary run to run), a brief
 * measurement (within budgetSeconds, at most 2 s) that is stored where `mlx-trace calibrate` stores its figures, so
 * it runs once per machine. Never throws: a failed measurement or a read-only config folder leaves the defaults
 * (or the figures measured) and says why in `reason`.
 *
 * Meant to be called once before the first trace is recorded (at registration or by the demo), not on a hot path:
 * `cfg.peaks ?? measurePeaksOnce(mlx.core).peaks`.
 */
export function measurePeaksOnce(mx: CalibrationMlx, opts: AutoPeaksOptions): AutoPeaksResult {
  if (opts.peaks) return { peaks: opts.peaks, from: 'config' };
  const env = opts.env ?? process.env;
  const path = opts.path ?? peaksFilePath(env);
  if ((env.MLX_TRACE_PEAKS ?? '').toLowerCase() === 'off') return { peaks: loadPeaks(path), from: 'skipped', reason: 'MLX_TRACE_PEAKS=off' };
  const { peaks: stored, details } = storedPeaks(path);
  if (stored.source === 'calibrated' && !olderKernels(details)) return { peaks: stored, from: 'stored' };
  if (truthy(env.CI)) return { peaks: stored, from: 'skipped', reason: 'CI' };
  const budget = Math.min(AUTO_BUDGET_SECONDS, Math.max(0, opts.budgetSeconds ?? AUTO_BUDGET_SECONDS));
  const t0 = process.hrtime.bigint();
  let measured: MeasuredPeaks;
  try {
    // The timed rounds get 40 % of the budget; setup and the warm-up fit in the rest.
    measured = measurePeaks(mx, opts.record, { seconds: budget * 0.4 });
  } catch (e) {
    return { peaks: stored, from: 'skipped', reason: `measuring failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const peaks: Peaks = { flops: measured.flops, bandwidth: measured.bandwidth, source: 'calibrated' };
  try {
    return { peaks, from: 'measured', path: savePeaks(measured, path), ms };
  } catch (e) {
    return { peaks, from: 'measured', reason: `not stored: ${e instanceof Error ? e.message : String(e)}`, ms };
  }
}

/** measurePeaks' set of kernels: 2 added RoPE's element-wise ops to the bandwidth kernels. */
export const MEASURE_KERNELS = 2;

/** The element-wise ops whose bytes/s measurePeaks takes the bandwidth ceiling from. */
const ELEMENTWISE = new Set(['Add', 'Subtract', 'Multiply']);

/**
 * This machine's ceilings: the best rates of short calibration kernels as the profiler times them (`record` runs
 * the work under it): float32 matmuls (64 and 128 square) for FLOP/s and element-wise ops for bytes/s (sums of two
 * float32 vectors of 32 and 64 KiB, and RoPE's products and sums), FLOPs and bytes from the cost model as for every
 * op of a trace. Small on purpose: they run as a trace's ops do, from cache, so no op of the same kind can beat them; a big
 * array's page faults and a long kernel's share of a busy machine would make the ceilings too low. Rounds alternate
 * between the kernels for `seconds` (at least 8 rounds); the best span of each kind is its ceiling. Throws when the
 * spans carry no costed Matmul and element-wise op (the native hook layer is not in use).
 */
export function measurePeaks(mx: CalibrationMlx, record: RecordSpans, opts: MeasureOptions = {}): MeasuredPeaks {
  const seconds = opts.seconds ?? 1;
  if (!(Number.isFinite(seconds) && seconds >= 0)) throw new RangeError(`measurePeaks: seconds must be a number >= 0, got ${seconds}`);
  const square = [64, 128].map((n) => [mx.random.normal([n, n]), mx.random.normal([n, n])]);
  const vectors = [1 << 13, 1 << 14].map((n) => [mx.random.normal([n]), mx.random.normal([n])]);
  // An op made from JS writes its result into memory just mapped (node-mlx keeps every result alive until
  // garbage collection, so MLX cannot hand an input's buffer on to it): with a page fault at ~2.5 µs a
  // page, those sums run at 6-9 GB/s here. Inside one op MLX does hand buffers on: RoPE's products and sums
  // ran at 150-185 GB/s on the same machine (docs/design.md, "Roofline ceilings"). The
  // ceiling is the best of both, so no element-wise op of a trace passes it.
  const rope = mx.fast?.rope ? [[1, 4, 64, 64], [1, 8, 64, 64]].map((shape) => mx.random.normal(shape)) : [];
  mx.eval(...square.flat(), ...vectors.flat(), ...rope);
  // Chains of four ending in a sum: every result is an intermediate whose buffer goes back to the allocator and
  // comes out warm for the next one, as inside a model (results kept alive would each be fresh, page-faulting memory).
  const sum = (v: unknown) => (mx.sum ? mx.sum(v) : v);
  const chain = (op: (p: unknown, q: unknown) => unknown, p: unknown, q: unknown) => sum(op(op(op(op(p, q), q), q), q));
  const work = () => {
    for (const [a, b] of square) mx.eval(chain((p, q) => mx.matmul(p, q), a, b));
    for (const [x, y] of vectors) mx.eval(chain((p, q) => mx.add(p, q), x, y));
    for (const x of rope) mx.eval(sum(mx.fast!.rope!(x, 64, false, 10000, 1, 0)));
  };
  work(); // warm-up
  const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let flops = 0, bandwidth = 0, rounds = 0;
  const matmul = { spans: 0, bestNs: 0, flops: 0 };
  const add = { spans: 0, bestNs: 0, bytes: 0, op: '' };
  for (; rounds < 8 || (process.hrtime.bigint() < until && rounds < 400); rounds++) {
    for (const s of record(work)) {
      const ns = s.end - s.start;
      if (s.kind !== 'primitive' || !(ns > 0)) continue;
      if (s.name === 'Matmul' && s.flops != null && s.flops > 0) {
        matmul.spans++;
        const rate = s.flops / (ns / 1e9);
        if (rate > flops) [flops, matmul.bestNs, matmul.flops] = [rate, ns, s.flops];
      }
      if (ELEMENTWISE.has(s.name) && s.bytes != null && s.bytes > 0) {
        add.spans++;
        const rate = s.bytes / (ns / 1e9);
        if (rate > bandwidth) [bandwidth, add.bestNs, add.bytes, add.op] = [rate, ns, s.bytes, `${s.name} ${s.inputs.map((t) => formatShape(t.shape)).join(', ')}`];
      }
    }
  }
  if (!(flops > 0 && bandwidth > 0)) throw new Error('the profiler recorded no costed Matmul and element-wise spans');
  return { flops, bandwidth, source: 'calibrated', details: { kernels: MEASURE_KERNELS, rounds, matmul, add } };
}

/** How every view names the origin of its roofline ceilings: one wording for the HTML report and the terminal. */
export interface CeilingsWording {
  /** Whether the ceilings were measured on the machine that recorded the trace. */
  measured: boolean;
  /** A few words for a card or a table line: 'measured on this machine' or 'defaults: run mlx-trace calibrate'. */
  label: string;
  /** A sentence for a chart's note: where the figures come from and, for defaults, how to measure them. */
  note: string;
}

export function describeCeilings(peaks: Partial<Peaks> | null | undefined): CeilingsWording {
  if (peaks?.source === 'calibrated') {
    return { measured: true, label: 'measured on this machine', note: 'measured on this machine (mlx-trace calibrate)' };
  }
  return {
    measured: false,
    label: 'defaults: run mlx-trace calibrate',
    note: 'defaults, not measured on this machine, so an op drawn above a roof says the guess is off, not the op. ' +
      'Run `mlx-trace calibrate` once to measure them; traces recorded afterwards carry the measured ceilings',
  };
}
