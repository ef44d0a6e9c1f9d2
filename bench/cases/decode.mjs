// Recording's cost where LLM apps spend their time: a decode loop (one small graph per token,
// asyncEval of step n+1 before item() of step n) and small evals of a few hundred primitives.
// The generation figures compare traced with untraced programs run in lockstep (bench/lib.mjs
// `lockstep`); the small-eval figure, traced with untraced runs interleaved in each of several
// programs run one after another.
import { fileURLToPath } from 'node:url';
import { lockstep, median, pairedStats, runProgram } from '../lib.mjs';

const round = (x, d = 1) => +x.toFixed(d);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

const processScript = fileURLToPath(new URL('../decode-process.mjs', import.meta.url));
const smallEvalScript = fileURLToPath(new URL('../small-eval-process.mjs', import.meta.url));

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
  const gcPerToken = (j) => sum(got.flatMap((g) => g[j].map((a) => a.gcNs))) / (got.flatMap((g) => g[j]).length * tokens) / 1e3;
  return {
    value: s.trimmed,
    extra: {
      tokens, warm_tokens: warm, rounds_per_group: rounds,
      tokens_per_s_untraced: Math.round(tokens / (median(perSide(0)) / 1e9)),
      tokens_per_s_traced: Math.round(tokens / (median(perSide(1)) / 1e9)),
      trimmed_ci95_pct: round(s.trimmedCi95), mean_pct: round(s.mean), ci95_pct: round(s.ci95), median_pct: round(s.median),
      cpu_pct: round(cpu.trimmed), cpu_ci95_pct: round(cpu.ci95),
      aa_pct: round(aa.trimmed), aa_ci95_pct: round(aa.ci95),
      idle_pct: round(idle.trimmed), idle_ci95_pct: round(idle.ci95),
      // Garbage collections begun inside the timed generations, µs a token (decode-process.mjs):
      // young collections run node-mlx's finalizers and take tens of ms each, and where they fall
      // (inside a generation or between turns) moves the figure (docs/design.md, "Garbage a token").
      gc_us_per_token_untraced: round(gcPerToken(0), 2), gc_us_per_token_traced: round(gcPerToken(1), 2),
      group_pct: tracedPct.map((x) => round(x)),
      groups: s.pairs, dropped: sum(got.flatMap((g) => g[1].map((a) => a.dropped))),
    },
  };
}

/**
 * Recording's cost per primitive in small evals: `processes` programs (bench/small-eval-process.mjs),
 * each timing `pairs` traced/untraced pairs interleaved in itself. Returns the median of the programs'
 * trimmed means, in ns a primitive, with each program's. The first `splits` programs are each followed
 * by one without the allocator hooks (memory: false) and one without layer tagging (layers: false),
 * in turn, so that drift over the run falls on all three alike: each part's share is the defaults'
 * median less the median without it (a part's cost is what turning it off saves).
 */
function smallEvalOverhead(processes, pairs, splits) {
  const runs = [], noMemory = [], noLayers = [];
  for (let p = 0; p < processes; p++) {
    runs.push(runProgram(smallEvalScript, [String(pairs)]));
    if (p < splits) {
      noMemory.push(runProgram(smallEvalScript, [String(pairs), '{"memory":false}']));
      noLayers.push(runProgram(smallEvalScript, [String(pairs), '{"layers":false}']));
    }
  }
  const trimmedOf = (rs) => rs.map((r) => pairedStats(r.wall).trimmed);
  const wall = runs.map((r) => pairedStats(r.wall));
  const cpu = runs.map((r) => pairedStats(r.cpu).trimmed);
  const all = pairedStats(runs.flatMap((r) => r.wall));
  const value = median(wall.map((s) => s.trimmed));
  const share = (rs) => (rs.length ? Math.round(value - median(trimmedOf(rs))) : null);
  return {
    value,
    extra: {
      process_ns: wall.map((s) => Math.round(s.trimmed)),
      process_ci95_ns: wall.map((s) => Math.round(s.trimmedCi95)),
      untraced_ns_per_primitive: Math.round(median(runs.map((r) => r.untraced))),
      pooled_trimmed_ns: Math.round(all.trimmed), mean_ns: Math.round(all.mean), ci95_ns: Math.round(all.ci95),
      cpu_ns: Math.round(median(cpu)), pairs_per_process: pairs,
      memory_hooks_ns: share(noMemory), layer_tagging_ns: share(noLayers),
      no_memory_process_ns: trimmedOf(noMemory).map(Math.round), no_layers_process_ns: trimmedOf(noLayers).map(Math.round),
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
    // Each process's figure is the trimmed mean of its pairs (bench/small-eval-process.mjs); the
    // value is the median of five processes'. Processes differ by more than one's interval says:
    // four back to back on a quiet machine read 184-235 ns, each good to ±14-26
    // (docs/design.md, "The small-eval figure"). Three of them are followed by programs without the
    // allocator hooks and without layer tagging, for those parts' shares.
    run: () => smallEvalOverhead(5, 200, 3),
  },
];
