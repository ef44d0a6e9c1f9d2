import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { registerMlxInstrumentation } from '../../instrumentations/mlx/api';
import { profileGeneration } from '../../instrumentations/mlx/generation';
import { createTransformer, DEMO_CONFIG, nextToken } from '../../demo/transformer';
import { loadMlx } from '../../core/record/load-mlx';
import { Progress, UsageError, err } from '../ui';
import { writeOutputs } from './outputs';
import type { Command } from './index';

export const demoCommand: Command = {
  summary: 'profile a small MLX transformer (prefill + decode) and write trace, Chrome trace and HTML report',
  help: `Usage: mlx-trace demo [--out DIR] [--prompt N] [--tokens N]

Builds a small decoder-only transformer with random weights (d=${DEMO_CONFIG.dim}, ${DEMO_CONFIG.layers} layers,
${DEMO_CONFIG.heads} heads), runs a prompt through it and decodes tokens one at a time, traced by mlx-trace.
Writes DIR/trace.json, DIR/trace.chrome-trace.json (Perfetto, chrome://tracing, speedscope) and DIR/report.html,
and prints the report.

Options:
  --out DIR      output folder (default: mlx-trace-demo)
  --prompt N     prompt length in tokens (default: 64)
  --tokens N     tokens to decode (default: 16)`,
  options: { out: { type: 'string', short: 'o' }, prompt: { type: 'string' }, tokens: { type: 'string' } },
  async run(values) {
    const outDir = resolve(values.out ?? 'mlx-trace-demo');
    const promptLen = positiveInt(values.prompt ?? '64', '--prompt');
    const tokens = positiveInt(values.tokens ?? '16', '--tokens');
    const mlx = loadMlx();
    const mx = mlx.core;
    const inst = registerMlxInstrumentation();
    if (inst.timing !== 'native') err(`mlx-trace: native hook layer not in use (${inst.fallbackReason}); timing ops at JS level`);
    const model = createTransformer(mlx, DEMO_CONFIG);
    const prompt = mx.array([Array.from({ length: promptLen }, (_, i) => (i * 7 + 3) % DEMO_CONFIG.vocab)], mx.int32);
    // One untraced warm-up run: the first eval of a process pays one-off set-up costs.
    mx.eval(nextToken(mx, model.forward(prompt, model.newCache())));
    inst.takeTrace();

    const progress = new Progress('decoding', tokens);
    let caches = model.newCache();
    const { trace, stats } = await profileGeneration({
      name: `demo transformer d=${DEMO_CONFIG.dim} x${DEMO_CONFIG.layers}`,
      promptTokens: promptLen,
      tokens,
      prefill: () => {
        caches = model.newCache();
        const tok = nextToken(mx, model.forward(prompt, caches));
        mx.eval(tok);
        return tok;
      },
      decodeStep: (prev, i) => {
        const tok = nextToken(mx, model.forward(prev, caches));
        mx.eval(tok);
        progress.tick(i);
        return tok;
      },
    });
    progress.done();
    inst.disable();
    mkdirSync(outDir, { recursive: true });
    await writeOutputs(trace, outDir, { report: true });
    void stats;
    void join;
    return 0;
  },
};

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive whole number, not "${v}"`);
  return n;
}
