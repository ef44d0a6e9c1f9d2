// Recording's cost where LLM apps spend their time: a decode loop (one small graph per token,
// asyncEval of step n+1 before item() of step n) and small evals of a few hundred primitives.
// The generation figures compare traced with untraced programs, in process pairs; the small-eval
// figure, traced with untraced runs interleaved in one process (bench/lib.mjs).
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chainLayer, interleaved, pairedStats } from '../lib.mjs';

const require = createRequire(import.meta.url);
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../../dist/index.js');

const now = () => Number(process.hrtime.bigint());
const tick = () => new Promise((r) => setImmediate(r));
const round = (x, d = 1) => +x.toFixed(d);
/** The upper median: what a side's runs or pairs are summarised by. */
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const processScript = fileURLToPath(new URL('../decode-process.mjs', import.meta.url));

/** One side's program (bench/decode-process.mjs): the median ns and CPU ns of its timed generations. */
function runProcess(side, model, tokens, runs) {
  const out = spawnSync(process.execPath, [processScript, side, model, String(tokens), String(runs)], { encoding: 'utf8', timeout: 300_000 });
  if (out.status !== 0) throw new Error(`decode-process ${side} ${model} failed: ${(out.stderr || out.error?.message || '').trim().split('\n').pop()}`);
  const r = JSON.parse(out.stdout.trim().split('\n').pop());
  return { ns: med(r.ns), cpu: med(r.cpuNs), dropped: r.dropped };
}

/**
 * Recording's cost to a generation loop, as a program pays it: `pairs` pairs of processes, one traced
 * from the start and one that never registers, each generating `runs` timed times `tokens` tokens
 * (same seed, so both do the same work) after two untimed generations; which goes first alternates.
 * Not traced and untraced runs in one process: a run's garbage (node-mlx frees arrays from GC
 * finalizers) is collected in the runs after it, so a traced run after an untraced one paid for that
 * run's garbage and an untraced run after a traced one ran free of it, and a run's speed followed what
 * ran before it (docs/design.md, "Measuring a decode loop"). Returns the overhead in % of tokens/s.
 */
function generationOverhead(model, tokens, runs, pairs, withIdle = false) {
  const on = [], off = [], onCpu = [], offCpu = [], idle = [];
  let dropped = 0;
  for (let k = 0; k < pairs; k++) {
    for (const side of k & 1 ? ['traced', 'untraced'] : ['untraced', 'traced']) {
      const r = runProcess(side, model, tokens, runs);
      (side === 'traced' ? on : off).push(r.ns);
      (side === 'traced' ? onCpu : offCpu).push(r.cpu);
      dropped += r.dropped;
    }
    // After the pair, so the pair is run as without it.
    if (withIdle) idle.push(runProcess('idle', model, tokens, runs).ns);
  }
  const pct = on.map((t, i) => ((t - off[i]) / off[i]) * 100);
  const s = pairedStats(pct);
  const cpu = pairedStats(onCpu.map((t, i) => ((t - offCpu[i]) / offCpu[i]) * 100));
  const idleStats = withIdle ? pairedStats(idle.map((t, i) => ((t - off[i]) / off[i]) * 100)) : null;
  return {
    value: s.trimmed,
    extra: {
      tokens, runs_per_process: runs,
      tokens_per_s_untraced: Math.round(tokens / (med(off) / 1e9)),
      tokens_per_s_traced: Math.round(tokens / (med(on) / 1e9)),
      mean_pct: round(s.mean), ci95_pct: round(s.ci95), median_pct: round(s.median),
      cpu_pct: round(cpu.trimmed), cpu_ci95_pct: round(cpu.ci95),
      pairs: s.pairs, dropped,
      ...(idleStats ? { idle_pct: round(idleStats.trimmed), idle_ci95_pct: round(idleStats.ci95) } : {}),
    },
  };
}

export default [
  {
    id: 'sdk.decode_overhead_pct',
    unit: '%',
    goal: 10,
    better: 'lower',
    run: () => generationOverhead('tiny', 400, 5, 30),
  },
  {
    id: 'sdk.decode_step_overhead_pct',
    unit: '%',
    goal: 3,
    better: 'lower',
    // The d=256 demo model's one-token steps, 100 per generation (the step is the unit: ~1-2 ms each).
    // 60 pairs: at 30 the 95 % interval was ±2.8-6.7 points, as wide as the goal, and two runs in one
    // hour read 1.1 and 3.2 %. The spread is between processes: how often MLX's stream thread waits
    // for the malloc lock the app's thread holds differs from one process to the next, traced or not
    // (docs/design.md, "Where a decode step's time goes"). Beside it, idle_pct: a process that registers
    // the instrumentation and disables it at once, against the same pair's untraced one; what of the
    // figure a process pays without recording anything ("What the step's figure is not").
    run: () => generationOverhead('demo', 100, 10, 60, true),
  },
  {
    id: 'sdk.small_eval_ns_per_primitive',
    unit: 'ns',
    goal: 250,
    better: 'lower',
    async run() {
      // Evals of 300 primitives built in a layer, 10 per side of a pair, yielding to the event loop
      // after each (node-mlx's frees run from finalizers there, and are recorded). Everything the
      // recording adds on the app's thread is in the difference: the wrappers, the drain, the span
      // objects of the eval and layer, the allocator hooks and tagging. Many short pairs (400 of 15 ms
      // arms) rather than few long ones (40 of 150 ms): in five runs of each on this VM the figure
      // spread over 480-596 ns against 264-630 ns, in the same time.
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
          mean_ns: Math.round(s.mean), ci95_ns: Math.round(s.ci95), median_ns: Math.round(s.median), pairs: s.pairs,
          cpu_ns: Math.round(cpu.trimmed), cpu_ci95_ns: Math.round(cpu.ci95),
        },
      };
    },
  },
];
