// Cost of the SDK around the hook layer: JS wrapping, a traced forward, the whole pipeline per primitive.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { chainLayer, median, pairedStats } from '../lib.mjs';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../../dist/index.js');
const { createTransformer } = require('../../dist/demo.js');
// The addon the SDK loaded (the same file, so the same instance): for the size of its tag table.
const native = require('../../build/Release/mlx_trace.node');

const now = () => Number(process.hrtime.bigint());

function forwardTimer(model, tokens) {
  return () => {
    const t0 = now();
    mx.eval(model.forward(tokens, model.newCache()));
    return now() - t0;
  };
}

export default [
  {
    id: 'js.wrap_ns_per_op',
    unit: 'ns',
    goal: 1000,
    better: 'lower',
    async run() {
      const a = mx.ones([4]);
      mx.eval(a);
      const build = (n) => {
        const t0 = now();
        let y = a;
        for (let i = 0; i < n; i++) y = mx.add(y, a);
        return now() - t0;
      };
      const n = 2000;
      for (let i = 0; i < 20; i++) build(n);
      const off = [], on = [];
      for (let r = 0; r < 60; r++) {
        off.push(build(n));
        const inst = sdk.registerMlxInstrumentation({ native: false });
        on.push(build(n));
        inst.takeTrace();
        inst.disable();
      }
      return { value: (median(on) - median(off)) / n, extra: { unwrapped_ns_per_op: Math.round(median(off) / n) } };
    },
  },
  {
    id: 'sdk.forward_overhead_pct',
    unit: '%',
    goal: 3,
    better: 'lower',
    async run() {
      // The model's classes are created after registration (instrumented), then timed with the
      // instrumentation enabled vs disabled, interleaved; takeTrace() after every traced forward.
      const inst = sdk.registerMlxInstrumentation();
      const model = createTransformer(mlx, { vocab: 1024, dim: 256, layers: 2, heads: 4, hidden: 768 });
      const tokens = mx.array([Array.from({ length: 32 }, (_, i) => i)], mx.int32);
      const fwd = forwardTimer(model, tokens);
      for (let i = 0; i < 10; i++) fwd();
      inst.takeTrace();
      const off = [], on = [], seed = [];
      // The seed's method: an eval after every layer call, to time each layer.
      const seedForward = () => {
        const origs = [];
        for (const m of model.modules()) {
          const f = m.forward;
          origs.push([m, Object.prototype.hasOwnProperty.call(m, 'forward')]);
          m.forward = function (...args) {
            const out = f.apply(this, args);
            mx.eval(out);
            return out;
          };
        }
        try {
          return fwd();
        } finally {
          for (const [m] of origs) delete m.forward;
        }
      };
      for (let r = 0; r < 40; r++) {
        inst.disable();
        off.push(fwd());
        seed.push(seedForward());
        inst.enable();
        on.push(fwd());
        inst.takeTrace();
      }
      inst.disable();
      const pct = ((median(on) - median(off)) / median(off)) * 100;
      return {
        value: pct,
        extra: {
          forward_ms_untraced: +(median(off) / 1e6).toFixed(3),
          forward_ms_traced: +(median(on) / 1e6).toFixed(3),
          seed_method_eval_per_layer_pct: +(((median(seed) - median(off)) / median(off)) * 100).toFixed(1),
        },
      };
    },
  },
  {
    id: 'sdk.pipeline_ns_per_primitive',
    unit: 'ns',
    goal: 500,
    better: 'lower',
    async run() {
      // 1M executed primitives built inside a layer: recording, takeTrace (layer attribution + cost
      // model) and saveTrace (to .mlxtrace), minus the same evals untraced. The loop yields to the event loop after
      // each eval, as an app does: node-mlx frees arrays from finalizers that run there, so the
      // allocator's frees are recorded too. Five rounds of 1M; take and save are their medians.
      const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-bench-'));
      const inst = sdk.registerMlxInstrumentation({ maxSpans: 3_000_000 });
      const { layer, x } = chainLayer(mlx);
      const perEval = 5000, pairs = 200;
      const one = async () => {
        const t0 = now();
        mx.eval(layer.forward(x, perEval));
        const ns = now() - t0;
        await tick();
        return ns;
      };
      inst.disable();
      for (let i = 0; i < 20; i++) await one(); // warm-up
      // Recording's cost: each traced eval is paired with an untraced one next to it (in turn first
      // and second), and the differences are averaged with the 10% tails at each end left out. Here
      // one eval of 5000 primitives varies by ±3 µs per primitive (sd, measured) with the app's
      // garbage collections, and the machine drifts over seconds: pairs cancel the drift, and the
      // trimmed mean keeps a collection that lands in one eval of a pair from deciding the figure.
      // enable() and disable() run between evals, outside the timing (~2 ms a pair; measured).
      const diffs = [];
      const rounds = [];
      let last = null;
      try {
        for (let r = 0; r < 5; r++) {
          inst.enable();
          inst.takeTrace();
          for (let k = 0; k < pairs; k++) {
            let traced, untraced;
            if (k & 1) {
              inst.enable();
              traced = await one();
              inst.disable();
              untraced = await one();
            } else {
              inst.disable();
              untraced = await one();
              inst.enable();
              traced = await one();
            }
            diffs.push((traced - untraced) / perEval);
          }
          inst.enable();
          const t1 = now();
          const trace = inst.takeTrace('pipeline');
          const t2 = now();
          // The binary layout, the one to use for traces this big. takeTrace made no span object: its
          // arrays are made when first read, and the save wrote the recorder's columns. What reading
          // them costs, and the JSON layout's save, are shown beside (not in the total).
          sdk.saveTrace(trace, join(dir, 'trace.mlxtrace'));
          const t3 = now();
          void (trace.spans.length + trace.memory.length);
          const t4 = now();
          sdk.saveTrace(trace, join(dir, 'trace.json'));
          const t5 = now();
          // Counted here: a trace kept across rounds would slow the next round's garbage collections.
          let prims = 0, attributed = 0;
          for (const s of trace.spans) if (s.kind === 'primitive') { prims++; if (s.layer) attributed++; }
          rounds.push({ take: (t2 - t1) / prims, save: (t3 - t2) / prims, read: (t4 - t3) / prims, saveJson: (t5 - t4) / prims });
          if (r === 0) {
            // The file written from the columns holds what the arrays hold.
            const back = sdk.loadTrace(join(dir, 'trace.mlxtrace'));
            if (back.spans.length !== trace.spans.length || back.memory.length !== trace.memory.length || back.spans.at(-1).end !== trace.spans.at(-1).end) {
              throw new Error('the .mlxtrace file does not hold the trace');
            }
          }
          last = { prims, attributed, memory: trace.memory.length, dropped: trace.dropped };
        }
      } finally {
        inst.disable();
        rmSync(dir, { recursive: true, force: true });
      }
      const { trimmed: record, mean, ci95, median: recordMedian } = pairedStats(diffs);
      const take = median(rounds.map((r) => r.take));
      const save = median(rounds.map((r) => r.save));
      const saveJson = median(rounds.map((r) => r.saveJson));
      const read = median(rounds.map((r) => r.read));
      const total = record + take + save;
      return {
        value: total,
        extra: {
          primitives: last.prims,
          memory_events: last.memory,
          attributed_to_layer: last.attributed,
          dropped: last.dropped,
          record_ns: Math.round(record),
          record_mean_ns: Math.round(mean),
          record_mean_ci95_ns: Math.round(ci95),
          record_median_ns: Math.round(recordMedian),
          take_ns: Math.round(take),
          save_ns: Math.round(save),
          first_read_ns: Math.round(read),
          save_json_ns: Math.round(saveJson),
          pairs: diffs.length,
          tag_table_kb: native.stats().tagTableBytes / 1024,
        },
      };
    },
  },
];
