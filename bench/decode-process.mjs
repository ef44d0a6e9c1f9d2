// One program of a lockstep group (bench/lib.mjs `lockstep`, bench/cases/decode.mjs): generates with
// the decode loop, traced from the start (registerMlxInstrumentation() defaults), never registered
// (untraced), or registered and disabled at once (idle: the instrumentation's presence without its
// recording, docs/design.md "Measuring a decode loop in lockstep").
// Usage: node bench/decode-process.mjs traced|untraced|idle tiny|demo TOKENS WARM
// Prints "ready" once built; then for each line on stdin, one turn: an untimed generation of WARM
// tokens (the caches the other programs' turns took), then a timed one of TOKENS tokens, then the
// trace is taken (outside the timing); prints {ns, cpuNs, gcNs, dropped} of the turn, gcNs the garbage
// collections V8 began inside the timed generation (PerformanceObserver). Ends with stdin.
import { createRequire } from 'node:module';
import { setImmediate as tick } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { PerformanceObserver } from 'node:perf_hooks';
import { cpuNs } from './lib.mjs';

const require = createRequire(import.meta.url);
const [side, model, tokensArg, warmArg] = process.argv.slice(2);
if (!['traced', 'untraced', 'idle'].includes(side)) {
  process.stderr.write(`decode-process: side must be traced, untraced or idle, not ${side}\n`);
  process.exit(2);
}
const tokens = Number(tokensArg), warm = Number(warmArg ?? 0);
if (!(tokens > 0) || !(warm >= 0)) {
  process.stderr.write(`decode-process: TOKENS must be a positive number and WARM a number, not ${tokensArg} ${warmArg}\n`);
  process.exit(2);
}
const mlx = require('@frost-beta/mlx');
const sdk = require('../dist/index.js');
const { createLlama, generate, TINY_LLAMA, DEMO_LLAMA } = require('../dist/demo.js');

const inst = side === 'untraced' ? null : sdk.registerMlxInstrumentation();
if (side === 'idle') inst.disable();
const llama = createLlama(mlx, model === 'demo' ? DEMO_LLAMA : TINY_LLAMA);
const prompt = [1, 2, 3, 4, 5, 6, 7, 8];

// Collections as V8 reports them, [start ms, duration ms], kept until the turn whose timing they fall in reads them.
const collections = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) collections.push([e.startTime, e.duration]);
}).observe({ entryTypes: ['gc'] });

process.stdout.write('ready\n');
for await (const _ of createInterface({ input: process.stdin })) {
  let dropped = 0;
  if (warm > 0) {
    mlx.core.random.seed(7);
    generate(mlx, llama, { prompt, tokens: warm });
    await tick();
    if (inst) dropped += inst.takeTrace('warm').dropped;
  }
  mlx.core.random.seed(7);
  const c0 = cpuNs();
  const p0 = performance.now();
  const t0 = process.hrtime.bigint();
  generate(mlx, llama, { prompt, tokens });
  const ns = Number(process.hrtime.bigint() - t0);
  const p1 = performance.now();
  const c = cpuNs() - c0;
  await tick();
  if (inst) dropped += inst.takeTrace('decode').dropped;
  await tick(); // the observer hears of the generation's collections
  let gcNs = 0;
  for (const [start, ms] of collections) if (start >= p0 && start < p1) gcNs += ms * 1e6;
  collections.length = 0;
  process.stdout.write(JSON.stringify({ ns, cpuNs: c, gcNs: Math.round(gcNs), dropped }) + '\n');
}
