import { trace as otelTrace, TraceFlags, type Context, type TracerProvider } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { TensorInfo } from '../../core/model/trace';
import { isMlxArray, setMlxClasses } from './op-shapes';
import { objectArray } from '../../core/record/arrays';

/** core functions that are not ops: evaluation, devices, streams, transforms, I/O. */
export const NOT_OPS = new Set([
  'eval', 'asyncEval', 'defaultDevice', 'setDefaultDevice', 'defaultStream', 'setDefaultStream', 'newStream',
  'toStream', 'synchronize', 'stream', 'issubdtype', 'load', 'save', 'saveSafetensors', 'saveGGUF', 'jvp', 'vjp',
  'valueAndGrad', 'grad', 'vmap', 'compile', 'disableCompile', 'enableCompile', 'random.seed', 'random.key',
]);

/** Array methods that build no op: sync points (wrapped as such), `at` (an indexing helper). */
export const NOT_ARRAY_OPS = new Set(['constructor', 'item', 'tolist', 'toString', 'at']);

const COST_NAMES: Record<string, string> = {
  matmul: 'Matmul', addmm: 'AddMM', conv1d: 'Convolution', conv2d: 'Convolution', conv3d: 'Convolution',
  convGeneral: 'Convolution', quantizedMatmul: 'QuantizedMatmul', 'fast.rmsNorm': 'RMSNorm', 'fast.layerNorm': 'LayerNorm',
  'fast.rope': 'RoPE', 'fast.scaledDotProductAttention': 'ScaledDotProductAttention', sum: 'Reduce', mean: 'Reduce',
  max: 'Reduce', min: 'Reduce', prod: 'Reduce', cumsum: 'Scan', cumprod: 'Scan', take: 'Gather', concatenate: 'Concatenate',
  reshape: 'Reshape', transpose: 'Transpose', broadcastTo: 'Broadcast', astype: 'AsType', where: 'Select',
};

/** Inputs in the order of the primitive the op builds (addmm(c, a, b) builds AddMM{a, b, c}). */
export function primitiveOrder(name: string, inputs: TensorInfo[]): TensorInfo[] {
  return name === 'addmm' && inputs.length === 3 ? [inputs[1], inputs[2], inputs[0]] : inputs;
}

/** The primitive class a JS-level op most likely builds, for pricing it. */
export function jsOpCostName(name: string): string {
  return COST_NAMES[name] ?? name.charAt(0).toUpperCase() + name.slice(1);
}

/** Calls `visit` with each MLX array among a call's arguments or results (one level into arrays and plain objects). */
function eachArrayIn(v: unknown, visit: (a: unknown) => void, depth: number): void {
  if (v == null || typeof v !== 'object') return;
  if (isMlxArray(v)) {
    visit(v);
    return;
  }
  if (depth > 2) return;
  if (Array.isArray(v)) for (const x of v) eachArrayIn(x, visit, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const k in v) eachArrayIn((v as any)[k], visit, depth + 1);
}

/** The MLX arrays among a call's arguments or results, as a new array. */
export function arraysIn(v: unknown): unknown[] {
  const out: unknown[] = [];
  eachArrayIn(v, (a) => out.push(a), 0);
  return out;
}

/**
 * The MLX arrays of a call, gathered into one array kept from call to call for a native call that
 * reads them and keeps none. Its slots past the arrays hold null, which the native side skips:
 * emptying the array instead (length = 0) would drop its room, and every call would grow it anew.
 */
export class ArraySlots {
  readonly slots: unknown[] = objectArray();
  private n = 0;
  private readonly put = (a: unknown): void => {
    if (this.n < this.slots.length) this.slots[this.n] = a;
    else this.slots.push(a);
    this.n++;
  };

  /** The arrays in `v`, in slots (null past them) until clear(). */
  fill(v: unknown): unknown[] {
    eachArrayIn(v, this.put, 0);
    return this.slots;
  }

  /** The arrays among n arguments a..f as callWith() takes them, in slots until clear(). */
  fillArgs(n: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): unknown[] {
    if (n < 0) return this.fill(a);
    if (n > 0) eachArrayIn(a, this.put, 1);
    if (n > 1) eachArrayIn(b, this.put, 1);
    if (n > 2) eachArrayIn(c, this.put, 1);
    if (n > 3) eachArrayIn(d, this.put, 1);
    if (n > 4) eachArrayIn(e, this.put, 1);
    if (n > 5) eachArrayIn(f, this.put, 1);
    return this.slots;
  }

  /** Lets go of the arrays (the slots stay). */
  clear(): void {
    for (let i = 0; i < this.n; i++) this.slots[i] = null;
    this.n = 0;
  }
}

/**
 * Calls `f` on `self` with n (0-6) arguments a..f; with n = -1, with the arguments in the array a.
 * Wrappers on hot paths pass a call's arguments on this way rather than gathering them into an array
 * per call (docs/design.md, "Garbage a token").
 */
export function callWith(fn: (...args: any[]) => unknown, self: unknown, n: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): unknown {
  switch (n) {
    case 0:
      return fn.call(self);
    case 1:
      return fn.call(self, a);
    case 2:
      return fn.call(self, a, b);
    case 3:
      return fn.call(self, a, b, c);
    case 4:
      return fn.call(self, a, b, c, d);
    case 5:
      return fn.call(self, a, b, c, d, e);
    case 6:
      return fn.call(self, a, b, c, d, e, f);
    default:
      return fn.apply(self, a as unknown[]);
  }
}

/** The arguments callWith() would pass, as an array. */
export function argsOf(n: number, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown): unknown[] {
  return n < 0 ? (a as unknown[]) : [a, b, c, d, e, f].slice(0, n);
}

/**
 * Node's CommonJS module cache. Not `require.cache`: in the ESM bundle (register.mjs, index.mjs) `require`
 * is esbuild's stub and has no cache, while createRequire gives the real, process-wide one.
 */
export function requireCache(): NodeJS.Dict<NodeJS.Module> {
  return createRequire(__filename).cache;
}

/** node-mlx as the app loaded it, if it did. */
export function mlxModuleFromCache(): any {
  const cache = requireCache();
  for (const key of Object.keys(cache)) {
    if (/[\\/]@frost-beta[\\/]mlx[\\/]lib[\\/]index\.js$/.test(key)) {
      const ex: any = cache[key]!.exports;
      if (ex && ex.core) {
        setMlxClasses(ex.core);
        return ex;
      }
    }
  }
  return null;
}

// Once per process, whichever copy of this module (preload bundle, app bundle) registers first.
const NATIVE_SAID = Symbol.for('mlx-trace.native-unavailable-said');

/** One line on stderr: what timing the app gets instead, and why. */
export function sayNativeUnavailable(reason: string): void {
  const g = globalThis as unknown as Record<symbol, boolean>;
  if (g[NATIVE_SAID]) return;
  g[NATIVE_SAID] = true;
  process.stderr.write(`mlx-trace: per-primitive timing unavailable, timing at JS level (op build times, not run times): ${reason}\n`);
}

export function sampled(ctx: Context): boolean {
  const span = otelTrace.getSpan(ctx);
  return span === undefined || (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The no-op provider the API's proxy last delegated to: asked by identity, not by class name. */
let noopDelegate: unknown = null;

/**
 * The app's global TracerProvider, or undefined while it registers none. Asked at every traced eval
 * and layer call until one is registered: a no-op delegate seen once is recognised by identity
 * (reading a class's name costs V8 a walk of its scope info).
 */
export function globalProvider(): TracerProvider | undefined {
  const p: any = otelTrace.getTracerProvider();
  const delegate = typeof p.getDelegate === 'function' ? p.getDelegate() : p;
  if (!delegate || delegate === noopDelegate) return undefined;
  if (delegate.constructor?.name !== 'NoopTracerProvider') return p;
  noopDelegate = delegate;
  return undefined;
}


export function mlxVersion(mlx: any): string {
  try {
    const cache = requireCache();
    for (const key of Object.keys(cache)) {
      if (/[\\/]@frost-beta[\\/]mlx[\\/]package\.json$/.test(key)) return (cache[key]!.exports as any).version;
    }
    const path = Object.keys(cache).find((k) => /[\\/]@frost-beta[\\/]mlx[\\/]lib[\\/]index\.js$/.test(k));
    if (path) return createRequire(path)('../package.json').version;
  } catch {
    /* unknown */
  }
  return mlx ? 'unknown' : 'none';
}

/** The exports object of node-mlx's nn/layers/base.js, whose Module property nn.Module reads through. */
export function baseModuleExports(Module: unknown): any {
  const cache = requireCache();
  for (const key of Object.keys(cache)) {
    if (!/[\\/]nn[\\/]layers[\\/]base\.js$/.test(key)) continue;
    const ex: any = cache[key]!.exports;
    if (ex && ex.Module === Module) return ex;
  }
  return null;
}
