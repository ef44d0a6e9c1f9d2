import { mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { saveTrace } from '../../core/io/persist';
import { formatBytes } from '../../exporters/terminal/format';
import { exportHtml } from '../../exporters/html';
import { DEMO_CONFIG } from '../../demo/transformer';
import { benchModel } from '../../bench/model-bench';
import { formatBenchModel } from '../../bench/tables';
import { Progress, UsageError, colors, out } from '../ui';
import { nonNegativeInt } from './bench-ops';
import { positiveInt } from './demo';
import type { Command } from './index';

export const benchModelCommand: Command = {
  summary: 'benchmark the demo model: prefill/decode tokens/s, latency, peak memory, CPU MHz and temperature',
  help: `Usage: mlx-trace bench-model [--seq 32,128,512] [--iterations N] [--warmup N] [--tokens N] [--out DIR] [--html]

For each sequence length, runs warm-up and measured iterations of: a prefill of that many tokens
through the demo transformer (d=${DEMO_CONFIG.dim}, ${DEMO_CONFIG.layers} layers, random weights), then
decoding tokens one at a time. Prints prefill and decode tokens/s, latency mean ± std and the peak of
live memory seen by the allocator hooks; on Linux also CPU frequency and temperature sampled during
the run, where /sys (or /proc/cpuinfo) can be read. Writes DIR/bench-model.json: one trace with every
iteration, the results in meta.benchModel and the sensors as counter tracks.

Options:
  --seq LIST       prompt lengths, comma-separated (default: 32,128,512)
  --iterations N   measured iterations per length (default: 5)
  --warmup N       warm-up iterations per length (default: 2)
  --tokens N       tokens decoded after each prefill (default: 16)
  --out DIR        output folder (default: mlx-trace-bench)
  --html           also write DIR/bench-model.html`,
  options: {
    seq: { type: 'string' },
    iterations: { type: 'string' },
    warmup: { type: 'string' },
    tokens: { type: 'string' },
    out: { type: 'string', short: 'o' },
    html: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const seqText = String(values.seq ?? '32,128,512');
    const seqs = seqText.split(',').map((s) => positiveInt(s.trim(), '--seq'));
    const iterations = positiveInt(values.iterations ?? '5', '--iterations');
    const warmup = nonNegativeInt(values.warmup ?? '2', '--warmup');
    const tokens = positiveInt(values.tokens ?? '16', '--tokens');
    const outDir = resolve(values.out ?? 'mlx-trace-bench');
    const c = colors();

    const progress = new Progress('bench-model', seqs.length * (warmup + iterations));
    const { trace, bench } = await benchModel({ seqs, iterations, warmup, tokens, onProgress: (done, _t, what) => progress.tick(done, what) });
    progress.done();

    const m = bench.model;
    const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
    out(`demo transformer: d=${m.dim}, ${m.layers} layers, ${m.heads} heads, vocab ${m.vocab}; ${n(iterations, 'iteration')} after ${warmup} warm-up; ${n(tokens, 'decoded token')} each`);
    out(`timing: ${trace.meta.timing === 'native' ? 'native hook layer' : `JS level (${trace.meta.fallbackReason ?? 'no native layer'})`}`);
    out('');
    out(formatBenchModel(bench, c));
    out('');
    out(`peak memory (allocator hooks, whole run): ${bench.peakMemoryBytes === null ? 'no memory events recorded' : formatBytes(bench.peakMemoryBytes)}`);
    out(`cpu frequency: ${bench.sensors.frequency.detail}`);
    out(`temperature: ${bench.sensors.temperature.detail}`);

    mkdirSync(outDir, { recursive: true });
    const files: Array<[string, string]> = [];
    const json = join(outDir, 'bench-model.json');
    saveTrace(trace, json);
    files.push([json, 'the trace: every iteration, results in meta.benchModel, sensors as counter tracks']);
    if (values.html) {
      const html = join(outDir, 'bench-model.html');
      await exportHtml(trace, html);
      files.push([html, 'open in a browser: timeline, roofline, op table']);
    }
    out('');
    out('Files written:');
    for (const [f, what] of files) out(`  ${relative(process.cwd(), f) || f}  ${what}`);
    return 0;
  },
};
