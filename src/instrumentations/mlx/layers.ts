/**
 * Layer spans: node-mlx runs a layer through its class's `forward`, so every nn.Module subclass's
 * forward is wrapped to open a layer span, named by the module's path in its model and its class.
 * Classes an app defines later extend a subclass of nn.Module that instruments them as they are
 * built; load-order.ts handles those defined before registration.
 */
import type { HookLayer } from '../../core/record/native';
import type { LiveSpan, Recorder } from '../../core/record/recorder';
import type { OpenSpan } from '../../core/record/layer-log';
import { LoadOrder } from './load-order';
import type { Patcher } from './patcher';
import { argsOf, arraysIn, baseModuleExports, callWith } from './utils';

type AnyFn = (...args: any[]) => any;

/** What layer tracing reads of the instrumentation. */
export interface LayersHost {
  _on: boolean;
  _recorder: Recorder | null;
  _hook: HookLayer | null;
  _epoch: number;
  _stack: OpenSpan[];
  _stackModules: unknown[];
  /** Every class whose forward is wrapped, so a re-enable wraps them again (disable unwraps all). */
  _instrumentedClasses: Set<Function>;
  _untracedNow(): boolean;
  _applyUnsampled(orig: AnyFn, thisArg: unknown, args: unknown[]): unknown;
  _parentId(): number | null;
  _innermostLayer(): OpenSpan | undefined;
  _runIn<T>(span: LiveSpan, fn: () => T, module?: unknown, after?: (out: T) => void): T;
  _callLayer(name: string, orig: AnyFn, module: unknown, build: Uint32Array, n: number, a?: unknown, b?: unknown, c?: unknown): unknown;
  instrumentModule(model: unknown): void;
}

export class Layers {
  private paths = new WeakMap<object, string>();
  /** Each layer's span name, made once (its path and class) until the paths change. */
  private names = new WeakMap<object, string>();
  private loadOrder: LoadOrder;

  constructor(private readonly host: LayersHost, private readonly patcher: Patcher) {
    this.loadOrder = new LoadOrder(host);
  }

  /** Wraps the forward of every layer class node-mlx exports, and of every class defined from now on. */
  patch(nn: any): void {
    for (const key of Object.keys(nn)) {
      const v = nn[key];
      if (typeof v === 'function' && v.prototype instanceof nn.Module) this.instrumentClass(v);
    }
    // Classes the app defines from now on extend our subclass, which instruments them when the
    // first instance is built; a model built before registration takes instrumentModule().
    const base = baseModuleExports(nn.Module);
    if (!base) return;
    const Orig = base.Module;
    const host = this.host;
    this.loadOrder.patchEntries(this.patcher, Orig.prototype);
    const layers = this;
    class Module extends Orig {
      constructor(...args: unknown[]) {
        super(...args);
        if (host._on) layers.instrumentClass(new.target);
      }
      static [Symbol.hasInstance](o: unknown): boolean {
        return this === Module ? o instanceof Orig : Function.prototype[Symbol.hasInstance].call(this, o);
      }
    }
    this.patcher.set(base, 'Module', Module);
  }

  instrumentClass(ctor: Function): void {
    const classes = this.host._instrumentedClasses;
    if (!ctor || (classes.has(ctor) && this.patcher.isWrapped(ctor.prototype?.forward))) return;
    classes.add(ctor);
    for (let p = ctor.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      if (Object.prototype.hasOwnProperty.call(p, 'forward')) this.wrapForward(p);
    }
  }

  /** Forgets `model`'s paths and every layer name: its tree is walked again at its next forward. */
  forget(model: object): void {
    this.paths.delete(model);
    this.names = new WeakMap();
  }

  /**
   * A layer's forward takes up to three arguments in the loops people profile (x, mask, cache), and
   * they are passed on as they are rather than gathered into an array per call: a decode loop makes
   * ~30 layer calls a token, and recording should add no garbage of its own to each (docs/design.md,
   * "Garbage a token"). More arguments go through an array.
   */
  private wrapForward(proto: object): void {
    const host = this.host;
    const layers = this;
    this.patcher.wrap<AnyFn>(proto, 'forward', (orig) => {
      const withArray = function (this: any, ...args: unknown[]) {
        if (host._untracedNow()) return host._applyUnsampled(orig, this, args);
        return layers.trace(orig, this, -1, args);
      };
      return function (this: any, a?: unknown, b?: unknown, c?: unknown) {
        if (!host._on || !host._recorder) return orig.apply(this, arguments as never);
        const n = arguments.length;
        if (n > 3) return withArray.apply(this, arguments as never);
        if (host._untracedNow()) return host._applyUnsampled(orig, this, argsOf(n, a, b, c));
        return layers.trace(orig, this, n, a, b, c);
      };
    });
  }

  /** A layer call with n arguments a, b, c (n = -1: the arguments are the array a). */
  private trace(orig: AnyFn, module: any, n: number, a?: unknown, b?: unknown, c?: unknown): unknown {
    const host = this.host;
    const rec = host._recorder!;
    const depth = host._stack.length;
    // super.forward() from an overriding class: one layer, not two.
    if (depth && host._stackModules[depth - 1] === module) return callWith(orig, module, n, a, b, c);
    const parentLayer = host._innermostLayer();
    if (!parentLayer) {
      this.ensurePaths(module);
      if (!this.paths.get(module)) this.loadOrder.checkRoot(module);
    }
    const hook = host._hook;
    const build = hook?.buildState;
    // Arrays are tagged with this layer as node-mlx makes them (native wrap hook).
    if (build) return host._callLayer(this.layerName(module), orig, module, build, n, a, b, c);
    const args = argsOf(n, a, b, c);
    // What the arguments' graphs hold was built by the caller, not by this layer (the walk at
    // forward's return must not reach them).
    if (hook) hook.binding.tagGraph(arraysIn(args), parentLayer ? parentLayer.id : 0, host._epoch);
    const span = rec.begin('layer', this.layerName(module), host._parentId());
    return host._runIn(span, () => orig.apply(module, args), module, (out) => {
      if (hook) hook.binding.tagGraph(arraysIn(out), span.id, host._epoch);
    });
  }

  private ensurePaths(root: any): void {
    if (this.paths.has(root) || typeof root.namedModules !== 'function') return;
    for (const [name, m] of root.namedModules()) if (!this.paths.has(m) || name) this.paths.set(m, name);
    this.paths.set(root, '');
    this.names = new WeakMap();
  }

  private layerName(module: any): string {
    const known = this.names.get(module);
    if (known !== undefined) return known;
    const cls = module?.constructor?.name ?? 'Module';
    const path = this.paths.get(module);
    const name = path ? `${path} (${cls})` : cls;
    this.names.set(module, name);
    return name;
  }
}
