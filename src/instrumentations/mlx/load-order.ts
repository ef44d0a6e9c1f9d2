/**
 * Layers regardless of load order. Classes an app defines before registration extend nn.Module as it
 * was then, so their instances are never seen being built. The first time such a model's weights
 * are reached (parameters(), update(), loadWeights() ... as training and inference apps do before
 * their first forward), its whole tree is instrumented, as under the preload. A model whose first
 * forward comes before any of these gets one line naming inst.instrumentModule(model).
 */
import type { Patcher } from './patcher';

type AnyFn = (...args: any[]) => any;

/** nn.Module methods an app reaches before its first forward: each adopts an uninstrumented model tree. */
const MODULE_ENTRIES = ['parameters', 'trainableParameters', 'update', 'loadWeights', 'train', 'eval', 'apply', 'setDtype', 'freeze', 'unfreeze'];

/** What load-order handling reads of the instrumentation. */
export interface LoadOrderHost {
  _on: boolean;
  /** Every class whose forward is wrapped. */
  _instrumentedClasses: Set<Function>;
  instrumentModule(model: unknown): void;
}

export class LoadOrder {
  private adopting = false;
  /** Layer classes whose root calls were checked for an uninstrumented caller. */
  private checked = new Set<Function>();
  private warned = false;

  constructor(private readonly host: LoadOrderHost) {}

  /** Wraps nn.Module's entry methods on `proto` (the original nn.Module's prototype). */
  patchEntries(patcher: Patcher, proto: object): void {
    const self = this;
    const host = this.host;
    for (const name of MODULE_ENTRIES) {
      patcher.wrap<AnyFn>(proto, name, (orig) =>
        function (this: any, ...args: unknown[]) {
          if (host._on && !self.adopting && !host._instrumentedClasses.has(this?.constructor)) self.adopt(this);
          return orig.apply(this, args);
        },
      );
    }
  }

  private adopt(root: unknown): void {
    this.adopting = true;
    try {
      this.host.instrumentModule(root);
    } catch {
      /* not a module tree we can walk: its layers stay as they are */
    } finally {
      this.adopting = false;
    }
  }

  /**
   * A layer ran with no layer around it. If the forward of an app class that was never instrumented
   * called it, say once how to get its layers. One stack per layer class, the first time it is a root.
   */
  checkRoot(module: any): void {
    const ctor = module?.constructor;
    if (this.warned || !ctor || this.checked.has(ctor)) return;
    this.checked.add(ctor);
    const known = new Set([...this.host._instrumentedClasses].map((c) => c.name));
    for (const m of (new Error().stack ?? '').matchAll(/at (?:async )?([A-Za-z_$][\w$]*)\.forward \(/g)) {
      if (known.has(m[1])) continue;
      this.warned = true;
      process.stderr.write(
        `mlx-trace: layers of ${m[1]} are not traced (its class was defined before registerMlxInstrumentation()); call inst.instrumentModule(model) once after building the model\n`,
      );
      return;
    }
  }
}
