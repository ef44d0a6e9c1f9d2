import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { registerMlxInstrumentation } from '../../instrumentations/mlx/api';
import { generationStats } from '../../instrumentations/mlx/generation';
import { createLlama, DEMO_LLAMA, generate } from '../../demo/llama';
import { loadMlx } from '../../core/record/load-mlx';
import { Progress, UsageError, err, out } from '../ui';
import { writeOutputs } from './outputs';
import type { Command } from './index';

export const demoCommand: Command = {
  summary: 'profile LLM-style generation (a small Llama decode loop) and write trace, Chrome trace and HTML report',
  help: `Usage: mlx-trace demo [--out DIR] [--prompt N] [--tokens N]

Builds a small Llama-style decoder with random weights (d=${DEMO_LLAMA.dim}, ${DEMO_LLAMA.layers} layers,
${DEMO_LLAMA.heads} heads over ${DEMO_LLAMA.kvHeads} KV heads, RoPE, KV cache, gated MLP) and generates tokens
the way LLM clients on node-mlx do: top-p sampling, asyncEval of step n+1 before item() of step n. Traced by
mlx-trace, it prints time to first token, decode tokens/s and the report, whose coverage is the share of busy
time (evals, asyncEval work, item() waits) during which a primitive ran.
Writes DIR/trace.json, DIR/trace.chrome-trace.json (Perfetto, chrome://tracing, speedscope) and DIR/report.html.

Options:
  --out DIR      output folder (default: mlx-trace-demo)
  --prompt N     prompt length in tokens (default: 32)
  --tokens N     tokens to generate (default: 32)`,
  options: { out: { type: 'string', short: 'o' }, prompt: { type: 'string' }, tokens: { type: 'string' } },
  async run(values) {
    const outDir = resolve(values.out ?? 'mlx-trace-demo');
    const promptLen = positiveInt(values.prompt ?? '32', '--prompt');
    const tokens = positiveInt(values.tokens ?? '32', '--tokens');
    const mlx = loadMlx();
    // Before the model is built: its layers extend the instrumented nn.Module.
    const inst = registerMlxInstrumentation();
    if (inst.timing !== 'native') err(`mlx-trace: native hook layer not in use (${inst.fallbackReason}); timing ops at JS level`);
    const model = createLlama(mlx, DEMO_LLAMA);
    const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7 + 3) % DEMO_LLAMA.vocab);
    // One short untraced warm-up: the first evals of a process pay one-off set-up costs.
    generate(mlx, model, { prompt, tokens: 2 });
    inst.takeTrace();

    const progress = new Progress('decoding', tokens);
    const now = () => Number(process.hrtime.bigint());
    const t0 = now();
    let ttft = 0;
    let last = t0;
    const latency: number[] = [];
    generate(mlx, model, {
      prompt,
      tokens,
      onToken: (_token, i) => {
        const t = now();
        if (i === 0) ttft = t - t0;
        else latency.push(t - last);
        last = t;
        progress.tick(i + 1);
      },
    });
    progress.done();
    const stats = generationStats(promptLen, ttft, latency);
    const trace = inst.takeTrace(`demo llama d=${DEMO_LLAMA.dim} x${DEMO_LLAMA.layers}: ${promptLen}-token prompt, ${tokens} tokens`, { generation: stats });
    inst.disable();
    mkdirSync(outDir, { recursive: true });
    out(`generated ${stats.generatedTokens} tokens: time to first token ${stats.timeToFirstTokenMs.toFixed(2)} ms, decode ${stats.decodeTokensPerSec.toFixed(1)} tokens/s`);
    await writeOutputs(trace, outDir, { report: true });
    return 0;
  },
};

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive whole number, not "${v}"`);
  return n;
}
