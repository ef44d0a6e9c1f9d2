/**
 * Loads the native hook layer and runs its self-probe. Every layout fact the hook layer relies on is
 * compared with what JS can see before a single vtable slot is patched; any mismatch leaves MLX
 * untouched and gives one line saying why, so the SDK falls back to JS-level timing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** MLX's Dtype::Val order, which the hook layer reports as a number. */
export const DTYPE_NAMES = [
  'bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'int64',
  'float16', 'float32', 'bfloat16', 'complex64',
] as const;

export interface NativeBinding {
  open(path: string): { ok: boolean; reason?: string; classes?: string[]; cpuSlot?: number; gpuSlot?: number; memory?: boolean };
  attach(memory: boolean): string;
  detach(): void;
  setRecording(on: boolean): void;
  setCapacity(records: number, words: number): void;
  drain(): { records: ArrayBuffer; words: ArrayBuffer; count: number; dropped: number; generation: number };
  /**
   * The recorder's columns the drains of this JS thread write into, until bound again (native/addon.cc
   * BindColumns): prim [t0, t1, layer, thread, cls, flags, sig], mem [t, delta, live, cls], syncs
   * [row, t0, t1] per completion marker.
   */
  bindColumns(
    prim: [Float64Array, Float64Array, Float64Array, Int32Array, Uint16Array, Uint8Array, Uint32Array],
    mem: [Float64Array, Float64Array, Float64Array, Int16Array],
    syncs: Float64Array,
  ): void;
  /**
   * Drains into the bound columns, from the rows io says on (native/addon.cc DrainColumns): io in
   * [rows, limit, mem rows, mem limit, marker class], out [rows, mem rows, markers, dropped, mem
   * dropped, more (1: call again), signature generation].
   */
  drainColumns(io: Float64Array): void;
  /** The key words of a drain's signature number (native/signatures.h), copied into out; their count, 0 if unknown. */
  signatureKey(num: number, out: Uint32Array): number;
  snapshot(): Buffer;
  inspect(arr: unknown): null | { desc: number; shape?: number[]; size?: number; dtype?: number; itemsize?: number; hasPrimitive?: boolean; status?: number; inputs?: number[] };
  /** Tags the graph behind `arrays` (native/addon.cc TagGraph); with `fast`, an mx.fast call's graph, stopping at its inputs `stops`. */
  tagGraph(arrays: unknown[], tag: number, epoch: number, stops?: unknown[], fast?: number): number;
  /**
   * The native BuildState: [on, layer, epoch, tagged, fast] (u32 each), read and written in place; null
   * unless this thread holds the tag tables (one thread of the process does).
   */
  buildState(): ArrayBuffer | null;
  /** Calls makeArray() and learns which napi_wrap calls are arrays; true when arrays are tagged as made. */
  learnArrayWrap(makeArray: () => unknown): boolean;
  peekDesc(arr: unknown, words: number): number[];
  now(): number;
  /** This thread's clock cell (one float64), which nowInto() fills with what now() would return. */
  nowCell(): ArrayBuffer;
  nowInto(): void;
  tid(): number;
  /** Checks the tag table's copy of its recent answers against the table (native/selftest.h check_tag_table). */
  checkTagTable(seed: number): { checks: number; wrong: number; evicted: number };
  stats(): { liveBytes: number; untrackedFrees: number; tagEvictions: number; tagTableBytes: number; attached: boolean; recording: boolean; threads: number; recordBytes: number; wrapHook: boolean; builtTagged: number };
  getLayout(): Record<string, number>;
  /** Records SIGINT/SIGTERM/SIGHUP-style signals (by number) as they arrive, for a busy JS thread: [pending signal number]. */
  watchSignals(signals: number[]): ArrayBuffer;
  setLayout(l: Partial<Record<'arraySize' | 'shape' | 'size' | 'dtype' | 'primitive' | 'status' | 'inputs', number>>): void;
}

/** The package root, found from this file whether it runs from src/ (tests) or dist/ (bundle). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'mlx-trace') return dir;
      } catch {
        /* keep looking */
      }
    }
    dir = dirname(dir);
  }
  return join(__dirname, '..', '..');
}

let cached: { binding: NativeBinding | null; reason: string } | undefined;

/** Where the hook layer runs: it reads ELF symbols and /proc/self/maps of the loaded MLX addon. */
export const NATIVE_PLATFORMS = ['linux-x64', 'linux-arm64'];

/** Loads build/Release/mlx_trace.node once. Never throws: a missing build is a reason, not a crash. */
export function loadBinding(): { binding: NativeBinding | null; reason: string } {
  if (cached) return cached;
  if (!NATIVE_PLATFORMS.includes(`${process.platform}-${process.arch}`)) {
    cached = { binding: null, reason: `no native hook layer for ${process.platform}-${process.arch} (it exists for Linux x64 and arm64)` };
    return cached;
  }
  const file = process.env.MLX_TRACE_NATIVE ?? join(packageRoot(), 'build', 'Release', 'mlx_trace.node');
  if (!existsSync(file)) {
    // The fix as a user's app runs it: the install script builds the addon when cmake and g++ are there.
    cached = { binding: null, reason: `native hook layer not built (${file} missing; install cmake and g++, then run "npm rebuild mlx-trace")` };
    return cached;
  }
  try {
    cached = { binding: createRequire(__filename)(file) as NativeBinding, reason: '' };
  } catch (e) {
    cached = { binding: null, reason: `native hook layer failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
  return cached;
}

/** The path of the MLX addon this process has actually loaded (there may be several copies on disk). */
export function loadedMlxAddon(): string | null {
  try {
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const m = line.match(/\s(\/\S*\/mlx\.node)$/);
      if (m) return m[1];
    }
  } catch {
    /* not Linux */
  }
  return null;
}

export interface HookLayer {
  binding: NativeBinding;
  classes: string[];
  memory: boolean;
  jsThread: number;
  /**
   * When node-mlx's napi_wrap is hooked, each array is tagged with the layer building it as it is
   * made: write [1] (innermost open layer's span id), [2] (epoch) and [4] (the mx.fast function being
   * called) here, and set [0] to 1. Null:
   * layers are tagged by walking their graphs when forward returns (tagGraph).
   */
  buildState: Uint32Array | null;
}

type MlxCore = any;

/** Checks the layout facts against arrays JS can see. Returns '' when every fact holds. */
export function checkLayout(b: NativeBinding, mx: MlxCore): string {
  const cases: Array<[unknown, number[], string]> = [];
  const mk = (shape: number[], dtype: string) => {
    const a = mx.zeros(shape, mx[dtype === 'bool' ? 'bool_' : dtype]);
    cases.push([a, shape, dtype]);
    return a;
  };
  const a = mk([2, 3], 'float32');
  const c = mk([5], 'int32');
  mk([4, 1, 7], 'float16');
  mk([3, 2], 'bfloat16');
  mk([6], 'uint8');
  mk([], 'bool');
  mk([2, 2], 'int64');
  mx.eval(...cases.map((x) => x[0]));
  for (const [arr, shape, dtype] of cases) {
    const r = b.inspect(arr);
    if (!r || !r.desc) return 'napi_unwrap on an MLX array did not give an mlx::core::array';
    const ar = arr as { itemsize: number; size: number };
    if (JSON.stringify(r.shape) !== JSON.stringify(shape)) return `layout: shape read as ${JSON.stringify(r.shape)}, JS says ${JSON.stringify(shape)}`;
    if (DTYPE_NAMES[r.dtype!] !== dtype) return `layout: dtype read as #${r.dtype}, JS says ${dtype}`;
    if (r.itemsize !== ar.itemsize) return `layout: itemsize read as ${r.itemsize}, JS says ${ar.itemsize}`;
    if (r.size !== ar.size) return `layout: size read as ${r.size}, JS says ${ar.size}`;
    if (r.hasPrimitive) return 'layout: an evaluated array still shows a primitive';
    if (!r.status) return 'layout: an evaluated array shows the status of one no eval has taken';
  }
  const lazy = mx.add(a, mx.ones([2, 3]));
  const r = b.inspect(lazy)!;
  const ins = r.inputs ?? [];
  if (!r.hasPrimitive) return 'layout: an unevaluated array shows no primitive';
  // Walks stop at nodes an eval has taken: a status that never reads 0 would stop every walk.
  if (r.status !== 0) return 'layout: an array no eval has taken shows a status other than unscheduled';
  if (ins.length !== 2 || ins[0] !== b.inspect(a)!.desc) return 'layout: the inputs of add(a, b) do not point at a';
  void c;
  return '';
}

/**
 * Opens the loaded MLX addon, checks the layout, patches, and runs a known tiny graph through the
 * hooks. Returns the live hook layer, or a one-line reason and leaves nothing patched.
 */
export function openHookLayer(mx: MlxCore, opts: { memory?: boolean; bufferEvents?: number } = {}): HookLayer | { reason: string } {
  const { binding, reason } = loadBinding();
  if (!binding) return { reason };
  try {
    const path = loadedMlxAddon();
    if (!path) return { reason: 'the MLX addon (mlx.node) is not loaded in this process' };
    const opened = binding.open(path);
    if (!opened.ok) return { reason: opened.reason ?? 'unknown MLX addon' };
    // The checks' verdict holds for as long as the addon and the layout are the same: a re-enable
    // runs no eval of its own.
    const key = `${path}\n${JSON.stringify(binding.getLayout())}`;
    const checked = verified.get(mx) === key;
    if (!checked) {
      const layoutProblem = checkLayout(binding, mx);
      if (layoutProblem) return { reason: layoutProblem };
    }
    if (opts.bufferEvents) binding.setCapacity(opts.bufferEvents, opts.bufferEvents * 24);
    const err = binding.attach(opts.memory !== false);
    if (err) return { reason: err };
    if (!checked) {
      const probe = probeTinyGraph(binding, mx, opened.classes!);
      if (probe) {
        binding.detach();
        return { reason: probe };
      }
      // Which of node-mlx's napi_wrap calls wrap an array: the one whose object JS then unwraps.
      binding.learnArrayWrap(() => mx.ones([1]));
      verified.set(mx, key);
    }
    const state = binding.stats().wrapHook ? binding.buildState() : null;
    const buildState = state ? new Uint32Array(state) : null;
    return { binding, classes: opened.classes!, memory: !!opened.memory, jsThread: binding.tid(), buildState };
  } catch (e) {
    try {
      binding.detach();
    } catch {
      /* nothing patched */
    }
    return { reason: `hook layer probe failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** MLX modules whose layout and probe passed, with the addon path and layout they passed with. */
const verified = new WeakMap<object, string>();

function probeTinyGraph(b: NativeBinding, mx: MlxCore, classes: string[]): string {
  const x = mx.ones([3, 5]);
  const y = mx.full([3, 5], 2);
  mx.eval(x, y);
  b.drain();
  const z = mx.multiply(x, y);
  b.setRecording(true);
  mx.eval(z);
  b.setRecording(false);
  const d = b.drain();
  const dv = new DataView(d.records);
  const words = new Uint32Array(d.words);
  for (let i = 0; i < d.count; i++) {
    const o = i * 48;
    if (dv.getUint8(o + 38) !== 1 || classes[dv.getUint16(o + 36, true)] !== 'Multiply') continue;
    const w = dv.getUint32(o + 44, true);
    const hdr = words[w];
    const shape = [words[w + 3], words[w + 4]];
    if ((hdr & 0xff) !== 2 || shape[0] !== 3 || shape[1] !== 5 || DTYPE_NAMES[(hdr >> 8) & 0xff] !== 'float32')
      return `probe: the Multiply event reads shape ${JSON.stringify(shape)}, expected [3,5] float32`;
    if (Number(dv.getBigUint64(o + 8, true) - dv.getBigUint64(o, true)) < 0) return 'probe: event ends before it begins';
    return '';
  }
  return `probe: evaluating multiply() recorded no Multiply event (${d.count} events): the hooked slot is not the one eval calls`;
}
