/**
 * The roofline's two ceilings for this machine, measured with MLX itself: peak FLOP/s from a large
 * float32 matmul and memory bandwidth from a large element-wise copy. Stored once per machine in
 * $XDG_CONFIG_HOME/mlx-trace/peaks.json (~/.config/... without XDG) so every trace can carry the
 * figures it was drawn with; defaultPeaks() stands in until `mlx-trace calibrate` has run.
 *
 * Both measurements take the best of several timed repetitions after a warm-up: the best run is
 * the one least disturbed by other work, which is what a ceiling should be.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic-file';
import { cpus, homedir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Peaks } from '../model/trace';

/** The few node-mlx functions calibration uses (`require('@frost-beta/mlx').core`). */
export interface CalibrationMlx {
  random: { normal(shape: number[]): unknown };
  matmul(a: unknown, b: unknown): unknown;
  add(a: unknown, b: unknown): unknown;
  eval(...arrays: unknown[]): void;
}

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
// turns: inside this synchronous call every copy output stays allocated. The copy reps are capped
// so that is at most (1 + 6) x copyBytes (~450 MB by default), all released right after return.

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
 * Measures this machine's peak FLOP/s and memory bandwidth with MLX. Runs on MLX's default device
 * (the CPU in a CPU build). Takes about 2 x `seconds` plus the warm-ups.
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
  const mm = bestOf(run, budgetNs, 50);
  const flops = (2 * n ** 3) / (mm.bestNs / 1e9);

  // Bandwidth ceiling: out = x + 0 reads x once and writes out once, so it moves 2·size bytes.
  const elems = Math.max(1, Math.floor(copyBytes / 4));
  const x = mx.random.normal([elems]);
  mx.eval(x);
  const copy = () => mx.eval(mx.add(x, 0));
  copy(); // warm-up
  const cp = bestOf(copy, budgetNs, 6);
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
  details?: CalibrationDetails;
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
export function savePeaks(peaks: Peaks | CalibratedPeaks, path: string = peaksFilePath()): string {
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
  try {
    const f = readPeaksFile(path);
    const h = thisHost();
    if (f && f.host.cpuModel === h.cpuModel && f.host.cpus === h.cpus) {
      return { flops: f.peaks.flops, bandwidth: f.peaks.bandwidth, source: f.peaks.source };
    }
  } catch {
    // A broken file means "not calibrated"; `mlx-trace calibrate` rewrites it and readPeaksFile says what is wrong.
  }
  return defaultPeaks();
}
