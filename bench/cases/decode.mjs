// Recording's cost where LLM apps spend their time: a decode loop (one small graph per token,
// asyncEval of step n+1 before item() of step n) and small evals of a few hundred primitives.
// The generation figures compare traced with untraced programs run in lockstep (bench/lib.mjs
// `lockstep`); the small-eval figure, traced with untraced runs interleaved in one process.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chainLayer, interleaved, lockstep, pairedStats } from '../lib.mjs';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../../dist/index.js');

const now = () => Number(process.hrtime.bigint());
const tick = () => new Promise((r) => setImmediate(r));
const round = (x, d = 1) => +x.toFixed(d);
/** The upper median: what a side's runs or pairs are summarised by. */
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

const processScript = fileURLToPath(new URL('../decode-process.mjs', import.meta.url));

/**
 * Recording's cost to a generation loop, as a program pays it: `groups` groups of four programs
 * (bench/decode-process.mjs) in lockstep: untraced, traced from the start, untraced again (A/A: what
 * the method reads where nothing differs) and idle (registered and disabled at once: what the
 * instrumentation's presence costs without recording). Each turn is a generation of `tokens` tokens
 * (same seed, so every program does the same work) after an untimed one of `warm` tokens; two
 * untimed rounds first. A group's figure is its traced program's time over its untraced one's, summed
 * over its `rounds` turns (tokens/s over the run). Not traced and untraced runs in one process: a run's garbage
 * (node-mlx frees arrays from GC finalizers) is collected in the runs after it. Not programs one after
 * another: a program's speed then followed when it ran, and when its collections fell within its few
 * generations (docs/design.md, "Measuring a decode loop in lockstep").
 * Returns the overhead in % of tokens/s.
 */
async function generationOverhead(model, tokens, warm, groups, rounds) {
  const sides = ['untraced', 'traced', 'untraced', 'idle'];
  const got = await lockstep({ script: processScript, args: [model, String(tokens), String(warm)], sides, groups, rounds });
  const groupPct = (j, key = 'ns') => got.map((g) => (sum(g[j].map((a) => a[key])) / sum(g[0].map((a) => a[key])) - 1) * 100);
  const pct = (j, key) => pairedStats(groupPct(j, key));
  const tracedPct = groupPct(1);
  const s = pairedStats(tracedPct), cpu = pct(1, 'cpuNs'), aa = pct(2), idle = pct(3);
  const perSide = (j) => got.flatMap((g) => g[j].map((a) => a.ns));
  return {
    value: s.trimmed,
    extra: {
      tokens, warm_tokens: warm, rounds_per_group: rounds,
      tokens_per_s_untraced: Math.round(tokens / (med(perSide(0)) / 1e9)),
      tokens_per_s_traced: Math.round(tokens / (med(perSide(1)) / 1e9)),
      trimmed_ci95_pct: round(s.trimmedCi95), mean_pct: round(s.mean), ci95_pct: round(s.ci95), median_pct: round(s.median),
      cpu_pct: round(cpu.trimmed), cpu_ci95_pct: round(cpu.ci95),
      aa_pct: round(aa.trimmed), aa_ci95_pct: round(aa.ci95),
      idle_pct: round(idle.trimmed), idle_ci95_pct: round(idle.ci95),
      group_pct: tracedPct.map((x) => round(x)),
      groups: s.pairs, dropped: sum(got.flatMap((g) => g[1].map((a) => a.dropped))),
    },
  };
}

export default [
  {
    id: 'sdk.decode_overhead_pct',
    unit: '%',
    goal: 10,
    better: 'lower',
    run: () => generationOverhead('tiny', 400, 30, 10, 24),
  },
  {
    id: 'sdk.decode_step_overhead_pct',
    unit: '%',
    goal: 3,
    better: 'lower',
    // The d=256 demo model's one-token steps, 100 per generation (the step is the unit: ~1 ms each).
    // A turn first generates 30 untimed tokens: the other three programs' turns took the caches, which a
    // program that generates on and on keeps warm.
    run: () => generationOverhead('demo', 100, 30, 24, 20),
  },
  {
    id: 'sdk.small_eval_ns_per_primitive',
    unit: 'ns',
    goal: 250,
    better: 'lower',
    async run() {
      // Evals of 300 primitives built in a layer, 10 per side of a pair, yielding to the event loop
      // after each. What the recording adds while an eval is built and run is in the difference: the
      // wrappers, the drain, the span objects of the eval and layer, tagging, and the allocator hooks
      // of the stream thread's mallocs. node-mlx's frees run from finalizers in the yields, outside
      // the timing: timed with them the trimmed figure read the same (154-164 ns against 156-171)
      // while the mean grew tenfold (docs/design.md, "The small-eval figure"). Many short pairs (400 of
      // 15 ms arms) rather than few long ones (40 of 150 ms): in five runs of each on this VM the
      // figure spread over 480-596 ns against 264-630 ns, in the same time.
      const inst = sdk.registerMlxInstrumentation();
      const { layer, x } = chainLayer(mlx);
      const perEval = 300, evals = 10;
      const once = async () => {
        let ns = 0;
        for (let e = 0; e < evals; e++) {
          const t0 = now();
          mx.eval(layer.forward(x, perEval));
          ns += now() - t0;
          await tick();
        }
        return ns;
      };
      inst.disable();
      for (let i = 0; i < 3; i++) await once();
      const { on, off, onCpu, offCpu } = await interleaved(inst, 400, once, () => inst.takeTrace());
      const s = pairedStats(on.map((t, i) => (t - off[i]) / (evals * perEval)));
      const cpu = pairedStats(onCpu.map((t, i) => (t - offCpu[i]) / (evals * perEval)));
      return {
        value: s.trimmed,
        extra: {
          untraced_ns_per_primitive: Math.round(med(off) / (evals * perEval)),
          trimmed_ci95_ns: Math.round(s.trimmedCi95), mean_ns: Math.round(s.mean), ci95_ns: Math.round(s.ci95), median_ns: Math.round(s.median), pairs: s.pairs,
          cpu_ns: Math.round(cpu.trimmed), cpu_ci95_ns: Math.round(cpu.ci95),
        },
      };
    },
  },
];
