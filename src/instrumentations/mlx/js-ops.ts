/**
 * JS-level timing, for when the native hook layer is not in use: every op of node-mlx (namespace
 * functions such as mx.add and the array's own methods) is wrapped and timed as it is built, or with
 * syncEachOp, as it is built and forced to run.
 */
import type { LiveSpan, Recorder } from '../../core/record/recorder';
import type { OpenSpan } from '../../core/record/layer-log';
import type { Patcher } from './patcher';
import { OpShapes } from './op-shapes';
import { arraysIn, jsOpCostName, primitiveOrder, NOT_ARRAY_OPS, NOT_OPS } from './utils';

type AnyFn = (...args: any[]) => any;

/** What the op wrappers read of the instrumentation, on every call. */
export interface OpsHost {
  _on: boolean;
  _recorder: Recorder | null;
  /** Open JS-side spans, innermost last. */
  _stack: OpenSpan[];
  _untracedNow(): boolean;
}

/** JS-level mode: time every op as it is built (and, with syncEachOp, as it is forced to run). */
export function patchOps(self: OpsHost, patcher: Patcher, core: any, syncEachOp: boolean): void {
  const evalFn = core.eval;
  // Functions of a namespace (mx.add), or with `method`, the array's own methods (a.reshape(),
  // a.sum()), whose array is the first input and which record under the function's name.
  const patchNs = (ns: any, prefix: string, method = false) => {
    for (const key of method ? Object.getOwnPropertyNames(ns) : Object.keys(ns)) {
      const fn = Object.getOwnPropertyDescriptor(ns, key)?.value;
      if (typeof fn !== 'function' || NOT_OPS.has(prefix + key) || /^[A-Z]/.test(key)) continue;
      if (method && NOT_ARRAY_OPS.has(key)) continue;
      const name = prefix + key;
      // One attrs object per op function, shared by its spans (they never change it).
      const attrs = Object.freeze({ phase: syncEachOp ? 'forced-eval' : 'build', costOp: jsOpCostName(name) });
      // The call's input and output infos, memoized by argument shapes (op-shapes.ts).
      const shapes = new OpShapes((inputs) => primitiveOrder(name, inputs));
      patcher.wrap<AnyFn>(ns, key, (orig) => {
        const wrapper = function (this: unknown, ...args: unknown[]) {
          if (!self._on || self._untracedNow()) return orig.apply(this, args);
          const rec = self._recorder!;
          const start = rec.now();
          const out = orig.apply(this, args);
          if (syncEachOp) evalFn(...arraysIn(out));
          const end = rec.now();
          const stack = self._stack;
          let top: OpenSpan | undefined;
          let layer: OpenSpan | undefined;
          if (stack.length > 0) {
            top = stack[stack.length - 1];
            for (let i = stack.length - 1; i >= 0; i--) if (stack[i].kind === 'layer') { layer = stack[i]; break; }
          }
          const io = shapes.io(method ? [this, ...args] : args, out);
          rec.add({
            parentId: top ? top.id : null,
            kind: 'primitive',
            name,
            start,
            end,
            thread: rec.jsThread,
            device: 'cpu',
            inputs: io.inputs,
            outputs: io.outputs,
            layerId: layer ? layer.id : null,
            layer: layer ? layer.name : null,
            attrs,
          });
          return out;
        };
        // mx.array is a class as well as an op: `x instanceof mx.array` (node-mlx's nn.Module tells
        // parameters from submodules that way) must still hold for the arrays it made.
        if (typeof orig.prototype === 'object' && orig.prototype !== null) wrapper.prototype = orig.prototype;
        return wrapper;
      });
    }
  };
  patchNs(core, '');
  for (const sub of ['fast', 'linalg', 'fft', 'random']) if (core[sub]) patchNs(core[sub], sub + '.');
  if (core.array?.prototype) patchNs(core.array.prototype, '', true);
}
