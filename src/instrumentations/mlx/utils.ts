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
