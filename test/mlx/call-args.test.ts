// Wrapped layer forwards and mx.fast functions pass a call's arguments on as they are rather than
// gathering them into an array per call (utils.ts callWith). What the wrapped function sees must be
// what it would see unwrapped: as many arguments (a missing one is not an undefined one), the same
// values and `this`; past the fixed count, all of them, through an array.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { registerMlxInstrumentation } from '../../src/instrumentations/mlx/api';
import type { MlxInstrumentation } from '../../src/instrumentations/mlx/instrumentation';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;

let inst: MlxInstrumentation;

beforeAll(() => {
  inst = registerMlxInstrumentation();
  Probe = probe();
});
afterAll(() => inst.disable());

// Defined once the instrumentation is registered (classes extend the nn.Module it patched).
function probe() {
  class Probe extends mlx.nn.Module {
    seen: { count: number; self: unknown; args: unknown[] }[] = [];
    forward(...args: unknown[]) {
      this.seen.push({ count: arguments.length, self: this, args });
      return args[0] ?? mx.zeros([1]);
    }
  }
  return Probe;
}
let Probe: ReturnType<typeof probe>;

describe('arguments through the wrappers', () => {
  it('a layer forward gets its arguments as called, from none to five, and each call is a layer span', () => {
    const p = new Probe();
    const x = mx.ones([2]);
    mx.eval(x);
    inst.takeTrace();
    const calls: unknown[][] = [[], [x], [x, undefined], [x, 1, 'two'], [x, 1, 2, undefined], [x, 1, 2, 3, { four: 4 }]];
    for (const c of calls) p.forward(...c);
    expect(p.seen.map((s) => s.count)).toEqual(calls.map((c) => c.length));
    p.seen.forEach((s, i) => {
      expect(s.self).toBe(p);
      expect(s.args).toHaveLength(calls[i].length);
      s.args.forEach((v, k) => expect(v).toBe(calls[i][k]));
    });
    const t = inst.takeTrace();
    expect(t.spans.filter((s) => s.kind === 'layer' && s.name.includes('Probe'))).toHaveLength(calls.length);
  });

  it('mx.fast functions give what they give untraced, with their arguments as called and past the sixth', () => {
    const x = mx.random.normal([1, 4, 8]);
    const w = mx.ones([8]);
    mx.eval(x, w);
    inst.disable();
    const want = [mx.fast.rmsNorm(x, w, 1e-5), mx.fast.rope(x, 8, false, 10000, 1, 3), mx.fast.rope(x, 8, false, 10000, 1, 3, mx.cpu)];
    mx.eval(...want);
    inst.enable();
    inst.takeTrace();
    // Three arguments, six, and seven (the stream): the last through an array.
    const got = [mx.fast.rmsNorm(x, w, 1e-5), mx.fast.rope(x, 8, false, 10000, 1, 3), mx.fast.rope(x, 8, false, 10000, 1, 3, mx.cpu)];
    mx.eval(...got);
    got.forEach((g, i) => expect(mx.arrayEqual(g, want[i]).item()).toBe(true));
    const t = inst.takeTrace();
    const marked = t.spans.filter((s) => s.kind === 'primitive' && s.attrs?.fast);
    expect(new Set(marked.map((s) => s.attrs!.fast))).toEqual(new Set(['rmsNorm', 'rope']));
    // Each rope call's fallback graph is marked: the one with the stream argument as much as the other.
    const ropes = marked.filter((s) => s.attrs!.fast === 'rope');
    expect(ropes.length % 2).toBe(0);
    expect(ropes.length).toBeGreaterThan(0);
  });
});
