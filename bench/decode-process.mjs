// One side of a process pair for bench/cases/decode.mjs: a whole program that generates with the
// decode loop, traced from the start (registerMlxInstrumentation() defaults) or never registered; or,
// to tell the recording's work from the instrumentation's presence (docs/design.md, "What the step's
// figure is not"), registered and disabled at once (idle).
// Usage: node bench/decode-process.mjs traced|untraced|idle tiny|demo TOKENS RUNS
// Prints {ns, cpuNs, dropped}: the wall and CPU time of each timed generation of TOKENS tokens, after
// two untimed ones. A traced run's trace is taken after it, outside the timing.
import { createRequire } from 'node:module';
import { cpuNs } from './lib.mjs';

const require = createRequire(import.meta.url);
const [side, model, tokensArg, runsArg] = process.argv.slice(2);
const mlx = require('@frost-beta/mlx');
const sdk = require('../dist/index.js');
const { createLlama, generate, TINY_LLAMA, DEMO_LLAMA } = require('../dist/demo.js');

const tokens = Number(tokensArg), runs = Number(runsArg);
if (!['traced', 'untraced', 'idle'].includes(side)) {
  process.stderr.write(`decode-process: side must be traced, untraced or idle, not ${side}\n`);
  process.exit(2);
}
const inst = side === 'untraced' ? null : sdk.registerMlxInstrumentation();
if (side === 'idle') inst.disable();
const llama = createLlama(mlx, model === 'demo' ? DEMO_LLAMA : TINY_LLAMA);
const prompt = [1, 2, 3, 4, 5, 6, 7, 8];
const tick = () => new Promise((r) => setImmediate(r));

const ns = [], cpu = [];
let dropped = 0;
for (let i = 0; i < runs + 2; i++) {
  mlx.core.random.seed(7);
  const c0 = cpuNs();
  const t0 = process.hrtime.bigint();
  generate(mlx, llama, { prompt, tokens });
  const t = Number(process.hrtime.bigint() - t0);
  const c = cpuNs() - c0;
  await tick();
  if (inst) dropped += inst.takeTrace('decode').dropped;
  if (i >= 2) ns.push(t), cpu.push(c);
}
process.stdout.write(JSON.stringify({ ns, cpuNs: cpu, dropped }) + '\n');
