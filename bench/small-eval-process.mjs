// One process's share of sdk.small_eval_ns_per_primitive (bench/cases/decode.mjs): traced and untraced
// runs of small evals interleaved in this process (bench/lib.mjs `interleaved`).
// Usage: node bench/small-eval-process.mjs PAIRS [OPTIONS]
// OPTIONS: registerMlxInstrumentation's options as JSON (default {}), e.g. {"memory":false}: what
// recording costs without a part (bench/cases/decode.mjs reports each part's share).
// Prints one JSON line: per pair, the traced run's wall and CPU time less the untraced run's, in ns a
// primitive; the untraced runs' median in ns a primitive; and what one more traced eval recorded
// (primitives, those with a layer, memory events), which says the options took effect.
import { createRequire } from 'node:module';
import { setImmediate as tick } from 'node:timers/promises';
import { chainLayer, interleaved, median } from './lib.mjs';

const require = createRequire(import.meta.url);
const pairs = Number(process.argv[2]);
if (!(pairs > 0)) {
  process.stderr.write(`small-eval-process: PAIRS must be a positive number, not ${process.argv[2]}\n`);
  process.exit(2);
}
let options;
try {
  options = JSON.parse(process.argv[3] ?? '{}');
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new Error();
} catch {
  process.stderr.write(`small-eval-process: OPTIONS must be a JSON object, not ${process.argv[3]}\n`);
  process.exit(2);
}
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../dist/index.js');

const now = () => Number(process.hrtime.bigint());

// Evals of 300 primitives built in a layer, 10 per side of a pair, yielding to the event loop
// after each. What the recording adds while an eval is built and run is in the difference: the
// wrappers, the drain, the span objects of the eval and layer, tagging, and the allocator hooks
// of the stream thread's mallocs. node-mlx's frees run from finalizers in the yields, outside
// the timing: timed with them the trimmed figure read the same (154-164 ns against 156-171)
// while the mean grew tenfold (docs/design.md, "The small-eval figure"). Many short pairs (400 of
// 15 ms arms) rather than few long ones (40 of 150 ms): in five runs of each on this VM the
// figure spread over 480-596 ns against 264-630 ns, in the same time.
const inst = sdk.registerMlxInstrumentation(options);
const { layer, x } = chainLayer(mlx);
const perEval = 300, evals = 10, n = evals * perEval;
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
const { on, off, onCpu, offCpu } = await interleaved(inst, pairs, once, () => inst.takeTrace());
const untraced = median(off) / n;
inst.enable();
inst.takeTrace();
mx.eval(layer.forward(x, perEval));
const trace = inst.takeTrace();
inst.disable();
const prims = trace.spans.filter((s) => s.kind === 'primitive');
process.stdout.write(JSON.stringify({
  wall: on.map((t, i) => (t - off[i]) / n),
  cpu: onCpu.map((t, i) => (t - offCpu[i]) / n),
  untraced,
  recorded: { primitives: prims.length, withLayer: prims.filter((s) => s.layer).length, memory: trace.memory.length },
}) + '\n');
