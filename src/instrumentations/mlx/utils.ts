import { trace as otelTrace, TraceFlags, type Context, type TracerProvider } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { TensorInfo } from '../../core/model/trace';
import { isMlxArray, setMlxClasses } from './op-shapes';

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

/** The MLX arrays among a call's arguments or results (one level into arrays and plain objects). */
export function arraysIn(v: unknown, out: unknown[] = [], depth = 0): unknown[] {
  if (v == null || typeof v !== 'object') return out;
  if (isMlxArray(v)) {
    out.push(v);
    return out;
  }
  if (depth > 2) return out;
  if (Array.isArray(v)) for (const x of v) arraysIn(x, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const k in v) arraysIn((v as any)[k], out, depth + 1);
  return out;
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
