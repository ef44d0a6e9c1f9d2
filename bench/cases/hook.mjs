// Cost of the native hook layer itself: per primitive, on a small transformer forward, per record.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { median } from '../lib.mjs';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const native = require(fileURLToPath(new URL('../../build/Release/mlx_trace.node', import.meta.url)));
const { createTransformer, nextToken } = require('../../dist/demo.js');

const addonPath = readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/).pop()).find((p) => p && p.endsWith('/mlx.node'));
let opened = false;
function hooks(on) {
  if (!opened) {
    const r = native.open(addonPath);
    if (!r.ok) throw new Error(r.reason);
    opened = true;
  }
  if (on) {
    const err = native.attach(true);
    if (err) throw new Error(err);
    native.setRecording(true);
  } else {
    native.setRecording(false);
    native.detach();
  }
}

const now = () => Number(process.hrtime.bigint());

/**
 * A lazy chain of n tiny same-shape adds evaluated at once: n executed primitives (and eval's own
 * Synchronizer). Returns the process CPU time of the eval: the JS thread sleeps while MLX's stream
 * thread works, and CPU time, unlike wall time, is not inflated by other processes on the machine.
 */
function chainRun(x, n) {
  let y = x;
  for (let i = 0; i < n; i++) y = mx.add(y, x);
  const c = process.cpuUsage();
  mx.eval(y);
  const d = process.cpuUsage(c);
  return (d.user + d.system) * 1000;
}

export default [
  {
    id: 'hook.ns_per_primitive',
    unit: 'ns',
    goal: 100,
    better: 'lower',
    async run() {
      // Precise: the hook layer times its own path (trampoline, two timestamps, the record with three
      // arrays' shapes) against a direct call, on fake arrays with the verified layout, 1M calls a run.
      hooks(true);
      const runs = Array.from({ length: 7 }, () => native.benchHook(1_000_000));
      hooks(false);
      // Whole-system check: CPU time of evals of a 1000-add chain, hooks off vs on (noisier).
      const x = mx.ones([16]);
      mx.eval(x);
      const n = 1000;
      for (let i = 0; i < 20; i++) chainRun(x, n);
      const off = [], on = [];
      // A-B then B-A: whatever the previous run leaves behind (frees, caches) hits both sides alike.
      for (let r = 0; r < 100; r++) {
        for (const on_ of r % 2 ? [false, true] : [true, false]) {
          hooks(on_);
          (on_ ? on : off).push(chainRun(x, n));
          hooks(false);
          native.drain();
        }
      }
      hooks(false);
      native.drain();
      return {
        value: median(runs.map((r) => r.primitiveNs)),
        extra: {
          alloc_free_pair_ns: +median(runs.map((r) => r.allocPairNs)).toFixed(1),
          eval_ab_cpu_ns_per_primitive: Math.round((median(on) - median(off)) / (n + 1)),
          untraced_cpu_ns_per_primitive: Math.round(median(off) / (n + 1)),
          ab_primitives_each: 100 * (n + 1),
        },
      };
    },
  },
  {
    id: 'hook.eval_overhead_pct',
    unit: '%',
    goal: 3,
    better: 'lower',
    async run() {
      const model = createTransformer(mlx, { vocab: 1024, dim: 256, layers: 2, heads: 4, hidden: 768 });
      const tokens = mx.array([Array.from({ length: 32 }, (_, i) => i % 1024)], mx.int32);
      const forward = () => {
        const t0 = now();
        mx.eval(model.forward(tokens, model.newCache()));
        return now() - t0;
      };
      for (let i = 0; i < 10; i++) forward();
      const off = [], on = [];
      for (let r = 0; r < 60; r++) {
        hooks(false);
        off.push(forward());
        hooks(true);
        on.push(forward());
        native.drain();
      }
      hooks(false);
      native.drain();
      void nextToken;
      return { value: ((median(on) - median(off)) / median(off)) * 100, extra: { forward_ms_untraced: +(median(off) / 1e6).toFixed(3), forward_ms_traced: +(median(on) / 1e6).toFixed(3) } };
    },
  },
  {
    id: 'buffer.bytes_per_event',
    unit: 'bytes',
    goal: 48,
    better: 'lower',
    async run() {
      // The fixed record; shapes go to the side table, reported beside it.
      const x = mx.ones([4, 8]);
      mx.eval(x);
      hooks(true);
      native.drain();
      chainRun(x, 1000);
      hooks(false);
      const d = native.drain();
      const recordBytes = native.stats().recordBytes;
      return { value: recordBytes, extra: { side_table_bytes_per_event: +((d.words.byteLength) / d.count).toFixed(1), events: d.count } };
    },
  },
];
