// One program's share of sdk.pipeline_ns_per_primitive (bench/cases/sdk.mjs): recording, takeTrace and
// saveTrace of 1M primitives, timed in this process.
// Usage: node bench/pipeline-process.mjs [ROUNDS PAIRS PER_EVAL] (defaults 5 200 5000)
// Prints one JSON line: the traced-untraced differences of the pairs (ns a primitive), and per round
// the take, save, first read and JSON save (ns a primitive), with what the last round's trace held.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { chainLayer } from './lib.mjs';

const require = createRequire(import.meta.url);
const [roundCount, pairs, perEval] = [process.argv[2] ?? '5', process.argv[3] ?? '200', process.argv[4] ?? '5000'].map(Number);
if (![roundCount, pairs, perEval].every((v) => Number.isInteger(v) && v > 0)) {
  process.stderr.write(`pipeline-process: ROUNDS PAIRS PER_EVAL must be positive whole numbers, not ${process.argv.slice(2).join(' ')}\n`);
  process.exit(2);
}
const mlx = require('@frost-beta/mlx');
const mx = mlx.core;
const sdk = require('../dist/index.js');
// The addon the SDK loaded (the same file, so the same instance): for the size of its tag table.
const native = require('../build/Release/mlx_trace.node');

const now = () => Number(process.hrtime.bigint());

// 1M executed primitives built inside a layer: recording, takeTrace (layer attribution + cost
// model) and saveTrace (to .mlxtrace), minus the same evals untraced. The loop yields to the event loop after
// each eval, as an app does: node-mlx frees arrays from finalizers that run there, so the
// allocator's frees are recorded too.
const dir = mkdtempSync(join(tmpdir(), 'mlx-trace-bench-'));
const inst = sdk.registerMlxInstrumentation({ maxSpans: 3_000_000 });
const { layer, x } = chainLayer(mlx);
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
  for (let r = 0; r < roundCount; r++) {
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
process.stdout.write(JSON.stringify({ diffs, rounds, last, tagTableKb: native.stats().tagTableBytes / 1024 }) + '\n');
