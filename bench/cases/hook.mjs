// Cost of the native hook layer itself: per primitive, on a small transformer forward, per record.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const now = () => Number(process.hrtime.bigint());

/** A lazy chain of n tiny adds evaluated at once: n executed primitives, nothing else. */
function chainRun(x, n) {
  let y = x;
  for (let i = 0; i < n; i++) y = mx.add(y, 1);
  const t0 = now();
  mx.eval(y);
  return now() - t0;
}

export default [
  {
    id: 'hook.ns_per_primitive',
    unit: 'ns',
    goal: 100,
    better: 'lower',
    async run() {
      const x = mx.ones([16]);
      mx.eval(x);
      const n = 1000;
      for (let i = 0; i < 20; i++) chainRun(x, n); // warm-up
      const off = [], on = [];
      // Interleave A and B runs so drift of the machine hits both; 200 x 1000 = 200k primitives each.
      for (let r = 0; r < 200; r++) {
        hooks(false);
        off.push(chainRun(x, n));
        hooks(true);
        on.push(chainRun(x, n));
        native.drain();
      }
      hooks(false);
      native.drain();
      const perPrim = (median(on) - median(off)) / (n + 1);
      return { value: perPrim, extra: { untraced_ns_per_primitive: Math.round(median(off) / (n + 1)), primitives_each: 200 * n } };
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
