// Cost of the SDK around the hook layer: JS wrapping, a traced forward, the whole pipeline per primitive.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { median, pairedStats, runProgram } from '../lib.mjs';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../../dist/index.js');
const { createTransformer } = require('../../dist/demo.js');
const pipelineScript = fileURLToPath(new URL('../pipeline-process.mjs', import.meta.url));

const now = () => Number(process.hrtime.bigint());

function forwardTimer(model, tokens) {
  return () => {
    const t0 = now();
    mx.eval(model.forward(tokens, model.newCache()));
    return now() - t0;
  };
}

/**
 * Recording, take and save per primitive: `programs` runs of bench/pipeline-process.mjs one after
 * another, each with its own figure; returns the median figure, with each program's and the parts.
 */
function pipelineOverhead(programs) {
  const runs = [];
  for (let p = 0; p < programs; p++) {
    const r = runProgram(pipelineScript);
    const part = (k) => median(r.rounds.map((x) => x[k]));
    const s = pairedStats(r.diffs);
    runs.push({ ...r, record: s.trimmed, mean: s.mean, ci95: s.ci95, recordMedian: s.median, take: part('take'), save: part('save'), read: part('read'), saveJson: part('saveJson') });
  }
  const totals = runs.map((r) => r.record + r.take + r.save);
  const mid = (k) => Math.round(median(runs.map((r) => r[k])));
  const last = runs[runs.length - 1].last;
  return {
    value: median(totals),
    extra: {
      program_ns: totals.map((t) => Math.round(t)),
      primitives: last.prims,
      memory_events: last.memory,
      attributed_to_layer: last.attributed,
      dropped: last.dropped,
      record_ns: mid('record'),
      record_mean_ns: mid('mean'),
      record_mean_ci95_ns: mid('ci95'),
      record_median_ns: mid('recordMedian'),
      take_ns: mid('take'),
      save_ns: mid('save'),
      first_read_ns: mid('read'),
      save_json_ns: mid('saveJson'),
      pairs_per_program: runs[0].diffs.length,
      tag_table_kb: runs[0].tagTableKb,
    },
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
    // Each program (bench/pipeline-process.mjs) records 1M primitives per round, five rounds, and
    // times take and save at each; its figure is the trimmed mean of its pairs plus the medians of
    // its take and save. The value is the median of three programs': programs differ by more than
    // one's pairs say (on one evening, runs of one build read 423-640 ns; docs/design.md,
    // "Garbage a token"), as the small-eval figure's did.
    run: () => pipelineOverhead(3),
  },
];
